public import HybridSyncProtocol

/// Presence: who is on a channel, per **user**, across every context (one WebSocket) of that user
/// on every node. An engine keeps it where it keeps everything it shares between nodes (memory
/// and SQLite: in this process, the one node; Redis: in Redis, with node leases), and hands its
/// changes to every node's server through ``BrokerListener/broker(presence:madeHere:)``, in the
/// order they were made. The rules are ``PresenceTable``'s.
public protocol PresenceEngine: AnyObject {
    /// `connection` (on this node) of `user` is present on `channel` with `info`; a connection
    /// already present there only updates its info. Refused, without a change, when the channel
    /// holds `maxUsers` users already and `user` is not one of them.
    func presenceJoin(
        _ channel: ChannelName, user: String, connection: UInt64, info: JSONValue?, maxUsers: Int,
        completion: @escaping (Result<PresenceJoin, BrokerError>) -> Void
    )

    /// `connection` left `channels` (it unsubscribed or closed). An engine that cannot store it
    /// now keeps trying; until then, and if this node dies, the node's lease bounds the ghost.
    func presenceLeave(_ channels: [ChannelName], connection: UInt64)

    /// Who is present on `channel`, sorted by user.
    func presence(of channel: ChannelName, completion: @escaping (Result<[PresenceMember], BrokerError>) -> Void)

    /// How many users, and contexts of theirs, are present on `channel`.
    func presenceStats(of channel: ChannelName, completion: @escaping (Result<PresenceStats, BrokerError>) -> Void)

    /// `user` has one more live session on this node (it authenticated) or one fewer (`opened`
    /// false: it closed), for ``sessionsElsewhere(of:completion:)``; an engine may store a turn's
    /// counts together at ``Broker/flush()``. Engines of one node ignore it.
    func sessionCounted(user: String, opened: Bool)

    /// How many live sessions `user` has on the other nodes whose lease holds (0 for engines of
    /// one node): what a ban there closes, so `POST /api/ban` can report every node's.
    func sessionsElsewhere(of user: String, completion: @escaping (Result<Int, BrokerError>) -> Void)

    /// This node's first subscriber of `channel` arrived (`occupied`) or its last one left:
    /// `completion(true)` when that made the channel occupied or vacated on every node together
    /// (the first node, or the last), so the `channel_occupied`/`channel_vacated` webhook is sent
    /// once. A node that dies vacates its channels when its lease ends
    /// (``BrokerListener/broker(vacated:)`` on the node that noticed).
    func occupancy(_ channel: ChannelName, occupied: Bool, completion: @escaping (Bool) -> Void)
}

extension PresenceEngine {
    /// One node: its first subscriber is the channel's first.
    public func occupancy(_ channel: ChannelName, occupied: Bool, completion: @escaping (Bool) -> Void) { completion(true) }

    /// One node: nothing to count for others.
    public func sessionCounted(user: String, opened: Bool) {}

    /// One node: there is no elsewhere.
    public func sessionsElsewhere(of user: String, completion: @escaping (Result<Int, BrokerError>) -> Void) {
        completion(.success(0))
    }
}

/// The answer to ``PresenceEngine/presenceJoin(_:user:connection:info:maxUsers:completion:)``.
public enum PresenceJoin: Sendable, Equatable {
    /// The connection is present.
    case joined
    /// The channel holds `maxUsers` present users already; nothing changed.
    case full(maxUsers: Int)
}
