import HybridSyncProtocol
import Logging

extension SyncServer {
    func execute(_ command: ClientCommand, in session: Session) {
        let result: Result<JSONValue, ReplyError>
        switch command.operation {
        case .connect(let token, let name):
            result = connect(session, token: token, clientName: name)
        case .subscribe(let channel):
            result = subscribe(session, to: channel)
        case .unsubscribe(let channel):
            result = unsubscribe(session, from: channel)
        case .ping:
            result = .success(.object([:]))
        }
        reply(to: session.id, ServerMessage.reply(id: command.id, result).encoded())
        if case .failure(let error) = result, let code = Self.closeCode(after: error) {
            disconnect(session, code: code, reason: error.message)
        }
    }

    /// Errors after which the connection cannot go on.
    static func closeCode(after error: ReplyError) -> CloseCode? {
        switch error.code {
        case .unauthorized: .invalidToken
        case .tokenExpired: .tokenExpired
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
            session.identity = identity
            var metadata = session.metadata
            if let clientName { metadata["client_name"] = "\(clientName.prefix(64))" }
            logger.info("client connected", metadata: metadata)
            return .success(ConnectResult(client: "\(session.id)", version: HybridSyncWire.serverVersion).json)
        }
    }

    private func subscribe(_ session: Session, to name: ChannelName) -> Result<JSONValue, ReplyError> {
        guard session.identity != nil else {
            return .failure(ReplyError(.notConnected, "send 'connect' with a token before 'subscribe'"))
        }
        guard !session.channels.contains(name) else {
            return .failure(ReplyError(.alreadySubscribed, "already subscribed to '\(name)'"))
        }
        guard session.channels.count < configuration.maxChannelsPerConnection else {
            return .failure(ReplyError(
                .limitExceeded, "a connection may hold \(configuration.maxChannelsPerConnection) channels; unsubscribe from one first"
            ))
        }
        let channel = channel(name)
        channel.add(session.id)
        session.channels.insert(name)
        logger.debug("subscribed", metadata: session.metadata.merging(["channel": "\(name)"]) { $1 })
        return .success(SubscribeResult(channel: name, epoch: channel.epoch, offset: channel.offset).json)
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
}
