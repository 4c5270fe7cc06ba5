import HybridSyncBroker
public import HybridSyncProtocol
public import HybridSyncServerTransport
import Logging

/// Bans as one operation: deny-list entry and retained state stored together, then a typed push
/// and a terminal close for every live socket of the user.
extension SyncServer {
    /// Bans `user`: deny-list entry and `moderation:users/<user>` state set in one broker write
    /// (every observer sees it); once stored, a `banned` push to each of the user's sockets,
    /// flushed before a 4501 close, here and (through the broker) on every other node. Completes
    /// with how many live sessions were closed on every node and the state version of the ban.
    func ban(user: String, reason: String, until: Double?, completion: @escaping (Result<(sessionsClosed: Int, version: UInt64), BrokerError>) -> Void) {
        let ban = Ban(reason: reason, until: until)
        var value: [String: JSONValue] = ["banned": true, "reason": .string(reason)]
        value["until"] = until.map { .double($0) } ?? .null
        let request = PublishRequest(
            channel: moderationUsers, policy: moderationPolicy, data: .object(value), change: .set(key: user),
            denyList: .ban(user: user, ban)
        )
        sequence([request]) { [self] result in
            guard case .success(let publications) = result else { return completion(result.map { _ in (0, 0) }) }
            let closedHere = closeBanned(user, ban)
            webhooks?.record("ban", ["user": .string(user), "reason": .string(reason), "until": until.map { .double($0) } ?? .null])
            let version = publications[0].publication.offset
            // Counted before the other nodes hear of the ban (the engine answers in call order).
            broker.sessionsElsewhere(of: user) { [self] elsewhere in
                let closed = closedHere + ((try? elsewhere.get()) ?? 0)
                logger.info("user banned", metadata: [
                    "user": "\(user)", "reason": "\(reason)", "until": "\(until.map { "\($0)" } ?? "lifted by hand")",
                    "sessions_closed": "\(closed)", "version": "\(version)",
                ])
                completion(.success((closed, version)))
            }
            broker.announce(.ban(user: user, ban))
        }
    }

    /// Sends each of `user`'s sessions here the `banned` push and closes it with 4501; returns how many.
    func closeBanned(_ user: String, _ ban: Ban) -> Int {
        let push = OutboundMessage(ServerMessage.push(.banned(ban)).encoded())
        let closed = sessions.open(of: user)
        for session in closed {
            transport.send(push, to: session.id)
            disconnect(session, code: .banned, reason: "banned: \(ban.reason)")
        }
        return closed.count
    }

    /// Lifts a ban: removes the deny-list entry and the `moderation:users/<user>` state key in one
    /// write. Completes with false when the user was not banned.
    func unban(user: String, completion: @escaping (Result<Bool, BrokerError>) -> Void) {
        broker.ban(of: user, now: clock.now()) { [self] result in
            switch result {
            case .failure(let error):
                completion(.failure(error))
            case .success(nil):
                completion(.success(false))
            case .success(_?):
                let request = PublishRequest(
                    channel: moderationUsers, policy: moderationPolicy, data: .null, change: .remove(key: user), denyList: .lift(user: user)
                )
                sequence([request]) { [self] result in
                    if case .success = result {
                        logger.info("ban lifted", metadata: ["user": "\(user)"])
                        webhooks?.record("unban", ["user": .string(user), "why": "lifted"])
                    }
                    completion(result.map { _ in true })
                }
            }
        }
    }

    /// Closes every session of `user` with `code`, here and (through the broker) on every other
    /// node; returns how many were closed here.
    public func disconnect(user: String, code: CloseCode, reason: String) -> Int {
        let closed = disconnectHere(user: user, code: code, reason: reason)
        broker.announce(.disconnect(user: user, code: code, reason: reason))
        logger.info("user disconnected by API", metadata: ["user": "\(user)", "code": "\(code)", "sessions": "\(closed)"])
        return closed
    }

    /// Closes `user`'s sessions on this node with `code`; returns how many.
    func disconnectHere(user: String, code: CloseCode, reason: String) -> Int {
        let closed = sessions.open(of: user)
        for session in closed { disconnect(session, code: code, reason: reason) }
        return closed.count
    }

    /// The channel that carries ban state.
    var moderationUsers: ChannelName { Self.moderationUsersName }

    // A constant that is a valid channel name: checked once, never on an input path.
    private static let moderationUsersName = try! ChannelName(ServerConfiguration.moderationUsersChannel)

    /// Where bans are written: the configured `moderation` policy, retaining state whatever it says.
    private var moderationPolicy: StreamPolicy { configuration.moderationPolicy.stream }
}
