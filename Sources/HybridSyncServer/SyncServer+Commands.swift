import HybridSyncBroker
import HybridSyncProtocol
import HybridSyncServerTransport
import Logging

extension SyncServer {
    /// How a command handler answers: the reply, then pushes that must follow it (recovered publications).
    typealias Finish = (Result<JSONValue, ReplyError>, [OutboundMessage]) -> Void

    /// Runs one command. The session runs nothing else until it is answered (a command that waits
    /// for the broker holds the later ones in the session's queue), so replies keep command order.
    func execute(_ command: ClientCommand, in session: Session) {
        session.busy = true
        let finish: Finish = { [self] result, followUps in
            guard sessions.holds(session) else { return }
            session.busy = false
            if !session.isClosing {
                reply(to: session.id, ServerMessage.reply(id: command.id, result).encoded())
                for message in followUps { transport.send(message, to: session.id) }
                if case .failure(let error) = result, let code = error.closeCode {
                    disconnect(session, code: code, reason: error.message)
                }
            }
            runQueued(session)
        }
        switch command.operation {
        case .connect(let token, let name):
            connect(session, token: token, clientName: name, finish)
        case .subscribe(let channel, let since, let token):
            subscribe(session, to: channel, since: since, token: token, finish)
        case .subscriptionRefresh(let channel, let token):
            refreshSubscription(session, channel, token: token, finish)
        case .unsubscribe(let channel):
            finish(unsubscribe(session, from: channel), [])
        case .publish(let channel, let data):
            clientPublish(session, to: channel, data: data, finish)
        case .history(let channel, let since):
            history(session, of: channel, since: since, finish)
        case .ping:
            finish(.success(.object([:])), [])
        case .presence(let channel):
            readPresence(session, of: channel, stats: false, finish)
        case .presenceStats(let channel):
            readPresence(session, of: channel, stats: true, finish)
        }
    }

    private func connect(_ session: Session, token: String, clientName: String?, _ finish: @escaping Finish) {
        guard session.identity == nil else {
            return finish(.failure(ReplyError(.alreadyConnected, "this connection is already authenticated")), [])
        }
        let identity: Identity
        switch authenticator.authenticate(token) {
        case .failure(.invalid(let why)):
            metrics.authFailed("invalid_token")
            logger.info("connect refused: invalid token", metadata: session.metadata.merging(["why": "\(why)"]) { $1 })
            return finish(.failure(ReplyError(.unauthorized, why)), [])
        case .failure(.expired(let why)):
            metrics.authFailed("expired_token")
            logger.info("connect refused: expired token", metadata: session.metadata)
            return finish(.failure(ReplyError(.tokenExpired, why)), [])
        case .success(let authenticated):
            identity = authenticated
        }
        broker.ban(of: identity.userID, now: clock.now()) { [self] result in
            guard isOpen(session) else { return finish(.failure(ReplyError(.internalError, "closed")), []) }
            switch result {
            case .failure(let error):
                logger.info("connect refused: engine unavailable", metadata: session.metadata.merging(["error": "\(error.message)"]) { $1 })
                finish(.failure(ReplyError.engineUnavailable), [])
            case .success(let ban?):
                metrics.authFailed("banned")
                logger.info("connect refused: user is banned", metadata: session.metadata.merging(["user": "\(identity.userID)"]) { $1 })
                reply(to: session.id, ServerMessage.push(.banned(ban)).encoded())
                finish(.failure(ReplyError(.banned, "user is banned: \(ban.reason)")), [])
            case .success(nil):
                hookDesk.ask(\.connects, session, identity, channel: nil, isOpen: { [self] in isOpen(session) }) { [self] answer in
                    guard case .success(let grant) = answer else { return finish(answer.map { _ in [:] }, []) }
                    var identity = identity
                    identity.info = grant.info ?? identity.info
                    identity.channels += grant.channels
                    admit(session, as: identity, clientName: clientName, finish)
                }
            }
        }
    }

