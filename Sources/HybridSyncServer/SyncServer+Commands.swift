import HybridSyncProtocol
import Logging

extension SyncServer {
    func execute(_ command: ClientCommand, in session: Session) {
        let result: Result<JSONValue, ReplyError>
        // Pushes that must follow the reply (recovered publications), in order.
        var followUps: [OutboundMessage] = []
        switch command.operation {
        case .connect(let token, let name):
            result = connect(session, token: token, clientName: name)
        case .subscribe(let channel, let since):
            result = subscribe(session, to: channel, since: since, followUps: &followUps)
        case .unsubscribe(let channel):
            result = unsubscribe(session, from: channel)
        case .publish(let channel, let data):
            result = clientPublish(session, to: channel, data: data)
        case .ping:
            result = .success(.object([:]))
        }
        reply(to: session.id, ServerMessage.reply(id: command.id, result).encoded())
        for message in followUps { transport.send(message, to: CollectionOfOne(session.id)) }
        if case .failure(let error) = result, let code = Self.closeCode(after: error) {
            disconnect(session, code: code, reason: error.message)
        }
    }

    /// Errors after which the connection cannot go on.
    static func closeCode(after error: ReplyError) -> CloseCode? {
        switch error.code {
        case .unauthorized: .invalidToken
        case .tokenExpired: .tokenExpired
        case .banned: .banned
        default: nil
        }
    }

    private func connect(_ session: Session, token: String, clientName: String?) -> Result<JSONValue, ReplyError> {
        guard session.identity == nil else {
            return .failure(ReplyError(.alreadyConnected, "this connection is already authenticated"))
        }
        switch authenticator.authenticate(token) {
        case .failure(.invalid(let why)):
            logger.info("connect refused: invalid token", metadata: session.metadata.merging(["why": "\(why)"]) { $1 })
            return .failure(ReplyError(.unauthorized, why))
        case .failure(.expired(let why)):
            logger.info("connect refused: expired token", metadata: session.metadata)
            return .failure(ReplyError(.tokenExpired, why))
        case .success(let identity):
            if let ban = activeBan(identity.userID) {
                logger.info("connect refused: user is banned", metadata: session.metadata.merging(["user": "\(identity.userID)"]) { $1 })
                reply(to: session.id, ServerMessage.push(.banned(ban)).encoded())
                return .failure(ReplyError(.banned, "user is banned: \(ban.reason)"))
            }
            session.identity = identity
            session.lastPing = clock.now()
            scheduleCheck(session)
            sessionsByUser[identity.userID, default: []].insert(session.id)
            var metadata = session.metadata
            if let clientName { metadata["client_name"] = "\(clientName.prefix(64))" }
            logger.info("client connected", metadata: metadata)
            return .success(ConnectResult(
                client: "\(session.id)", version: HybridSyncWire.serverVersion,
                pingInterval: configuration.pingIntervalSeconds, pongTimeout: configuration.pongTimeoutSeconds
            ).json)
        }
    }

    /// Whether this session may subscribe to (and, where allowed, publish on) `name`.
    private func authorize(_ session: Session, _ name: ChannelName) -> Result<ChannelState, ReplyError> {
        guard let identity = session.identity else {
            return .failure(ReplyError(.notConnected, "send 'connect' with a token first"))
        }
        guard let channel = channel(name) else { return .failure(unknownNamespace(name)) }
        switch channel.policy.subscribe {
        case .authenticated:
            break
        case .claim:
            guard identity.claims(name) else {
                return .failure(ReplyError(.permissionDenied, "the token's 'channels' claim does not include '\(name)'"))
            }
        case .personal:
            guard name.name == "user#\(identity.userID)" else {
                return .failure(ReplyError(.permissionDenied, "'\(name.namespace)' holds personal channels: subscribe to '\(name.namespace):user#\(identity.userID)'"))
            }
        }
        return .success(channel)
    }

    private func subscribe(
        _ session: Session, to name: ChannelName, since: StreamPosition?, followUps: inout [OutboundMessage]
    ) -> Result<JSONValue, ReplyError> {
        let channel: ChannelState
        switch authorize(session, name) {
        case .failure(let error): return .failure(error)
        case .success(let authorized): channel = authorized
        }
        guard !session.channels.contains(name) else {
            return .failure(ReplyError(.alreadySubscribed, "already subscribed to '\(name)'"))
        }
        guard session.channels.count < configuration.maxChannelsPerConnection else {
            return .failure(ReplyError(
                .limitExceeded, "a connection may hold \(configuration.maxChannelsPerConnection) channels; unsubscribe from one first"
            ))
        }
        channel.add(session.id)
        session.channels.insert(name)

        var result = SubscribeResult(channel: name, position: channel.position)
        if let since {
            if let missed = channel.missed(after: since, now: clock.now()) {
                result.recovered = true
                followUps = missed.map(\.message)
            } else {
                result.recovered = false
            }
        }
        if channel.policy.retainState, result.recovered != true { result.state = channel.state }
        logger.debug("subscribed", metadata: session.metadata.merging([
            "channel": "\(name)", "recovered": "\(result.recovered.map(String.init) ?? "-")",
        ]) { $1 })
        return .success(result.json)
    }

    private func unsubscribe(_ session: Session, from name: ChannelName) -> Result<JSONValue, ReplyError> {
        guard session.identity != nil else {
            return .failure(ReplyError(.notConnected, "send 'connect' with a token first"))
        }
        guard session.channels.remove(name) != nil else {
            return .failure(ReplyError(.notSubscribed, "not subscribed to '\(name)'"))
        }
        channels[name]?.remove(session.id)
        logger.debug("unsubscribed", metadata: session.metadata.merging(["channel": "\(name)"]) { $1 })
        return .success(.object([:]))
    }

    private func clientPublish(_ session: Session, to name: ChannelName, data: JSONValue) -> Result<JSONValue, ReplyError> {
        let channel: ChannelState
        switch authorize(session, name) {
        case .failure(let error): return .failure(error)
        case .success(let authorized): channel = authorized
        }
        guard channel.policy.clientPublish else {
            return .failure(ReplyError(.permissionDenied, "clients may not publish in namespace '\(name.namespace)'"))
        }
        let publication = publish(data, on: channel, change: nil)
        return .success(.object(["offset": .int(Int64(publication.offset))]))
    }
}
