public import HybridSyncProtocol
import Logging

/// Bans as one operation: deny-list, retained state, typed push, terminal close.
extension SyncServer {
    /// The ban on `user` if one holds now; a ban whose `until` has passed is lifted here.
    func activeBan(_ user: String) -> Ban? {
        guard let ban = bans[user] else { return nil }
        if let until = ban.until, until <= clock.now() {
            lift(user, why: "expired")
            return nil
        }
        return ban
    }

    /// Bans `user`: deny-list entry, `moderation:users/<user>` state set (every observer sees it),
    /// a `banned` push to each of the user's sockets, flushed before a 4501 close.
    /// Returns how many live sessions were closed and the state version of the ban.
    public func ban(user: String, reason: String, until: Double?) -> (sessionsClosed: Int, version: UInt64) {
        let ban = Ban(reason: reason, until: until)
        bans[user] = ban
        var value: [String: JSONValue] = ["banned": true, "reason": .string(reason)]
        value["until"] = until.map { .double($0) } ?? .null
        let publication = publish(.object(value), on: moderationUsers, change: .set(key: user))
        let push = OutboundMessage(ServerMessage.push(.banned(ban)).encoded())
        let closed = sessionsOf(user)
        for session in closed {
            transport.send(push, to: CollectionOfOne(session.id))
            disconnect(session, code: .banned, reason: "banned: \(reason)")
        }
        logger.notice("user banned", metadata: [
            "user": "\(user)", "reason": "\(reason)", "until": "\(until.map { "\($0)" } ?? "lifted by hand")",
            "sessions_closed": "\(closed.count)", "version": "\(publication.offset)",
        ])
        return (closed.count, publication.offset)
    }

    /// Lifts a ban: removes the deny-list entry and the `moderation:users/<user>` state key.
    /// Returns false when the user was not banned.
    @discardableResult
    public func unban(user: String) -> Bool {
        guard bans[user] != nil else { return false }
        lift(user, why: "lifted")
        return true
    }

    private func lift(_ user: String, why: String) {
        bans[user] = nil
        publish(.null, on: moderationUsers, change: .remove(key: user))
        logger.notice("ban ended", metadata: ["user": "\(user)", "why": "\(why)"])
    }

    /// Closes every session of `user` with `code`; returns how many.
    public func disconnect(user: String, code: CloseCode, reason: String) -> Int {
        let closed = sessionsOf(user)
        for session in closed { disconnect(session, code: code, reason: reason) }
        logger.info("user disconnected by API", metadata: ["user": "\(user)", "code": "\(code)", "sessions": "\(closed.count)"])
        return closed.count
    }

    private func sessionsOf(_ user: String) -> [Session] {
        (sessionsByUser[user] ?? []).sorted().compactMap { sessions[$0] }.filter { !$0.isClosing }
    }

    private var moderationUsers: ChannelState {
        // The configuration always has a retained `moderation` namespace (ServerConfiguration.init).
        channel(try! ChannelName(ServerConfiguration.moderationUsersChannel))!
    }
}