    /// The connection is authenticated as `identity`: its timing rules start and `connect` is answered.
    private func admit(_ session: Session, as identity: Identity, clientName: String?, _ finish: @escaping Finish) {
        session.identity = identity
        session.clientName = clientName.map { String($0.prefix(64)) }
        session.connectedAt = clock.now()
        session.lastPing = clock.monotonic()
        // The token's `exp` is a wall-clock date; its deadline runs on the monotonic clock.
        session.tokenExpiry = identity.expiresAt.map { clock.monotonic(atWallTime: $0) }
        scheduleCheck(session)
        sessions.authenticated(session, as: identity.userID)
        broker.sessionCounted(user: identity.userID, opened: true)
        // Built inside the log call: only when info is logged (a connect storm logs nothing).
        logger.info("client connected", metadata: session.metadata.merging(
            clientName.map { ["client_name": "\($0.prefix(64))"] } ?? [:]
        ) { $1 })
        finish(.success(ConnectResult(
            client: "\(session.id)", version: HybridSyncWire.serverVersion,
            pingInterval: configuration.pingIntervalSeconds, pongTimeout: configuration.pongTimeoutSeconds,
            limits: ConnectionLimits(
                maxMessageBytes: configuration.maxMessageBytes, commandsPerSecond: configuration.commandsPerSecond,
                commandBurst: configuration.commandBurst
            )
        ).json), [])
    }

