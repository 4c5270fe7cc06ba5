public import HybridSyncProtocol

/// The in-memory engine: fast, and forgets everything when the process ends (every epoch changes,
/// so clients get `recovered:false` and a snapshot after a restart, never a wrong match).
/// Completions run before each call returns.
public final class MemoryBroker: Broker {
    private let store: StreamStore
    private var presence = PresenceTable()
    private weak var listener: (any BrokerListener)?

    /// An empty engine; its epochs start with a random prefix, so they never match an earlier process's.
    public init() {
        // One random prefix per process and a serial per stream: unique without a random draw per stream.
        let prefix = StreamStore.randomEpoch().prefix(8)
        var serial: UInt64 = 0
        store = StreamStore {
            serial += 1
            return "\(prefix).\(serial)"
        }
    }

    /// See ``Broker/attach(_:)``.
    public func attach(_ listener: any BrokerListener) { self.listener = listener }

    /// See ``Broker/publish(_:idempotency:now:completion:)``; delivers and completes before returning.
    public func publish(
        _ requests: [PublishRequest], idempotency: IdempotencyRecord?, now: Double,
        completion: @escaping (Result<[SequencedPublication], BrokerError>) -> Void
    ) {
        let published = store.publish(requests, idempotency: idempotency, now: now)
        listener?.broker(delivered: published)
        completion(.success(published))
    }

    /// See ``Broker/read(_:_:now:completion:)``.
    public func read(_ channel: ChannelName, _ query: StreamQuery, now: Double, completion: @escaping (Result<StreamRead, BrokerError>) -> Void) {
        completion(.success(store.read(channel, query, now: now)))
    }

    /// See ``Broker/recall(idempotencyKey:body:now:completion:)``.
    public func recall(idempotencyKey: String, body: JSONValue, now: Double, completion: @escaping (Result<IdempotencyMatch, BrokerError>) -> Void) {
        completion(.success(store.recall(idempotencyKey, body: body, now: now)))
    }

    /// See ``Broker/bans(now:completion:)``.
    public func bans(now: Double, completion: @escaping (Result<[String: Ban], BrokerError>) -> Void) {
        completion(.success(store.activeBans(now: now)))
    }

    /// See ``Broker/ban(of:now:completion:)``.
    public func ban(of user: String, now: Double, completion: @escaping (Result<Ban?, BrokerError>) -> Void) {
        completion(.success(store.ban(of: user, now: now)))
    }

    /// See ``Broker/sweep(now:banChannel:policy:inUse:completion:)``.
    public func sweep(
        now: Double, banChannel: ChannelName, policy: (ChannelName) -> StreamPolicy?, inUse: (ChannelName) -> Bool,
        completion: @escaping (Result<[SequencedPublication], BrokerError>) -> Void
    ) {
        let lifted = store.sweep(now: now, banChannel: banChannel, policy: policy, inUse: inUse)
        if !lifted.isEmpty { listener?.broker(delivered: lifted) }
        completion(.success(lifted))
    }

    /// Nothing to commit: every write completed when it was made.
    public func flush() {}

    // MARK: Presence (in this process: the one node)

    /// See ``PresenceEngine/presenceJoin(_:user:connection:info:maxUsers:completion:)``; delivers the changes before completing.
    public func presenceJoin(
        _ channel: ChannelName, user: String, connection: UInt64, info: JSONValue?, maxUsers: Int,
        completion: @escaping (Result<PresenceJoin, BrokerError>) -> Void
    ) {
        let (outcome, changes) = presence.join(channel, user: user, connection: connection, info: info, maxUsers: maxUsers)
        if !changes.isEmpty { listener?.broker(presence: changes, madeHere: true) }
        completion(.success(outcome))
    }

    /// See ``PresenceEngine/presenceLeave(_:connection:)``.
    public func presenceLeave(_ channels: [ChannelName], connection: UInt64) {
        let changes = presence.leave(channels, connection: connection)
        if !changes.isEmpty { listener?.broker(presence: changes, madeHere: true) }
    }

    /// See ``PresenceEngine/presence(of:completion:)``.
    public func presence(of channel: ChannelName, completion: @escaping (Result<[PresenceMember], BrokerError>) -> Void) {
        completion(.success(presence.members(of: channel)))
    }

    /// See ``PresenceEngine/presenceStats(of:completion:)``.
    public func presenceStats(of channel: ChannelName, completion: @escaping (Result<PresenceStats, BrokerError>) -> Void) {
        completion(.success(presence.stats(of: channel)))
    }
}
