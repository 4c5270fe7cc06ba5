import HybridSyncProtocol
import HybridSyncServerTransport
import Logging

/// Subscription tokens (`namespaces.<ns>.subscriptionToken`; PROTOCOL.md "Subscription tokens"):
/// a subscription lives until its token's `exp`, `sub_refresh` moves that on without re-sending
/// anything, and an expired one ends that subscription alone with an `unsubscribed` push (117).
extension SyncServer {
    /// Holds `name` until the grant's expiry (nothing without a grant).
    func hold(_ session: Session, _ name: ChannelName, until grant: Authenticator.SubscriptionGrant?) {
        guard let grant else { return }
        session.subscriptionDeadlines[name] = clock.monotonic(atWallTime: grant.expiresAt)
        scheduleCheck(session)
    }

    /// `sub_refresh`: a fresh token for a subscribed channel; its `info` updates presence.
    func refreshSubscription(_ session: Session, _ name: ChannelName, token: String, _ finish: @escaping Finish) {
        guard session.identity != nil else { return finish(.failure(ReplyError(.notConnected, "send 'connect' with a token first")), []) }
        guard let policy = policy(name) else { return finish(.failure(configuration.unknownNamespace(name)), []) }
        guard session.channels.contains(name) else { return finish(.failure(ReplyError(.notSubscribed, "not subscribed to '\(name)'")), []) }
        switch authenticator.subscriptionGrant(token, user: session.identity?.userID ?? "", channel: name, required: true) {
        case .failure(let refusal):
            finish(.failure(refusal), [])
        case .success(let grant?):
            hold(session, name, until: grant)
            if session.presence.contains(name) { presenceDesk.update(session, name, info: grant.info ?? session.identity?.info, maxUsers: policy.presenceMaxUsers) }
            finish(.success(["channel": .string(name.rawValue), "ttl": .double(grant.expiresAt - clock.now())]), [])
        case .success(nil):  // cannot happen with a token given, but never leave a command unanswered
            finish(.failure(ReplyError(.subscriptionTokenInvalid, "'sub_refresh' needs a subscription token")), [])
        }
    }

    /// The server ends one subscription (its token expired): the client gets `unsubscribed` with
    /// `error`; its connection and other subscriptions go on.
    func endSubscription(_ session: Session, _ name: ChannelName, _ error: ReplyError) {
        guard release(session, name) else { return }
        reply(to: session.id, ServerMessage.push(.unsubscribed(channel: name, error: error)).encoded())
        logger.info("subscription ended", metadata: session.metadata.merging(["channel": "\(name)", "why": "\(error.message)"]) { $1 })
    }
}