    /// Whether this session may subscribe to (and, where allowed, publish on) `name`; its policy if so.
    private func authorize(_ session: Session, _ name: ChannelName) -> Result<NamespacePolicy, ReplyError> {
        guard let identity = session.identity else {
            return .failure(ReplyError(.notConnected, "send 'connect' with a token first"))
        }
        guard let policy = policy(name) else { return .failure(configuration.unknownNamespace(name)) }
        switch policy.subscribe {
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
        return .success(policy)
    }

    private func subscribe(_ session: Session, to name: ChannelName, since: StreamPosition?, token: String?, _ finish: @escaping Finish) {
        let policy: NamespacePolicy
        switch authorize(session, name) {
        case .failure(let error): return finish(.failure(error), [])
        case .success(let authorized): policy = authorized
        }
        guard !session.channels.contains(name) else {
            return finish(.failure(ReplyError(.alreadySubscribed, "already subscribed to '\(name)'")), [])
        }
        guard session.channels.count < configuration.maxChannelsPerConnection else {
            return finish(.failure(ReplyError(
                .limitExceeded, "a connection may hold \(configuration.maxChannelsPerConnection) channels; unsubscribe from one first"
            )), [])
        }
        let grant: Authenticator.SubscriptionGrant?
        switch authenticator.subscriptionGrant(token, user: session.identity?.userID ?? "", channel: name, required: policy.subscriptionToken) {
        case .failure(let refusal): return finish(.failure(refusal), [])
        case .success(let granted): grant = granted
        }
        let start = { [self] in
            hold(session, name, until: grant)
            startSubscription(session, to: name, since: since, policy: policy, ttl: grant.map { $0.expiresAt - clock.now() }, finish)
        }
        let join = { [self] (info: JSONValue?) in
            guard policy.presence else { return start() }
            presenceDesk.join(session, name, info: info, maxUsers: policy.presenceMaxUsers, isOpen: { [self] in isOpen(session) }) { refusal in
                guard let refusal else { return start() }
                finish(.failure(refusal), [])
            }
        }
        let info = grant?.info ?? session.identity?.info
        guard policy.subscribeProxy, let identity = session.identity else { return join(info) }
        hookDesk.ask(\.subscribes, session, identity, channel: name, isOpen: { [self] in isOpen(session) }) { answer in
            guard case .success(let grant) = answer else { return finish(answer.map { _ in [:] }, []) }
            join(grant.info ?? info)
        }
    }

    /// Joins the hub, reads the snapshot (or what was missed) and answers the subscribe.
    private func startSubscription(
        _ session: Session, to name: ChannelName, since: StreamPosition?, policy: NamespacePolicy, ttl: Double?, _ finish: @escaping Finish
    ) {
        // Joined before the read: what completes meanwhile is held, then sent if newer than the snapshot.
        session.channels.insert(name)
        hub.join(session.id, name)
        let query = StreamQuery(policy: policy.stream, create: true, since: since, includeState: policy.retainState)
        broker.read(name, query, now: clock.now()) { [self] result in
            guard isOpen(session) else { return finish(.failure(ReplyError(.internalError, "closed")), []) }
            guard case .success(let read) = result, let position = read.position else {
                release(session, name)
                if case .failure(let error) = result {
                    logger.info("subscribe failed: engine unavailable", metadata: session.metadata.merging(["error": "\(error.message)"]) { $1 })
                    return finish(.failure(ReplyError.engineUnavailable), [])
                }
                return finish(.failure(ReplyError(.internalError, "the engine returned no stream; retry")), [])
            }
            var result = SubscribeResult(channel: name, position: position, ttl: ttl)
            var followUps: [OutboundMessage] = []
            if since != nil {
                if let missed = read.missed {
                    result.recovered = true
                    followUps = missed.map(\.message)
                } else {
                    result.recovered = false
                }
            }
            if policy.retainState, result.recovered != true { result.state = read.state }
            followUps += (hub.activate(session.id, name, after: position.offset) ?? []).map(\.message)
            if let subscribers = hub.channels[name], !subscribers.followed {
                subscribers.followed = true
                broker.follow(name, after: position)
            }
            logger.debug("subscribed", metadata: session.metadata.merging([
                "channel": "\(name)", "recovered": "\(result.recovered.map(String.init) ?? "-")",
            ]) { $1 })
            finish(.success(result.json), followUps)
        }
    }

    /// What history holds after `since` (all of it when `since` is of another epoch or absent).
    private func history(_ session: Session, of name: ChannelName, since: StreamPosition?, _ finish: @escaping Finish) {
        let policy: NamespacePolicy
        switch authorize(session, name) {
        case .failure(let error): return finish(.failure(error), [])
        case .success(let authorized): policy = authorized
        }
        broker.read(name, StreamQuery(policy: policy.stream, create: true, includeHistory: true), now: clock.now()) { [self] result in
            guard isOpen(session) else { return finish(.failure(ReplyError(.internalError, "closed")), []) }
            switch result {
            case .failure(let error):
                logger.info("history failed: engine unavailable", metadata: session.metadata.merging(["error": "\(error.message)"]) { $1 })
                finish(.failure(ReplyError.engineUnavailable), [])
            case .success(let read):
                let position = read.position ?? StreamPosition(epoch: "", offset: 0)
                let after = since.flatMap { $0.epoch == position.epoch ? $0.offset : nil } ?? 0
                let publications = read.history.map(\.publication).filter { $0.offset > after }
                finish(.success(HistoryResult(channel: name, position: position, publications: publications).json), [])
            }
        }
    }

    private func unsubscribe(_ session: Session, from name: ChannelName) -> Result<JSONValue, ReplyError> {
        guard session.identity != nil else {
            return .failure(ReplyError(.notConnected, "send 'connect' with a token first"))
        }
        guard release(session, name) else {
            return .failure(ReplyError(.notSubscribed, "not subscribed to '\(name)'"))
        }
        logger.debug("unsubscribed", metadata: session.metadata.merging(["channel": "\(name)"]) { $1 })
        return .success(.object([:]))
    }

    private func clientPublish(_ session: Session, to name: ChannelName, data: JSONValue, _ finish: @escaping Finish) {
        let policy: NamespacePolicy
        switch authorize(session, name) {
        case .failure(let error): return finish(.failure(error), [])
        case .success(let authorized): policy = authorized
        }
        guard policy.clientPublish else {
            return finish(.failure(ReplyError(.permissionDenied, "clients may not publish in namespace '\(name.namespace)'")), [])
        }
        sequence([PublishRequest(channel: name, policy: policy.stream, data: data)]) { result in
            switch result {
            case .success(let publications):
                finish(.success(.object(["offset": .int(Int64(publications[0].publication.offset))])), [])
            case .failure:  // `sequence` logged it
                finish(.failure(ReplyError.engineUnavailable), [])
            }
        }
    }
}
