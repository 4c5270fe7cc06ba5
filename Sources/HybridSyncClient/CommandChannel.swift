import HybridSyncProtocol

/// The runtime's commands as a pure value: wire ids, what each reply is for, and the bounded
/// queue of commands waiting for the connection. The runtime keeps the waiting tasks; this type
/// only says which ticket a reply or a loss belongs to.
struct CommandChannel {
    /// The runtime's handle for one command (also the key of whoever awaits it).
    typealias Ticket = UInt64

    /// What a reply is for.
    enum Purpose: Equatable {
        /// Someone awaits the result.
        case call
        /// The connection's `connect`.
        case connect
        /// A subscribe the subscription table sent from `since`.
        case subscribe(ChannelName, since: StreamPosition?)
        /// Nobody waits (unsubscribe, ping answer).
        case fireAndForget
    }

    struct Entry: Equatable {
        let ticket: Ticket
        let purpose: Purpose
    }

    /// What became of a submitted command.
    enum Submission: Equatable {
        /// Send these bytes now.
        case send([UInt8])
        /// Queued until ``reconnected()``.
        case queued
        /// Refused at once.
        case refused(ClientRuntimeError)
    }

    let queueLimit: Int
    /// The largest message the server reads (the `connect` result's `limits`); nil: not known yet.
    var maxMessageBytes: Int?
    private var nextWireID: UInt32 = 1
    private var inFlight: [UInt32: Entry] = [:]
    private var wireIDs: [Ticket: UInt32] = [:]
    private var queue: [(entry: Entry, operation: ClientCommand.Operation)] = []
    /// Commands of each kind put on the wire, for tests and diagnostics.
    private(set) var sentCounts: [String: Int] = [:]

    init(queueLimit: Int) { self.queueLimit = queueLimit }

    var inFlightCount: Int { inFlight.count }
    var queuedCount: Int { queue.count }

    /// Sends when `online`; otherwise queues a command that may wait (`queueable`), or refuses it.
    /// A command larger than the server reads is refused (the server would close the connection
    /// of every micro-app with 1009); while the limit is unknown, a queued one is checked when sent.
    mutating func submit(_ operation: ClientCommand.Operation, _ entry: Entry, online: Bool, queueable: Bool) -> Submission {
        if let refusal = oversize(operation) { return .refused(refusal) }
        if online { return .send(transmit(operation, entry)) }
        guard queueable else { return .refused(.notConnected) }
        guard queue.count < queueLimit else { return .refused(.offlineQueueFull(queueLimit)) }
        queue.append((entry, operation))
        return .queued
    }

    /// Assigns a wire id and encodes the command.
    mutating func transmit(_ operation: ClientCommand.Operation, _ entry: Entry) -> [UInt8] {
        let id = nextWireID
        nextWireID = nextWireID == UInt32.max ? 1 : nextWireID + 1
        inFlight[id] = entry
        wireIDs[entry.ticket] = id
        sentCounts[operation.name, default: 0] += 1
        return ClientCommand(id: id, operation).encoded()
    }

    /// The entry a reply with wire id `id` answers (nil: unknown or abandoned).
    mutating func replied(_ id: UInt32) -> Entry? {
        guard let entry = inFlight.removeValue(forKey: id) else { return nil }
        wireIDs[entry.ticket] = nil
        return entry
    }

    /// The connection dropped: every command on the wire is lost (queued ones stay queued).
    mutating func connectionLost() -> [Entry] {
        let lost = inFlight.sorted { $0.key < $1.key }.map(\.value)
        inFlight.removeAll()
        wireIDs.removeAll()
        return lost
    }

    /// The connection is back: the queued commands, in order, encoded for sending, and those over
    /// the server's message limit (now known), refused instead.
    mutating func reconnected() -> (frames: [[UInt8]], refused: [(entry: Entry, error: ClientRuntimeError)]) {
        let queued = queue
        queue.removeAll()
        var frames: [[UInt8]] = []
        var refused: [(entry: Entry, error: ClientRuntimeError)] = []
        for (entry, operation) in queued {
            if let refusal = oversize(operation) {
                refused.append((entry, refusal))
            } else {
                frames.append(transmit(operation, entry))
            }
        }
        return (frames, refused)
    }

    /// The refusal of a command that may not fit the server's message limit (measured with the
    /// longest wire id, so it fits whatever id it gets).
    private func oversize(_ operation: ClientCommand.Operation) -> ClientRuntimeError? {
        guard let limit = maxMessageBytes else { return nil }
        let size = ClientCommand(id: UInt32.max, operation).encoded().count
        return size > limit ? .messageTooBig(size, limit: limit) : nil
    }

    /// Forgets `ticket`: a queued command is never sent; a reply on the wire is ignored.
    /// Returns whether the command was still queued.
    @discardableResult
    mutating func abandon(_ ticket: Ticket) -> Bool {
        if let id = wireIDs.removeValue(forKey: ticket) {
            inFlight[id] = nil
            return false
        }
        guard let index = queue.firstIndex(where: { $0.entry.ticket == ticket }) else { return false }
        queue.remove(at: index)
        return true
    }

    /// Empties the queue (the runtime stopped): the entries whose waiters must fail.
    mutating func dropQueue() -> [Entry] {
        defer { queue.removeAll() }
        return queue.map(\.entry)
    }
}
