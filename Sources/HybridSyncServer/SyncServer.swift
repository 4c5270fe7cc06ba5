import DequeModule
public import HybridSyncBroker
import HybridSyncCrypto
public import HybridSyncProtocol
public import HybridSyncServerTransport
public import Logging
import Metrics

/// The HybridSync server: sessions, namespaces, subscriptions and fan-out here (the ``Hub``), bans,
/// and the backend operations (HTTP-free: `HybridSyncAPI` routes requests to them); the streams themselves (sequencing, history, retained state, idempotency,
/// the deny-list) live in its ``Broker``.
///
/// It runs on its transport's thread: the transport calls it (``ServerTransportDelegate``) one
/// event at a time and it calls the transport back, so it holds no locks. Broker results come back
/// on the same thread.
public final class SyncServer: ServerTransportDelegate, BrokerListener {
    private(set) var configuration: ServerConfiguration
    let transport: any ServerTransport
    let broker: any Broker
    /// Monotonic time for every timing rule, wall time for dates (``ServerClock``).
    let clock: any ServerClock
    let logger: Logger
    private(set) var authenticator: Authenticator

    var sessions = SessionTable()
    let hub = Hub()
    let presenceDesk: PresenceDesk
    /// The app backend's connect and subscribe proxies (none configured: every question is allowed).
    let hookDesk: HookDesk
    /// Where webhook events go (none configured: nowhere).
    let webhooks: (any WebhookSink)?
    /// One deadline per session (connect timeout, ping, pong, token expiry), checked in ``tick()``.
    var sessionDeadlines = DeadlineQueue<Double, ConnectionID>()
    /// When channels and the idempotency cache are next swept (once a second).
    var nextChannelSweep = 0.0
    let metrics = ServerMetrics()
    /// The daemon's metrics as Prometheus text, served on `GET /metrics` (404 while nil).
    public var metricsExporter: (@Sendable () -> [UInt8])?

    /// Creates a server that talks through `transport` and keeps its streams in `broker`; pass it
    /// to the transport's `start` next.
    public init(
        configuration: ServerConfiguration, transport: any ServerTransport, broker: any Broker = MemoryBroker(),
        hooks: (any BackendHooks)? = nil, webhooks: (any WebhookSink)? = nil, clock: any ServerClock = SystemClock(), logger: Logger
    ) {
        var configuration = configuration
        configuration.ensureModerationNamespace()
        self.configuration = configuration
        self.transport = transport
        self.broker = broker
        hookDesk = HookDesk(hooks: hooks, logger: logger)
        self.clock = clock
        self.logger = logger
        self.authenticator = Authenticator(policy: configuration.auth, clock: clock)
        self.webhooks = webhooks
        presenceDesk = PresenceDesk(broker: broker, hub: hub, transport: transport, webhooks: webhooks)
        hub.reportOccupancy(to: webhooks, through: broker)
        broker.attach(self)
    }

    /// Applies a new configuration on the transport's thread (SIGHUP), without closing a connection:
    /// namespaces, the API key, token keys, limits, rates and ping timing. Connections keep the
    /// subscriptions they hold; new commands follow the new rules (a subscribe to a namespace no
    /// longer configured is refused). Returns the names of the settings that changed, for the log.
    @discardableResult
    public func reconfigure(_ new: ServerConfiguration) -> [String] {
        var new = new
        new.ensureModerationNamespace()
        let changed = new.settingsChanged(from: configuration)
        configuration = new
        authenticator = Authenticator(policy: new.auth, clock: clock)
        return changed
    }

    /// Open WebSocket connections (authenticated or not).
    public var connectionCount: Int { sessions.count }

    // MARK: ServerTransportDelegate

    /// A socket opened: a session waiting for `connect` (its connect timeout starts).
    public func connectionOpened(_ connection: ConnectionID, info: ConnectionInfo) {
        let session = Session(
            id: connection, remoteAddress: info.remoteAddress, now: clock.monotonic(),
            rate: configuration.commandsPerSecond, burst: configuration.commandBurst
        )
        sessions.opened(session)
        scheduleCheck(session)
        logger.debug("connection opened", metadata: ["connection": "\(connection)", "peer": "\(info.remoteAddress)"])
    }

