package import HybridSyncProtocol

/// Who is present on each channel, per **user**, across every context (one WebSocket) of that user
/// on every node; without I/O, on the caller's clock: the rules every engine keeps (the memory and SQLite engines through this
/// table, Redis in ``RedisScripts``' presence scripts).
///
/// The rules are the ones presence users complain about elsewhere when they are missing:
/// - a user joins when their **first** context joins and leaves when their **last** one leaves: a
///   second tab is not a join, closing one of two tabs is not a leave;
/// - a change of a present user's info is one ``PresenceChange/update(_:user:info:)``, never a leave and a
///   join; a user's info is that of their most recently joined or updated context;
/// - a node's contexts stay until its lease passes (``renew(node:until:)``, ``expire(now:)``), so a
///   node that dies takes its contexts with it, and a restarted node (a new incarnation) whose
///   clients reconnect within the lease makes nobody blink out and in;
/// - a channel holds at most `maxUsers` users: a join past it is refused with
///   ``PresenceLimitReached`` (a second context of a present user is never refused).
///
/// ```swift
/// var presence = PresenceTable()
/// presence.renew(node: "n1#7", until: now + 30)
/// try presence.join(channel, user: "42", context: .init(node: "n1#7", connection: 1), info: nil, maxUsers: 1000)  // [.join]
/// try presence.join(channel, user: "42", context: .init(node: "n1#7", connection: 2), info: nil, maxUsers: 1000)  // []: a second tab
/// presence.leave(channel, context: .init(node: "n1#7", connection: 1))                                            // nil: one tab left
/// ```
package struct PresenceTable: Sendable {
    /// One context: a connection on a node incarnation (a restarted node is a new incarnation).
    package struct Context: Hashable, Sendable {
        /// The node incarnation, for example `node-a#<start time>`.
        package var node: String
        /// The connection on that node.
        package var connection: UInt64

        /// A context.
        package init(node: String, connection: UInt64) {
            self.node = node
            self.connection = connection
        }
    }

    private struct Presence: Sendable {
        /// Each context's info, and when it joined or was updated (a counter: the latest wins).
        var contexts: [Context: (info: JSONValue?, stamp: UInt64)] = [:]

        var info: JSONValue? { contexts.values.max { $0.stamp < $1.stamp }?.info }
    }

    /// channel → user → presence.
    private var channels: [ChannelName: [String: Presence]] = [:]
    /// context → where it is (a context is on one channel per entry).
    private var places: [Context: [ChannelName: String]] = [:]
    /// node incarnation → the time its lease ends.
    private var leases: [String: Double] = [:]
    private var stamp: UInt64 = 0

    /// An empty table.
    package init() {}

    /// `context` of `user` joins `channel` with `info`; a context already there only updates its
    /// info. Returns the changes to push: none, one, or (when the context spoke for another user on
    /// the channel before) that user's leave first.
    package mutating func join(
        _ channel: ChannelName, user: String, context: Context, info: JSONValue?, maxUsers: Int
    ) throws(PresenceLimitReached) -> [PresenceChange] {
        if channels[channel]?[user] == nil, (channels[channel]?.count ?? 0) >= maxUsers {
            throw PresenceLimitReached(channel: channel, maxUsers: maxUsers)
        }
        var changes: [PresenceChange] = []
        if let present = places[context]?[channel], present != user, let left = leave(channel, context: context) {
            changes.append(left)
        }
        var presence = channels[channel]?[user] ?? Presence()
        let before = channels[channel]?[user].map { $0.info }
        stamp += 1
        presence.contexts[context] = (info, stamp)
        channels[channel, default: [:]][user] = presence
        places[context, default: [:]][channel] = user
        if let before {
            if before != presence.info { changes.append(.update(channel, user: user, info: presence.info)) }
        } else {
            changes.append(.join(channel, user: user, info: info))
        }
        return changes
    }

    /// `context` sets new info for its user on `channel` (a refreshed token, say).
    package mutating func update(_ channel: ChannelName, context: Context, info: JSONValue?) -> PresenceChange? {
        guard let user = places[context]?[channel], var presence = channels[channel]?[user] else { return nil }
        let before = presence.info
        stamp += 1
        presence.contexts[context] = (info, stamp)
        channels[channel]?[user] = presence
        return before == presence.info ? nil : .update(channel, user: user, info: presence.info)
    }

    /// `context` leaves `channel` (it unsubscribed, or closed). Returns the change to push, if any.
    package mutating func leave(_ channel: ChannelName, context: Context) -> PresenceChange? {
        guard let user = places[context]?.removeValue(forKey: channel) else { return nil }
        if places[context]?.isEmpty == true { places[context] = nil }
        guard var presence = channels[channel]?[user] else { return nil }
        let before = presence.info
        presence.contexts[context] = nil
        if presence.contexts.isEmpty {
            channels[channel]?[user] = nil
            if channels[channel]?.isEmpty == true { channels[channel] = nil }
            return .leave(channel, user: user)
        }
        channels[channel]?[user] = presence
        return before == presence.info ? nil : .update(channel, user: user, info: presence.info)
    }

    /// `context` closed: it leaves every channel it was on.
    package mutating func closed(_ context: Context) -> [PresenceChange] {
        let channelsOfContext = (places[context] ?? [:]).keys.sorted()
        return channelsOfContext.compactMap { leave($0, context: context) }
    }

    /// Who is present on `channel`, sorted by user.
    package func members(of channel: ChannelName) -> [PresenceMember] {
        (channels[channel] ?? [:]).map { user, presence in
            PresenceMember(user: user, contexts: presence.contexts.count, info: presence.info)
        }.sorted { $0.user < $1.user }
    }

    /// How many users, and how many contexts of theirs, are present on `channel`.
    package func stats(of channel: ChannelName) -> PresenceStats {
        let users = channels[channel] ?? [:]
        return PresenceStats(users: users.count, contexts: users.values.reduce(0) { $0 + $1.contexts.count })
    }

    /// `node`'s lease now ends at `until` (a node renews it while it lives).
    package mutating func renew(node: String, until: Double) {
        leases[node] = until
    }

    /// The contexts of every node whose lease ended by `now` leave (a node that died, or an old
    /// incarnation of a restarted one); returns the changes, channel by channel.
    package mutating func expire(now: Double) -> [PresenceChange] {
        let ended = leases.filter { $0.value <= now }.keys.sorted()
        return ended.flatMap { dropNode($0) }
    }

    /// Every context of `node` leaves, and its lease is forgotten.
    package mutating func dropNode(_ node: String) -> [PresenceChange] {
        leases[node] = nil
        let contexts = places.keys.filter { $0.node == node }.sorted { $0.connection < $1.connection }
        return contexts.flatMap { closed($0) }
    }
}

