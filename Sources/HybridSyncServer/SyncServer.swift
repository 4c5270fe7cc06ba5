import HybridSyncCrypto
public import HybridSyncProtocol
public import Logging

/// The HybridSync server: sessions, channels, sequencing and fan-out, and the backend API.
///
/// It runs on its transport's thread: the transport calls it (``ServerTransportDelegate``) one
/// event at a time and it calls the transport back, so it holds no locks.
public final class SyncServer: ServerTransportDelegate {
    let configuration: ServerConfiguration
    let transport: any ServerTransport
    let logger: Logger
    let authenticator: Authenticator
    let apiKey: SecretMatcher
    let epochPrefix = Base64URL.encode(CryptoPrimitives.randomBytes(6))

    var sessions: [ConnectionID: Session] = [:]
    var channels: [ChannelName: ChannelState] = [:]

    /// Creates a server that talks through `transport`; pass it to the transport's `start` next.
    public init(
        configuration: ServerConfiguration, transport: any ServerTransport,
        clock: any WallClock = SystemWallClock(), logger: Logger
    ) {
        self.configuration = configuration
        self.transport = transport
        self.logger = logger
        self.authenticator = Authenticator(
            secret: configuration.tokenSecret, leeway: configuration.tokenLeewaySeconds, clock: clock
        )
        self.apiKey = SecretMatcher(secret: configuration.apiKey)
    }

    /// Open WebSocket connections (authenticated or not).
    public var connectionCount: Int { sessions.count }

    // MARK: ServerTransportDelegate

    public func connectionOpened(_ connection: ConnectionID, info: ConnectionInfo) {
        sessions[connection] = Session(id: connection, remoteAddress: info.remoteAddress)
        logger.debug("connection opened", metadata: ["connection": "\(connection)", "peer": "\(info.remoteAddress)"])
    }

    public func received(_ frame: [UInt8], from connection: ConnectionID) {
        for line in FrameCodec.messages(in: frame) {
            guard let session = sessions[connection], !session.isClosing else { return }
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
        logger.info("connection closed", metadata: session.metadata)
    }

    // MARK: Helpers shared by the command and API handlers

    func reply(to connection: ConnectionID, _ bytes: [UInt8]) {
        transport.send(OutboundMessage(bytes), to: CollectionOfOne(connection))
    }

    /// Sends a `disconnect` push, then closes: clients that cannot read close codes still learn why.
    func disconnect(_ session: Session, code: CloseCode, reason: String) {
        session.isClosing = true
        reply(to: session.id, ServerMessage.push(.disconnect(code: code, reason: reason)).encoded())
        transport.close(session.id, code: code, reason: reason)
    }

    func channel(_ name: ChannelName) -> ChannelState {
        if let existing = channels[name] { return existing }
        let created = ChannelState(name: name, epoch: "\(epochPrefix).\(channels.count + 1)")
        channels[name] = created
        return created
    }
}

/// One WebSocket connection's protocol state.
final class Session {
    let id: ConnectionID
    let remoteAddress: String
    var identity: Identity?
    var channels: Set<ChannelName> = []
    /// A close was requested; further commands are ignored.
    var isClosing = false

    init(id: ConnectionID, remoteAddress: String) {
        self.id = id
        self.remoteAddress = remoteAddress
    }

    var metadata: Logger.Metadata {
        var metadata: Logger.Metadata = ["connection": "\(id)", "peer": "\(remoteAddress)"]
        if let identity { metadata["user"] = "\(identity.userID)" }
        return metadata
    }
}