    /// A frame's commands, each admitted by the rate limit, run in order.
    public func received(_ frame: [UInt8], from connection: ConnectionID) {
        let now = clock.monotonic()
        for line in FrameCodec.messages(in: frame) {
            guard let session = sessions[connection], !session.isClosing else { return }
            session.lastSeen = now
            guard session.admitCommand(now: now) else {
                refuseOverRate(session, line: line)
                continue
            }
            if session.busy || !session.queued.isEmpty {
                session.queued.append(Array(line))
            } else {
                run(line, in: session)
            }
        }
    }

    /// Runs one command line: decodes it, executes it, or replies with the decoding error.
    private func run(_ line: ArraySlice<UInt8>, in session: Session) {
        switch ClientCommand.decode(line) {
        case .success(let command):
            execute(command, in: session)
        case .failure(let failure):
            logger.debug("bad command", metadata: ["connection": "\(session.id)", "error": "\(failure.error.message)"])
            reply(to: session.id, ServerMessage.encodeError(id: failure.id ?? 0, failure.error))
            if let code = failure.error.closeCode {
                disconnect(session, code: code, reason: failure.error.message)
            }
        }
    }

    /// Runs the session's queued commands in order, until one waits for the broker.
    func runQueued(_ session: Session) {
        guard !session.runningQueue else { return }
        session.runningQueue = true
        defer { session.runningQueue = false }
        while !session.busy, !session.isClosing, let line = session.queued.popFirst() {
            run(line[...], in: session)
        }
    }

    /// Whether `session` is still open (a broker result may arrive after its connection closed).
    func isOpen(_ session: Session) -> Bool {
        sessions.holds(session) && !session.isClosing
    }

    /// The socket is gone: the session leaves its channels and is forgotten.
    public func connectionClosed(_ connection: ConnectionID) {
        forget(connection, failedWith: nil)
    }

    /// Counts the transport's own close (a protocol violation, or 4001 for a slow consumer) in
    /// `hybridsync_disconnects_total`.
    public func connectionFailed(_ connection: ConnectionID, code: CloseCode) {
        forget(connection, failedWith: code)
    }

    private func forget(_ connection: ConnectionID, failedWith code: CloseCode?) {
        guard let session = sessions.remove(connection) else { return }
        presenceDesk.leave(session, session.presence)
        for name in session.channels { leave(connection, name) }
        if let user = session.identity?.userID { broker.sessionCounted(user: user, opened: false) }
        guard let code else {
            logger.info("connection closed", metadata: session.metadata)
            return
        }
        metrics.disconnected(code)
        var metadata = session.metadata
        metadata["code"] = "\(code.rawValue)"
        logger.info("connection closed for a protocol violation", metadata: metadata)
    }

    /// Counts the overflow (its 4001 close is counted by ``connectionFailed(_:code:)``).
    public func outboundQueueOverflowed(_ connection: ConnectionID) {
        metrics.queueOverflows.increment()
    }

    /// Sends every session a `disconnect` push and closes it with `code` (SIGTERM: 4000).
    public func shuttingDown(code: CloseCode, reason: String) {
        for session in sessions.all { disconnect(session, code: code, reason: reason) }
    }

    // MARK: Helpers shared by the command and API handlers

    func reply(to connection: ConnectionID, _ bytes: [UInt8]) {
        transport.send(OutboundMessage(bytes), to: connection)
    }

    /// Sends a `disconnect` push, then closes (after everything queued): clients that cannot read
    /// close codes still learn why.
    func disconnect(_ session: Session, code: CloseCode, reason: String) {
        guard !session.isClosing else { return }
        session.isClosing = true
        metrics.disconnected(code)
        reply(to: session.id, ServerMessage.push(.disconnect(code: code, reason: reason)).encoded())
        transport.close(session.id, code: code, reason: reason)
    }

