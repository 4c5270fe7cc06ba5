package import HybridSyncBroker
package import HybridSyncProtocol

/// Presence shared by every node: see ``RedisPresence``.
extension RedisBroker {
    /// See ``PresenceEngine/presenceJoin(_:user:connection:info:maxUsers:completion:)``.
    package func presenceJoin(
        _ channel: ChannelName, user: String, connection: UInt64, info: JSONValue?, maxUsers: Int,
        completion: @escaping (Result<PresenceJoin, BrokerError>) -> Void
    ) {
        presence.join(channel, user: user, connection: connection, info: info, maxUsers: maxUsers, completion: completion)
    }

    /// See ``PresenceEngine/presenceLeave(_:connection:)``: a leave Redis does not take is sent again with the next tick.
    package func presenceLeave(_ channels: [ChannelName], connection: UInt64) { presence.leave(channels, connection: connection) }

    /// See ``PresenceEngine/presence(of:completion:)``.
    package func presence(of channel: ChannelName, completion: @escaping (Result<[PresenceMember], BrokerError>) -> Void) {
        presence.members(of: channel, completion: completion)
    }

    /// See ``PresenceEngine/presenceStats(of:completion:)``.
    package func presenceStats(of channel: ChannelName, completion: @escaping (Result<PresenceStats, BrokerError>) -> Void) {
        presence.stats(of: channel, completion: completion)
    }

    /// See ``PresenceEngine/occupancy(_:occupied:completion:)``: one script on the channel's set of nodes.
    package func occupancy(_ channel: ChannelName, occupied: Bool, completion: @escaping (Bool) -> Void) {
        presence.occupancy(channel, occupied: occupied, completion: completion)
    }

    /// See ``PresenceEngine/sessionCounted(user:opened:)``.
    package func sessionCounted(user: String, opened: Bool) { presence.count(user: user, opened: opened) }

    /// See ``PresenceEngine/sessionsElsewhere(of:completion:)``.
    package func sessionsElsewhere(of user: String, completion: @escaping (Result<Int, BrokerError>) -> Void) {
        presence.sessionsElsewhere(of: user, completion: completion)
    }
}