/// A channel holds `presence.maxUsers` present users already: a new user is refused (their
/// existing contexts, and the others, are untouched). Raise the limit or use narrower channels.
package struct PresenceLimitReached: Error, Equatable, Sendable, CustomStringConvertible {
    /// The channel.
    package let channel: ChannelName
    /// Its limit of present users.
    package let maxUsers: Int

    /// The refusal of a new user on `channel`, full at `maxUsers`.
    package init(channel: ChannelName, maxUsers: Int) {
        self.channel = channel
        self.maxUsers = maxUsers
    }

    /// What happened and what to do.
    package var description: String {
        "presence on \(channel) is full (\(maxUsers) users): a new user cannot join until one leaves; raise the namespace's presenceMaxUsers or use narrower channels"
    }
}

extension PresenceTable {
    /// The node of engines that have only one (memory, SQLite): no lease, since the table lives
    /// and dies with the process that holds every context.
    private static let localNode = "local"

    /// ``join(_:user:context:info:maxUsers:)`` for a connection of the one local node.
    package mutating func join(
        _ channel: ChannelName, user: String, connection: UInt64, info: JSONValue?, maxUsers: Int
    ) -> (PresenceJoin, [PresenceChange]) {
        do {
            let changes = try join(channel, user: user, context: Context(node: Self.localNode, connection: connection), info: info, maxUsers: maxUsers)
            return (.joined, changes)
        } catch {
            return (.full(maxUsers: error.maxUsers), [])
        }
    }

    /// ``leave(_:context:)`` of each of `channels` for a connection of the one local node.
    package mutating func leave(_ channels: [ChannelName], connection: UInt64) -> [PresenceChange] {
        channels.compactMap { leave($0, context: Context(node: Self.localNode, connection: connection)) }
    }
}