    private func refuseOverRate(_ session: Session, line: ArraySlice<UInt8>) {
        if session.refusedInARow > Int(configuration.commandBurst) {
            logger.warning("command flood, closing", metadata: session.metadata)
            disconnect(session, code: .tooManyRequests, reason: "too many commands; reconnect later")
            return
        }
        let id: UInt32 = switch ClientCommand.decode(line) {
        case .success(let command): command.id
        case .failure(let failure): failure.id ?? 0
        }
        reply(to: session.id, ServerMessage.encodeError(
            id: id, ReplyError(.tooManyRequests, "over \(Int(configuration.commandsPerSecond)) commands per second; slow down")
        ))
    }

    /// The namespace policy of `name`; nil when its namespace is not configured.
    func policy(_ name: ChannelName) -> NamespacePolicy? {
        configuration.namespaces[String(name.namespace)]
    }

    /// Sequences publications through the broker (which delivers them to the hub once stored),
    /// then calls `completion`.
    func sequence(
        _ requests: [PublishRequest], idempotency: IdempotencyRecord? = nil,
        completion: @escaping (Result<[SequencedPublication], BrokerError>) -> Void
    ) {
        broker.publish(requests, idempotency: idempotency, now: clock.now()) { [self] result in
            if case .failure(let error) = result {
                metrics.engineErrors.increment()
                logger.info("engine refused a publication", metadata: [
                    "channels": "\(requests.map(\.channel.rawValue).joined(separator: ","))", "error": "\(error.message)",
                ])
            }
            completion(result)
        }
    }

    /// Removes a subscriber from the hub; the broker stops following a channel nobody here holds.
    func leave(_ connection: ConnectionID, _ name: ChannelName) {
        if let gone = hub.leave(connection, name), gone.followed { broker.unfollow(name) }
    }

    /// `session` stops holding `name` (unsubscribed, its token expired, or its subscribe failed):
    /// its subscription-token deadline, its place in the hub and its presence there go. False
    /// when it did not hold `name`.
    @discardableResult
    func release(_ session: Session, _ name: ChannelName) -> Bool {
        session.subscriptionDeadlines[name] = nil
        guard session.channels.remove(name) != nil else { return false }
        leave(session.id, name)
        presenceDesk.leave(session, [name])
        return true
    }

    // MARK: BrokerListener

    /// Fans out what the broker delivers (made here, elsewhere, or by the sweep).
    public func broker(delivered publications: [SequencedPublication]) {
        fanOut(publications)
    }

    /// The engine lost a stream: its subscribers here hold positions it cannot serve any more, so
    /// they reconnect (4005) and re-subscribe, getting `recovered:false` and a snapshot.
    public func broker(lost channel: ChannelName) {
        guard let subscribers = hub.channels[channel] else { return }
        hub.reset(channel)
        let affected = subscribers.all.compactMap { sessions[$0] }
        logger.info("engine lost a stream; its subscribers here reconnect to re-sync", metadata: [
            "channel": "\(channel)", "sessions": "\(affected.count)",
        ])
        for session in affected {
            disconnect(session, code: .forceReconnect, reason: "the stream of '\(channel)' was lost by the engine; reconnect to re-sync")
        }
    }

    /// Applies a command another node announced to the sessions held here.
    public func broker(received command: NodeCommand) {
        switch command {
        case .ban(let user, let ban):
            let closed = closeBanned(user, ban)
            if closed > 0 { logger.info("user banned on another node", metadata: ["user": "\(user)", "sessions_closed": "\(closed)"]) }
        case .disconnect(let user, let code, let reason):
            let closed = disconnectHere(user: user, code: code, reason: reason)
            if closed > 0 { logger.info("user disconnected on another node", metadata: ["user": "\(user)", "code": "\(code)", "sessions": "\(closed)"]) }
        }
    }

    func fanOut(_ publications: [SequencedPublication]) {
        for publication in publications {
            let subscribers = hub.subscriberCount(publication.publication.channel)
            metrics.publications.increment()
            metrics.deliveries.increment(by: Int64(subscribers))
            metrics.bytesOut.increment(by: Int64(subscribers * publication.message.bytes.count))
            hub.fanOut(publication, through: transport)
            logger.debug("published", metadata: [
                "channel": "\(publication.publication.channel)", "offset": "\(publication.publication.offset)",
                "subscribers": "\(subscribers)",
            ])
        }
    }

    /// Commit point: the transport finished a round of I/O.
    public func endOfTurn() {
        broker.flush()
    }
}
