public import HybridSyncProtocol
import HybridSyncLWS
public import Logging

/// The shared runtime of one client context: it owns the ONE connection that every micro-app
/// mounted into it shares, the shared typed state, and reconnection and recovery.
///
/// ```swift
/// let runtime = ClientRuntime(url: "ws://127.0.0.1:8080/", token: { try await fetchToken() })
/// try await runtime.start()
/// let chat = await runtime.mount("chat")
/// for await bans in await chat.observe(StateKey<[String: BanInfo]>(channelMap: "moderation:users")) { … }
/// ```
public actor ClientRuntime {
    /// Publications of one channel, as a micro-app sees them.
    public typealias PublicationStream = AsyncThrowingStream<Publication, any Error>

    /// Tunables of the runtime.
    public struct Configuration: Sendable {
        /// Reconnect delays (full-jitter exponential).
        public var backoff = BackoffPolicy()
        /// How long a channel stays subscribed after its last observer leaves, so a remount during
        /// navigation does not unsubscribe and subscribe again.
        public var subscriptionLinger: Duration = .seconds(1)
        /// Publications buffered per channel observer before it is ended with `observerOverflow`.
        public var observerBufferLimit = 1024
        /// Client `publish` commands held while offline before `offlineQueueFull`.
        public var offlineQueueLimit = 100
        /// Sent in `connect`, for the server's logs.
        public var clientName: String?

        public init() {}
    }

    let url: String
    let configuration: Configuration
    let tokenProvider: @Sendable () async throws -> String
    let transport: any ClientTransport
    let logger: Logger
    let errorSink: @Sendable (RuntimeErrorReport) -> Void
    /// Monotonic time and sleeping, from the injected clock.
    let elapsed: @Sendable () -> Duration
    let sleep: @Sendable (Duration) async throws -> Void

    var machine: ConnectionStateMachine
    var connection: (any ClientConnection)?
    /// Bumped per connection, so events from an old socket are ignored.
    var generation = 0
    var readerTask: Task<Void, Never>?
    var retryTask: Task<Void, Never>?
    var nextCommandID: UInt32 = 1
    var connectCommandID: UInt32?
    var pendingReplies: [UInt32: PendingReply] = [:]
    var offlineQueue: [(ClientCommand.Operation, PendingReply)] = []
    private(set) var state: ConnectionState = .idle
    var startWaiters: [CheckedContinuation<Void, any Error>] = []
    /// The code of the last close, reported while reconnecting.
    var lastClose: CloseCode?
    var lastStartError: (any Error)?

    var channels: [ChannelName: ChannelSubscription] = [:]
    var localValues: [String: JSONValue] = [:]
    var observers: [UInt64: Observer] = [:]
    var apps: [UInt64: AppScope] = [:]
    var loads: [StateBinding: LoadState] = [:]
    var nextID: UInt64 = 1

    /// Commands of each kind sent on the wire, for tests and diagnostics.
    public private(set) var sentCommandCounts: [String: Int] = [:]

    /// Creates a runtime over any transport and clock (tests use in-memory ones).
    public init<C: Clock<Duration>>(
        url: String, configuration: Configuration = Configuration(), transport: any ClientTransport,
        clock: C, random: some RandomNumberGenerator & Sendable = SystemRandomNumberGenerator(),
        logger: Logger = Logger(label: "hybridsync.client"),
        onError: (@Sendable (RuntimeErrorReport) -> Void)? = nil,
        token: @escaping @Sendable () async throws -> String
    ) {
        self.url = url
        self.configuration = configuration
        self.transport = transport
        self.logger = logger
        self.tokenProvider = token
        let start = clock.now
        self.elapsed = { start.duration(to: clock.now) }
        self.sleep = { try await clock.sleep(for: $0) }
        self.machine = ConnectionStateMachine(backoff: configuration.backoff, generator: random)
        self.errorSink = onError ?? { [logger] report in
            logger.error("\(report.context) failed", metadata: ["app": "\(report.app ?? "-")", "error": "\(report.error)"])
        }
    }

    /// Creates a runtime over any transport on the real clock.
    public init(
        url: String, configuration: Configuration = Configuration(), transport: any ClientTransport,
        logger: Logger = Logger(label: "hybridsync.client"), onError: (@Sendable (RuntimeErrorReport) -> Void)? = nil,
        token: @escaping @Sendable () async throws -> String
    ) {
        self.init(url: url, configuration: configuration, transport: transport, clock: ContinuousClock(),
                  logger: logger, onError: onError, token: token)
    }

    /// Creates a runtime on libwebsockets (the process's one lws client context).
    public init(
        url: String, configuration: Configuration = Configuration(), allowSelfSignedCertificates: Bool = false,
        logger: Logger = Logger(label: "hybridsync.client"), onError: (@Sendable (RuntimeErrorReport) -> Void)? = nil,
        token: @escaping @Sendable () async throws -> String
    ) {
        self.init(url: url, configuration: configuration,
                  transport: LWSConnector(allowSelfSignedCertificates: allowSelfSignedCertificates),
                  logger: logger, onError: onError, token: token)
    }

    /// A runtime released without ``close()`` still lets go of its socket and tasks.
    deinit {
        readerTask?.cancel()
        retryTask?.cancel()
        connection?.close(code: .normal, reason: "client runtime released")
    }

    // MARK: Lifecycle

    /// Connects, and returns once connected. From then on the runtime reconnects by itself. Throws
    /// when the server ends the attempt for good (invalid token, banned); while the server is
    /// unreachable it keeps retrying with backoff (bound the wait with a timeout if you need to).
    public func start() async throws {
        if case .idle = state { perform(machine.start()) }
        switch state {
        case .connected: return
        case .closed(let code, let reason): throw lastStartError ?? ClientRuntimeError.connectionClosed(code, reason)
        default: try await withCheckedThrowingContinuation { startWaiters.append($0) }
        }
    }

    /// Closes the connection and ends every observation. The runtime cannot be started again.
    public func close() {
        perform(machine.stop())
        retryTask?.cancel()
        finishEverything(error: nil)
        setState(.closed(code: nil, reason: "closed by the client"))
    }

    /// Mounts a micro-app: a scope that owns its observations and tasks until ``MicroApp/unmount()``.
    public func mount(_ name: String) -> MicroApp {
        let id = makeID()
        apps[id] = AppScope(name: name)
        logger.debug("mounted", metadata: ["app": "\(name)"])
        return MicroApp(name: name, id: id, runtime: self)
    }

    /// Mounted micro-apps, live observers, channels held, and tasks run for callback observers:
    /// all return to 0 once everything is unmounted (and lingering channels released).
    public var counts: (apps: Int, observers: Int, channels: Int, tasks: Int) {
        (apps.count, observers.count, channels.count, apps.values.reduce(0) { $0 + $1.tasks.count })
    }

    /// The connection state now.
    public var connectionState: ConnectionState { state }

    /// Client commands waiting for the connection to come back.
    public var offlineQueueCount: Int { offlineQueue.count }

    // MARK: Connection driver

    func perform(_ actions: [ConnectionStateMachine.Action]) {
        for action in actions {
            switch action {
            case .connect(let refresh):
                generation += 1
                let attemptGeneration = generation
                if case .reconnecting(let attempt, _) = state { logger.debug("reconnecting", metadata: ["attempt": "\(attempt)"]) }
                setState(.connecting)
                Task { await self.openConnection(generation: attemptGeneration, refreshedToken: refresh) }
            case .scheduleRetry(let delay):
                if case .reconnecting(let attempt, _) = machine.state { setState(.reconnecting(attempt: attempt, lastCode: lastClose)) }
                retryTask?.cancel()
                retryTask = Task {
                    guard (try? await self.sleep(delay)) != nil else { return }
                    self.retryTimerFired()
                }
            case .resubscribeAll:
                resubscribeAll()
            case .reportTerminal(let code, let reason):
                logger.notice("connection closed for good", metadata: ["code": "\(code.map { "\($0)" } ?? "-")", "reason": "\(reason)"])
                let error = lastStartError ?? ClientRuntimeError.connectionClosed(code, reason)
                for waiter in startWaiters { waiter.resume(throwing: error) }
                startWaiters.removeAll()
                finishEverything(error: ClientRuntimeError.connectionClosed(code, reason))
                setState(.closed(code: code, reason: reason))
            case .closeSocket:
                connection?.close(code: .normal, reason: "client closed")
                connection = nil
            }
        }
    }

    private func retryTimerFired() {
        perform(machine.retryTimerFired(now: elapsed()))
    }

    private func openConnection(generation attempt: Int, refreshedToken: Bool) async {
        do {
            let token = try await tokenProvider()
            let opened = try await transport.connect(to: url)
            guard attempt == generation, case .connecting = machine.state else {
                opened.close(code: .normal, reason: "superseded")
                return
            }
            connection = opened
            readerTask = Task { [weak self] in
                for await event in opened.events {
                    guard let self else { return }
                    await self.handle(event, generation: attempt)
                }
            }
            let result = try await reply(send(.connect(token: token, name: configuration.clientName), queueWhenOffline: false))
            guard attempt == generation else { return }
            guard let connected = ConnectResult(result) else {
                throw ClientRuntimeError.protocolViolation("connect result without client/version")
            }
            lastStartError = nil
            setState(.connected(client: connected.client))
            perform(machine.connected())
            flushOfflineQueue()
            for waiter in startWaiters { waiter.resume() }
            startWaiters.removeAll()
            logger.debug("runtime connected", metadata: ["client": "\(connected.client)", "token_refreshed": "\(refreshedToken)"])
        } catch {
            guard attempt == generation else { return }
            lastStartError = error
            if let runtimeError = error as? ClientRuntimeError, runtimeError.serverError != nil {
                // The server refused `connect`; its close (with the code that decides) follows.
                return
            }
            logger.info("connect attempt failed", metadata: ["error": "\(error)"])
            connection?.close(code: .normal, reason: "connect failed")
            connection = nil
            perform(machine.connectFailed(now: elapsed()))
        }
    }

    private func handle(_ event: ClientConnectionEvent, generation eventGeneration: Int) {
        guard eventGeneration == generation else { return }
        switch event {
        case .frame(let frame):
            for line in FrameCodec.messages(in: frame) {
                do {
                    handle(try ServerMessage.decode(line))
                } catch {
                    logger.warning("unreadable server message", metadata: ["error": "\(error)"])
                }
            }
        case .closed(let code, let reason):
            connectionClosed(code: code, reason: reason)
        }
    }

    private func handle(_ message: ServerMessage) {
        switch message {
        case .reply(let id, let result):
            guard let pending = pendingReplies.removeValue(forKey: id) else {
                logger.debug("reply for unknown command", metadata: ["id": "\(id)"])
                return
            }
            if id == connectCommandID, case .failure(let refusal) = result {
                // The close that follows decides what happens next; start() reports this reason.
                lastStartError = ClientRuntimeError.server(refusal)
            }
            pending.complete(result.mapError { ClientRuntimeError.server($0) }, in: self)
        case .push(.publication(let publication)):
            deliver(publication)
        case .push(.ping):
            _ = send(.ping, queueWhenOffline: false)  // any command proves liveness; the reply is ignored
        case .push(.banned(let ban)):
            logger.notice("this user is banned", metadata: ["reason": "\(ban.reason)"])
            broadcast(.banned(ban))
        case .push(.disconnect(let code, let reason)):
            logger.info("server is closing the connection", metadata: ["code": "\(code)", "reason": "\(reason)"])
        }
    }

    private func connectionClosed(code: CloseCode?, reason: String) {
        guard connection != nil else { return }
        connection = nil
        lastClose = code
        logger.info("connection closed", metadata: ["code": "\(code.map { "\($0)" } ?? "none")", "reason": "\(reason)"])
        let failure = ClientRuntimeError.connectionClosed(code, reason)
        for pending in pendingReplies.values { pending.complete(.failure(failure), in: self) }
        pendingReplies.removeAll()
        for subscription in channels.values { subscription.status = .offline }
        perform(machine.closed(code: code, reason: reason, now: elapsed()))
    }

    func setState(_ new: ConnectionState) {
        guard new != state else { return }
        state = new
        broadcast(.connectionChanged(new))
    }

    func makeID() -> UInt64 {
        defer { nextID += 1 }
        return nextID
    }

    // MARK: Commands

    /// Sends a command now (so commands reach the wire in call order); the reply arrives later.
    /// Offline, commands that may wait are queued (bounded); others fail at once.
    func send(_ operation: ClientCommand.Operation, queueWhenOffline: Bool) -> PendingReply {
        let pending = PendingReply()
        guard let connection, case .connected = machine.state else {
            if case .connect = operation, let connection {
                transmit(operation, pending, on: connection)
            } else if queueWhenOffline, offlineQueue.count < configuration.offlineQueueLimit, !isClosed {
                offlineQueue.append((operation, pending))
            } else if queueWhenOffline, !isClosed {
                pending.complete(.failure(ClientRuntimeError.offlineQueueFull(configuration.offlineQueueLimit)), in: self)
            } else {
                pending.complete(.failure(ClientRuntimeError.notConnected), in: self)
            }
            return pending
        }
        transmit(operation, pending, on: connection)
        return pending
    }

    private func transmit(_ operation: ClientCommand.Operation, _ pending: PendingReply, on connection: any ClientConnection) {
        let id = nextCommandID
        nextCommandID = nextCommandID == UInt32.max ? 1 : nextCommandID + 1
        sentCommandCounts[operation.name, default: 0] += 1
        if case .connect = operation { connectCommandID = id }
        pendingReplies[id] = pending
        connection.send(ClientCommand(id: id, operation).encoded())
    }

    private func flushOfflineQueue() {
        let queued = offlineQueue
        offlineQueue.removeAll()
        for (operation, pending) in queued {
            guard let connection else { return pending.complete(.failure(ClientRuntimeError.notConnected), in: self) }
            transmit(operation, pending, on: connection)
        }
    }

    var isClosed: Bool {
        if case .closed = machine.state { return true }
        return false
    }

    /// Waits for the reply of a command sent with ``send(_:queueWhenOffline:)``.
    func reply(_ pending: PendingReply) async throws -> JSONValue {
        if let result = pending.result { return try result.get() }
        return try await withCheckedThrowingContinuation { pending.waiters.append($0) }
    }

    /// Publishes on a channel whose namespace lets clients publish. Offline, the command waits
    /// (up to `offlineQueueLimit` of them) and is sent after reconnecting.
    @discardableResult
    public func publish(_ channel: String, data: JSONValue) async throws -> UInt64 {
        let name: ChannelName
        do { name = try ChannelName(channel) } catch {
            throw ClientRuntimeError.server(ReplyError(.invalidChannel, error.description))
        }
        let result = try await reply(send(.publish(channel: name, data: data), queueWhenOffline: true))
        return UInt64(result["offset"]?.intValue ?? 0)
    }
}

/// A command's reply that may arrive before or after someone waits for it. Actor-confined.
final class PendingReply {
    private(set) var result: Result<JSONValue, any Error>?
    var waiters: [CheckedContinuation<JSONValue, any Error>] = []
    /// Runs inside the actor as the reply is handled, before the next message (so pushes that
    /// follow a reply see its effect).
    var onComplete: ((isolated ClientRuntime, Result<JSONValue, any Error>) -> Void)?

    func complete(_ result: Result<JSONValue, any Error>, in runtime: isolated ClientRuntime) {
        guard self.result == nil else { return }
        self.result = result
        onComplete?(runtime, result)
        onComplete = nil
        for waiter in waiters { waiter.resume(with: result) }
        waiters.removeAll()
    }
}
