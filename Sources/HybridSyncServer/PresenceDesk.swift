import HybridSyncBroker
import HybridSyncProtocol
import HybridSyncServerTransport

/// The server's side of presence (namespaces with `presence`; PROTOCOL.md "Presence"): a
/// subscriber is present as its user while it holds the channel, and the changes the broker's
/// ``PresenceEngine`` hands over (made on any node) are pushed to the channel's subscribers here.
/// One table for every node lives in the broker; this keeps only which channels each session is
/// present on (``Session/presence``), so a close leaves exactly those.
final class PresenceDesk {
    private let broker: any Broker
    private let hub: Hub
    private let transport: any ServerTransport
    private let webhooks: (any WebhookSink)?

    init(broker: any Broker, hub: Hub, transport: any ServerTransport, webhooks: (any WebhookSink)?) {
        self.broker = broker
        self.hub = hub
        self.transport = transport
        self.webhooks = webhooks
    }

    /// Makes `session` (authenticated) present on `name` with `info` before it subscribes. Completes with nil
    /// once present, or with the subscribe's refusal: 115 when the channel is full, 100 when the
    /// engine fails. A session that closed meanwhile (`isOpen` false) leaves again at once.
    func join(
        _ session: Session, _ name: ChannelName, info: JSONValue?, maxUsers: Int, isOpen: @escaping () -> Bool, completion: @escaping (ReplyError?) -> Void
    ) {
        guard let identity = session.identity else { return completion(ReplyError(.notConnected, "send 'connect' with a token first")) }
        broker.presenceJoin(name, user: identity.userID, connection: session.id.rawValue, info: info, maxUsers: maxUsers) { [self] result in
            switch result {
            case .success(.joined):
                guard isOpen() else {
                    broker.presenceLeave([name], connection: session.id.rawValue)
                    return completion(ReplyError(.internalError, "closed"))
                }
                session.presence.insert(name)
                completion(nil)
            case .success(.full(let maxUsers)):
                completion(ReplyError(.presenceFull, "'\(name)' has \(maxUsers) present users, its namespace's presenceMaxUsers: retry when one has left"))
            case .failure:
                completion(ReplyError.engineUnavailable)
            }
        }
    }

    /// `session`, present on `name`, shows `info` from now on (a refreshed subscription token):
    /// one `presence_update` where that changes what the user shows.
    func update(_ session: Session, _ name: ChannelName, info: JSONValue?, maxUsers: Int) {
        guard let user = session.identity?.userID else { return }
        broker.presenceJoin(name, user: user, connection: session.id.rawValue, info: info, maxUsers: maxUsers) { _ in }
    }

    /// `session` is no longer present on those of `names` it was present on.
    func leave(_ session: Session, _ names: some Sequence<ChannelName>) {
        let leaving = names.filter { session.presence.remove($0) != nil }
        if !leaving.isEmpty { broker.presenceLeave(leaving, connection: session.id.rawValue) }
    }

    /// Pushes each change to the channel's subscribers here that have their subscribe answer;
    /// the joins and leaves this node made (`madeHere`) go to the webhooks too.
    func push(_ changes: [PresenceChange], madeHere: Bool) {
        for change in changes {
            if madeHere, let webhooks, change.kind != .update {
                var data: [String: JSONValue] = ["channel": .string(change.channel.rawValue), "user": .string(change.user)]
                if change.kind == .join { data["info"] = change.info ?? .null }
                webhooks.record(change.kind == .join ? "presence_join" : "presence_leave", .object(data))
            }
            guard let audience = hub.channels[change.channel]?.answered, !audience.isEmpty else { continue }
            transport.send(OutboundMessage(ServerMessage.push(.presence(change)).encoded()), to: audience)
        }
    }

    /// Why presence of `name` (whose namespace has `policy`) may not be read, if it may not: 114
    /// for a namespace without presence, then, for a client, 112 when `session` does not hold the channel.
    static func refusal(of name: ChannelName, policy: NamespacePolicy, for session: Session? = nil) -> ReplyError? {
        guard policy.presence else {
            return ReplyError(.presenceDisabled, "namespace '\(name.namespace)' keeps no presence (namespaces.\(name.namespace).presence)")
        }
        if let session, !session.channels.contains(name) {
            return ReplyError(.notSubscribed, "subscribe to '\(name)' first: presence is for its subscribers")
        }
        return nil
    }

    /// Who is present on `name`, as the `presence` result and `GET /api/presence` answer it.
    func members(of name: ChannelName, completion: @escaping (Result<JSONValue, BrokerError>) -> Void) {
        broker.presence(of: name) { completion($0.map { PresenceResult(channel: name, members: $0).json }) }
    }

    /// How many are present on `name`, as `presence_stats` and `GET /api/presence_stats` answer it.
    func stats(of name: ChannelName, completion: @escaping (Result<JSONValue, BrokerError>) -> Void) {
        broker.presenceStats(of: name) { result in
            completion(result.map { ["channel": .string(name.rawValue), "users": .int(Int64($0.users)), "contexts": .int(Int64($0.contexts))] })
        }
    }
}
