import DequeModule
import HybridSyncProtocol

/// One channel: its sequencer, bounded history, retained keyed state and live subscribers.
/// Owned by the server's thread.
final class ChannelState {
    let name: ChannelName
    /// Identifies this stream; a new value means earlier offsets are meaningless.
    let epoch: String
    let policy: NamespacePolicy
    /// Offset of the latest publication; 0 before the first.
    private(set) var offset: UInt64 = 0
    private(set) var subscribers: Set<ConnectionID> = []
    private(set) var history: Deque<HistoryEntry> = []
    /// Retained state: key → value and the offset that set it (namespaces with `retainState`).
    private(set) var state: [String: StateEntry] = [:]

    /// A publication kept for recovery, with its encoded push (encoded once, sent many times).
    struct HistoryEntry {
        let publication: Publication
        let message: OutboundMessage
        let time: Double
    }

    /// What a publication does to retained state.
    enum StateChange: Equatable {
        case set(key: String)
        case remove(key: String)
    }

    init(name: ChannelName, epoch: String, policy: NamespacePolicy) {
        self.name = name
        self.epoch = epoch
        self.policy = policy
    }

    var position: StreamPosition { StreamPosition(epoch: epoch, offset: offset) }

    /// Sequences one publication: next offset, state change, history. Returns the encoded push.
    func publish(_ data: JSONValue, change: StateChange?, now: Double) -> (Publication, OutboundMessage) {
        offset += 1
        var publication = Publication(channel: name, offset: offset, data: data)
        switch change {
        case .set(let key)?:
            publication.key = key
            state[key] = StateEntry(value: data, version: offset)
        case .remove(let key)?:
            publication.key = key
            publication.removed = true
            publication.data = .null
            state[key] = nil
        case nil:
            break
        }
        let message = OutboundMessage(ServerMessage.encodePublication(
            channel: name, offset: offset, data: publication.data.jsonBytes, key: publication.key, removed: publication.removed
        ))
        if policy.historySize > 0 {
            history.append(HistoryEntry(publication: publication, message: message, time: now))
            trimHistory(now: now)
        }
        return (publication, message)
    }

    /// Exactly the publications after `position`, or nil when history cannot prove it has them all
    /// (other epoch, trimmed by size or TTL, or a position from the future).
    func missed(after position: StreamPosition, now: Double) -> [HistoryEntry]? {
        trimHistory(now: now)
        guard position.epoch == epoch, position.offset <= offset else { return nil }
        if position.offset == offset { return [] }
        guard let first = history.first, first.publication.offset <= position.offset + 1 else { return nil }
        return history.filter { $0.publication.offset > position.offset }
    }

    /// Drops history beyond the size limit or older than the TTL.
    func trimHistory(now: Double) {
        while history.count > policy.historySize { history.removeFirst() }
        while let first = history.first, now - first.time > policy.historyTTLSeconds { history.removeFirst() }
    }

    func add(_ connection: ConnectionID) { subscribers.insert(connection) }
    func remove(_ connection: ConnectionID) { subscribers.remove(connection) }
}
