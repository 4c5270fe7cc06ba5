import DequeModule
import HybridSyncCrypto
public import HybridSyncProtocol
public import Logging

/// The HybridSync server: sessions, namespaces, channels (sequencing, history, retained state,
/// recovery), fan-out, bans, and the backend API.
///
/// It runs on its transport's thread: the transport calls it (``ServerTransportDelegate``) one
/// event at a time and it calls the transport back, so it holds no locks.
public final class SyncServer: ServerTransportDelegate {
    let configuration: ServerConfiguration
    let transport: any ServerTransport
    let clock: any WallClock
    let logger: Logger
    let authenticator: Authenticator
    let apiKey: SecretMatcher
    /// New on every start: in-memory streams do not survive a restart, so their offsets must not match.
    let epochPrefix = Base64URL.encode(CryptoPrimitives.randomBytes(6))

    var sessions: [ConnectionID: Session] = [:]
    var sessionsByUser: [String: Set<ConnectionID>] = [:]
    var channels: [ChannelName: ChannelState] = [:]
    /// Numbers channel incarnations, so a channel dropped and created again gets a new epoch.
    var channelSerial: UInt64 = 0
    /// The deny-list: user → ban, until lifted or `until` passes.
    var bans: [String: Ban] = [:]
    var idempotency = IdempotencyCache()
    /// One deadline per session (connect timeout, ping, pong, token expiry), checked in ``tick()``.
    var sessionDeadlines = DeadlineQueue<Double, ConnectionID>()
    /// When channels and the idempotency cache are next swept (once a second).
    var nextChannelSweep = 0.0
    lazy var apiRate = TokenBucket(rate: configuration.apiRequestsPerSecond, burst: configuration.apiRequestsPerSecond, now: clock.now())

    /// Creates a server that talks through `transport`; pass it to the transport's `start` next.
    public init(
        configuration: ServerConfiguration, transport: any ServerTransport,
        clock: any WallClock = SystemWallClock(), logger: Logger
    ) {
        self.configuration = configuration
        self.transport = transport
        self.clock = clock
        self.logger = logger
        self.authenticator = Authenticator(policy: configuration.auth, clock: clock)
        self.apiKey = SecretMatcher(secret: configuration.apiKey)
    }

    /// Open WebSocket connections (authenticated or not).
    public var connectionCount: Int { sessions.count }

    // MARK: ServerTransportDelegate

    public func connectionOpened(_ connection: ConnectionID, info: ConnectionInfo) {
        let session = Session(
            id: connection, remoteAddress: info.remoteAddress, now: clock.now(),
            rate: configuration.commandsPerSecond, burst: configuration.commandBurst
        )
        sessions[connection] = session
        scheduleCheck(session)
        logger.debug("connection opened", metadata: ["connection": "\(connection)", "peer": "\(info.remoteAddress)"])
    }

    public func received(_ frame: [UInt8], from connection: ConnectionID) {
        let now = clock.now()
        for line in FrameCodec.messages(in: frame) {
            guard let session = sessions[connection], !session.isClosing else { return }
            session.lastSeen = now
            guard session.admitCommand(now: now) else {
                refuseOverRate(session, line: line)
                continue
            }
            switch ClientCommand.decode(line) {
            case .success(let command):
                execute(command, in: session)
            case .failure(let failure):
                logger.debug("bad command", metadata: ["connection": "\(connection)", "error": "\(failure.error.message)"])
                reply(to: connection, ServerMessage.encodeError(id: failure.id ?? 0, failure.error))
                if let code = Self.closeCode(after: failure.error) {
                    disconnect(session, code: code, reason: failure.error.message)
                }
            }
        }
    }

    public func connectionClosed(_ connection: ConnectionID) {
        guard let session = sessions.removeValue(forKey: connection) else { return }
        for name in session.channels { channels[name]?.remove(connection) }
        if let user = session.identity?.userID {
            sessionsByUser[user]?.remove(connection)
            if sessionsByUser[user]?.isEmpty == true { sessionsByUser[user] = nil }
        }
        logger.info("connection closed", metadata: session.metadata)
    }

    /// Sends every session a `disconnect` push and closes it with `code` (SIGTERM: 4000).
    public func shuttingDown(code: CloseCode, reason: String) {
        for session in sessions.values { disconnect(session, code: code, reason: reason) }
    }

    // MARK: Helpers shared by the command and API handlers

    func reply(to connection: ConnectionID, _ bytes: [UInt8]) {
        transport.send(OutboundMessage(bytes), to: CollectionOfOne(connection))
    }

    /// Sends a `disconnect` push, then closes (after everything queued): clients that cannot read
    /// close codes still learn why.
    func disconnect(_ session: Session, code: CloseCode, reason: String) {
        guard !session.isClosing else { return }
        session.isClosing = true
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

    /// The channel's state, created on first use; nil when its namespace is not configured.
    func channel(_ name: ChannelName) -> ChannelState? {
        if let existing = channels[name] { return existing }
        guard let policy = configuration.namespaces[String(name.namespace)] else { return nil }
        channelSerial += 1
        let created = ChannelState(name: name, epoch: "\(epochPrefix).\(channelSerial)", policy: policy)
        channels[name] = created
        return created
    }

    /// The error for a channel whose namespace is not configured.
    func unknownNamespace(_ name: ChannelName) -> ReplyError {
        let known = configuration.namespaces.keys.sorted().joined(separator: ", ")
        return ReplyError(.invalidChannel, "namespace '\(name.namespace)' is not configured on this server (configured: \(known))")
    }
}
