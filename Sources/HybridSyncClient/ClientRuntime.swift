public import HybridSyncProtocol
public import Logging

/// The shared runtime of one client context: it owns the ONE connection that every micro-app
/// mounted into it shares, the shared typed state, and reconnection and recovery.
///
/// ```swift
/// let runtime = ClientRuntime(url: "ws://127.0.0.1:8080/", token: { try await fetchToken() })
/// try await runtime.start()
/// let chat = await runtime.mount("chat")
/// for try await bans in try await chat.observe(StateKey<[String: BanInfo]>(channelMap: "moderation:users")) { … }
/// ```
///
/// Lifetime: ``start()`` (or ``run()``, or ``withClientRuntime(_:isolation:_:)``) connects;
/// ``close()`` ends it for good, and every wait, stream and observer with it (with
/// ``ClientRuntimeError/Code/closed``). Every wait honours task cancellation and has a bound
/// (``Configuration``). The runtime talks to its server only through a ``ClientTransport``.
public actor ClientRuntime {
    /// Events of one channel, as a micro-app sees them.
    public typealias ChannelEvents = AsyncThrowingStream<ChannelEvent, any Error>

    /// Tunables of the runtime, with the bound of every wait.
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
        /// ``ClientRuntime/start()`` throws `timeout` after this long without a connection (the
        /// runtime keeps trying; call `start()` again to wait again). nil: wait until connected,
        /// closed or cancelled.
        public var startTimeout: Duration? = .seconds(30)
        /// One attempt (token, socket, `connect` reply) is abandoned after this long and retried.
        public var connectTimeout: Duration = .seconds(10)
        /// A command (publish, backfill) or a subscribe waits this long for its answer, time spent
        /// in the offline queue included, then throws `timeout`.
        public var commandTimeout: Duration = .seconds(30)
        /// Sent in `connect`, for the server's logs.
        public var clientName: String?

        /// The defaults of docs/CLIENT.md.
        public init() {}
    }

    let url: String
    let configuration: Configuration
    let tokenProvider: @Sendable () async throws -> String
    let transport: any ClientTransport
    let logger: Logger
    let errorSink: @Sendable (RuntimeErrorReport) -> Void

    // The connection, and how the runtime stands.
    var machine: ConnectionStateMachine
    var link = ConnectionLink()
    var status = RuntimeStatus()
    var timer: DeadlineTimer<TimerKey>

    // Pure parts.
    var commands: CommandChannel
    var subscriptions = SubscriptionTable()
    var store = StateStore()
    var registry = AppRegistry()
    /// Which micro-app's provider serves each held channel's subscription token.
    var tokens = SubscriptionTokens()

    // Waiting tasks, observers and loaders.
    var waiters = Waiters()
    var observers = ObserverTable()
    /// The channels whose present users are followed live, and their lists.
    var presence: [ChannelName: PresenceFollow] = [:]
    var loads: [StateBinding: LoadState] = [:]
    var nextID: UInt64 = 1

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
        self.timer = DeadlineTimer(clock: clock)
        self.machine = ConnectionStateMachine(backoff: configuration.backoff, generator: random)
        self.commands = CommandChannel(queueLimit: configuration.offlineQueueLimit)
        self.errorSink = onError ?? { [logger] report in
            logger.info("\(report.context) failed", metadata: ["app": "\(report.app ?? "-")", "error": "\(report.error)"])
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

    /// Creates a runtime on the SDK's ``WebSocketTransport`` (SwiftNIO; `wss://` verified against
    /// the system trust store unless `allowSelfSignedCertificates`, for development daemons), its
    /// connect timeout the runtime's ``Configuration/connectTimeout``.
    public init(
        url: String, configuration: Configuration = Configuration(), allowSelfSignedCertificates: Bool = false,
        logger: Logger = Logger(label: "hybridsync.client"), onError: (@Sendable (RuntimeErrorReport) -> Void)? = nil,
        token: @escaping @Sendable () async throws -> String
    ) {
        var transport = allowSelfSignedCertificates ? WebSocketTransport.Configuration.allowingSelfSignedCertificates()
            : WebSocketTransport.Configuration()
        transport.connectTimeout = configuration.connectTimeout
        self.init(url: url, configuration: configuration, transport: WebSocketTransport(configuration: transport),
                  logger: logger, onError: onError, token: token)
    }

    /// A runtime released without ``close()`` still lets go of its socket and tasks.
    deinit {
        link.reader?.cancel()
        timer.cancel()
        link.socket?.close(code: .normal, reason: "client runtime released")
    }

    // MARK: Lifetime

    /// Connects, and returns once connected; from then on the runtime reconnects by itself.
    ///
    /// Throws ``ClientRuntimeError`` with `banned`, `unauthorized`, `disconnected` or `invalidURL`
    /// when the server or the URL ends the attempts for good, `closed` after ``close()``,
    /// `timeout` after ``Configuration/startTimeout`` (the runtime keeps trying), and
    /// `CancellationError` when the calling task is cancelled. After a terminal close (a ban,
    /// a bad token) calling `start()` again starts over.
    public func start() async throws {
        try begin()
        if case .connected = machine.state { return }
        if let stoppedError = status.stoppedError { throw stoppedError }
        _ = try await wait(.start, timeout: configuration.startTimeout, what: "start()")
    }

    /// Starts connecting when idle or stopped by the server (forgetting why it stopped).
    private func begin() throws {
        if status.isDisposed { throw ClientRuntimeError.closed }
        switch machine.state {
        case .idle, .closed:
            status.startOver()
            drive(machine.start())
        default:
            break
        }
    }

    /// Runs the runtime until it ends: starts it (without a start timeout), returns after
    /// ``close()`` or when the calling task is cancelled (which closes it), and throws when the
    /// server ends it for good. Its signature is ServiceLifecycle's `Service.run()`, so
    /// `extension ClientRuntime: Service {}` puts it in a `ServiceGroup`.
    public func run() async throws {
        if status.isDisposed { return }
        try begin()
        if let stoppedError = status.stoppedError { throw stoppedError }
        do {
            _ = try await wait(.run, timeout: nil, what: "run()")
        } catch is CancellationError {
            close()
        } catch let error as ClientRuntimeError where error.code == .closed {
            return
        }
    }

    /// Closes the connection and ends every wait, stream and observer with `closed`. Mounted
    /// micro-apps are ended too. The runtime cannot be started again; create a new one.
    public func close() {
        guard !status.isDisposed else { return }
        status.isDisposed = true
        drive(machine.stop())
        stop(with: .closed)
        for id in registry.apps.keys { unmount(app: id) }
        timer.cancel()
        link.reader?.cancel()
        logger.debug("runtime closed")
    }

    /// The app goes to the background: closes the socket but keeps every subscription, observer
    /// and position. Commands wait in the offline queue. ``resume()`` reconnects and recovers.
    public func suspend() {
        let actions = machine.suspend()
        if case .suspended = machine.state { timer.remove(.retry) }
        drive(actions)
        lostConnection()
        logger.debug("runtime suspended")
    }

    /// The app is back: reconnects at once (no backoff wait) and recovers every channel from its
    /// position. Also cuts a running backoff wait short.
    public func resume() {
        drive(machine.resume())
    }

    /// Mounts a micro-app: a scope that owns its observations and tasks until ``MicroApp/unmount()``.
    /// `subscriptionToken` asks the micro-app's backend for a subscription token for each channel it
    /// holds (where the namespace asks for one; nil: none), before subscribing and before the token expires.
    public func mount(_ name: String, subscriptionToken: SubscriptionTokenProvider? = nil) -> MicroApp {
        let id = makeID()
        registry.mount(id, name: name, subscriptionToken: subscriptionToken)
        logger.debug("mounted", metadata: ["app": "\(name)"])
        return MicroApp(name: name, id: id, runtime: self)
    }

    /// Ends everything a micro-app owns and forgets it.
    func unmount(app: UInt64) {
        guard let scope = registry.unmount(app) else { return }
        for id in scope.observers { removeObserver(id, error: nil) }
        for task in scope.tasks.values { task.cancel() }
        for continuation in scope.events.values { continuation.finish() }
        logger.debug("unmounted", metadata: ["app": "\(scope.name)"])
    }

    /// Mounted micro-apps, live observers, channels held, and tasks run for callback observers:
    /// all return to 0 once everything is unmounted (and lingering channels released).
    public var counts: (apps: Int, observers: Int, channels: Int, tasks: Int) {
        (registry.apps.count, observers.count, subscriptions.entries.count, registry.taskCount)
    }

    /// The connection state now.
    public var connectionState: ConnectionState {
        switch machine.state {
        case .idle: .idle
        case .connecting: .connecting
        case .connected: .connected(client: link.clientID ?? "")
        case .reconnecting(let attempt, _): .reconnecting(attempt: attempt, lastCode: status.lastClose)
        case .suspended: .suspended
        case .closed(let code, let reason): .closed(code: code, reason: reason)
        }
    }

    /// Client commands waiting for the connection to come back.
    public var offlineQueueCount: Int { commands.queuedCount }

    /// Commands of each kind sent on the wire, for tests and diagnostics.
    public var sentCommandCounts: [String: Int] { commands.sentCounts }

    func makeID() -> UInt64 {
        defer { nextID += 1 }
        return nextID
    }
}

/// Runs `body` with `runtime` started, and closes the runtime when `body` returns or throws
/// (and when the task is cancelled): no connection outlives the scope.
///
/// ```swift
/// try await withClientRuntime(ClientRuntime(url: url) { token }) { runtime in
///     let chat = await runtime.mount("chat")
///     …
/// }
/// ```
public func withClientRuntime<T>(
    _ runtime: ClientRuntime, isolation: isolated (any Actor)? = #isolation,
    _ body: (ClientRuntime) async throws -> T
) async throws -> T {
    do {
        try await runtime.start()
        let result = try await body(runtime)
        await runtime.close()
        return result
    } catch {
        await runtime.close()
        throw error
    }
}
