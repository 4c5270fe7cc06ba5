import HybridSyncProtocol

/// What a suspended task waits for.
enum WaitRole: Equatable {
    case start, run, command
    /// The first subscribe answer of a channel.
    case ready(ChannelName)
    /// A loader of a client-owned key.
    case load(StateBinding)

    var what: String {
        switch self {
        case .start: "start()"
        case .run: "run()"
        case .command: "the command"
        case .ready(let name): "subscribing to '\(name)'"
        case .load(let binding): "the loader of \(binding)"
        }
    }

    func bound(_ configuration: ClientRuntime.Configuration) -> Duration {
        switch self {
        case .start: configuration.startTimeout ?? .zero
        case .run: .zero
        case .command, .ready, .load: configuration.commandTimeout
        }
    }
}

/// Tasks suspended in the runtime, by ticket.
struct Waiters {
    typealias Continuation = CheckedContinuation<JSONValue, any Error>
    private var entries: [UInt64: (role: WaitRole, continuation: Continuation)] = [:]

    var tickets: [UInt64] { Array(entries.keys) }

    mutating func add(_ ticket: UInt64, _ role: WaitRole, _ continuation: Continuation) {
        entries[ticket] = (role, continuation)
    }

    mutating func remove(_ ticket: UInt64) -> (role: WaitRole, continuation: Continuation)? {
        entries.removeValue(forKey: ticket)
    }

    func role(of ticket: UInt64) -> WaitRole? { entries[ticket]?.role }

    /// The tickets of every task waiting for `role`.
    func tickets(for role: WaitRole) -> [UInt64] { entries.filter { $0.value.role == role }.map(\.key) }
}

extension ClientRuntime {
    /// Suspends until ``resolve(_:_:)`` is called for the wait's ticket: by the answer, by the
    /// timeout, by the task's cancellation (`CancellationError`) or when the runtime stops.
    /// `register` runs on the actor with the ticket before the task suspends.
    func wait(
        _ role: WaitRole, timeout: Duration?, what: String, register: (UInt64) -> Void = { _ in }
    ) async throws -> JSONValue {
        let ticket = makeID()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                waiters.add(ticket, role, continuation)
                if let timeout { schedule(.wait(ticket), after: timeout) }
                register(ticket)
            }
        } onCancel: {
            Task { await self.resolve(ticket, .failure(CancellationError())) }
        }
    }

    /// Ends the wait of `ticket` (once; later calls do nothing). A command still queued or on the
    /// wire is abandoned: a cancelled offline publish is never sent.
    func resolve(_ ticket: UInt64, _ result: Result<JSONValue, any Error>) {
        guard let waiter = waiters.remove(ticket) else { return }
        timer.remove(.wait(ticket))
        if waiter.role == .command { commands.abandon(ticket) }
        waiter.continuation.resume(with: result)
    }

    /// Fails at once when the runtime is closed or stopped for good.
    func checkUsable() throws { try status.checkUsable() }

    var isOnline: Bool {
        if case .connected = machine.state, link.socket != nil { return true }
        return false
    }

    // MARK: Commands

    /// Sends a command and waits for its answer (bounded by ``Configuration/commandTimeout``).
    /// Offline, a `queueable` command waits in the offline queue; others fail with `notConnected`.
    func call(_ operation: ClientCommand.Operation, queueable: Bool) async throws -> JSONValue {
        try checkUsable()
        return try await wait(.command, timeout: configuration.commandTimeout, what: operation.name) { ticket in
            switch commands.submit(operation, .init(ticket: ticket, purpose: .call), online: isOnline, queueable: queueable) {
            case .send(let frame): link.socket?.send(frame)
            case .queued: break
            case .refused(let error): resolve(ticket, .failure(error))
            }
        }
    }

    /// Sends a command nobody waits for (when online; otherwise it is pointless).
    func fireAndForget(_ operation: ClientCommand.Operation) {
        guard isOnline else { return }
        link.socket?.send(commands.transmit(operation, .init(ticket: makeID(), purpose: .fireAndForget)))
    }

    /// Publishes on a channel whose namespace lets clients publish, and returns its offset.
    /// Offline, the command waits (up to ``Configuration/offlineQueueLimit`` of them) and is sent
    /// after reconnecting; cancelling the calling task takes it out of the queue. Bounded by
    /// ``Configuration/commandTimeout``.
    @discardableResult
    public func publish(_ channel: String, data: JSONValue) async throws -> UInt64 {
        let name = try ClientRuntimeError.channel(channel)
        let result = try await call(.publish(channel: name, data: data), queueable: true)
        return UInt64(result["offset"]?.intValue ?? 0)
    }

    /// What the server's history still holds on `channel` after `position` (needs a connection).
    func backfill(_ name: ChannelName, after position: StreamPosition) async throws -> Backfill {
        let json = try await call(.history(channel: name, since: position), queueable: false)
        guard let result = HistoryResult(json) else { throw ClientRuntimeError.protocolViolation("history result") }
        return Backfill(result, after: position)
    }
}
