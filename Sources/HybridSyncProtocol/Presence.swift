/// A present user.
public struct PresenceMember: Sendable, Equatable {
    /// The user's id (the token's `sub`).
    public var user: String
    /// Their live contexts on the channel, on every node.
    public var contexts: Int
    /// The info of their most recently joined or updated context, if it has any.
    public var info: JSONValue?

    /// A member.
    public init(user: String, contexts: Int, info: JSONValue?) {
        self.user = user
        self.contexts = contexts
        self.info = info
    }
}

/// How many users are present on a channel, and how many contexts they have there.
public struct PresenceStats: Sendable, Equatable {
    /// Present users.
    public var users: Int
    /// Their live contexts (a user with two tabs counts two).
    public var contexts: Int

    /// Counts.
    public init(users: Int, contexts: Int) {
        self.users = users
        self.contexts = contexts
    }
}

/// A change of a channel's presence: the `join`, `leave` and `presence_update` pushes.
public struct PresenceChange: Sendable, Equatable, CustomStringConvertible {
    /// What changed.
    public enum Kind: String, Sendable {
        /// The user's first context joined (push `join`).
        case join
        /// The user's last context left (push `leave`).
        case leave
        /// A present user's info changed: one change, never a leave and a join (push `presence_update`).
        case update = "presence_update"
    }

    /// What changed.
    public var kind: Kind
    /// The channel it is about.
    public var channel: ChannelName
    /// The user it is about.
    public var user: String
    /// The user's info after the change (nil for a leave, or a user without info).
    public var info: JSONValue?

    /// A change.
    public init(_ kind: Kind, _ channel: ChannelName, user: String, info: JSONValue?) {
        self.kind = kind
        self.channel = channel
        self.user = user
        self.info = kind == .leave ? nil : info
    }

    /// `user`'s first context joined `channel`.
    public static func join(_ channel: ChannelName, user: String, info: JSONValue?) -> PresenceChange {
        PresenceChange(.join, channel, user: user, info: info)
    }

    /// `user`'s last context left `channel`.
    public static func leave(_ channel: ChannelName, user: String) -> PresenceChange {
        PresenceChange(.leave, channel, user: user, info: nil)
    }

    /// A present user's info changed.
    public static func update(_ channel: ChannelName, user: String, info: JSONValue?) -> PresenceChange {
        PresenceChange(.update, channel, user: user, info: info)
    }

    /// `join 42 on room:1`, for logs and test failures.
    public var description: String { "\(kind.rawValue) \(user) on \(channel)" }
}

extension PresenceMember {
    /// `{"user":…,"contexts":…,"info":…}` (`info` null when it has none).
    public var json: JSONValue {
        ["user": .string(user), "contexts": .int(Int64(contexts)), "info": info ?? .null]
    }

    /// Reads ``json``; nil when a member is missing or mistyped.
    public init?(_ json: JSONValue) {
        guard let user = json["user"]?.stringValue, let contexts = json["contexts"]?.intValue else { return nil }
        self.init(user: user, contexts: Int(contexts), info: json["info"].flatMap { $0 == .null ? JSONValue?.none : $0 })
    }
}

extension PresenceChange {
    /// The push: `{"push":"join"|"leave"|"presence_update","channel":…,"user":…,"info":…}`
    /// (`leave` has no `info`).
    public var pushJSON: JSONValue {
        var members: [String: JSONValue] = ["push": .string(kind.rawValue), "channel": .string(channel.rawValue), "user": .string(user)]
        if kind != .leave { members["info"] = info ?? .null }
        return .object(members)
    }

    /// Reads ``pushJSON``; nil when it is not a presence push or a member is missing.
    public init?(pushJSON json: JSONValue) {
        guard let push = json["push"]?.stringValue, let kind = Kind(rawValue: push), let raw = json["channel"]?.stringValue,
              let channel = try? ChannelName(raw), let user = json["user"]?.stringValue else { return nil }
        self.init(kind, channel, user: user, info: json["info"].flatMap { $0 == .null ? JSONValue?.none : $0 })
    }
}

/// The result of `presence`: who is present on the channel.
public struct PresenceResult: Sendable, Equatable {
    /// The channel asked about.
    public var channel: ChannelName
    /// Its present users, sorted by user.
    public var members: [PresenceMember]

    /// A presence answer.
    public init(channel: ChannelName, members: [PresenceMember]) {
        self.channel = channel
        self.members = members
    }

    /// `{"channel":…,"members":[…]}`.
    public var json: JSONValue {
        ["channel": .string(channel.rawValue), "members": .array(members.map(\.json))]
    }

    /// Reads ``json``; nil when a member is missing or malformed.
    public init?(_ json: JSONValue) {
        guard let raw = json["channel"]?.stringValue, let channel = try? ChannelName(raw), case .array(let items)? = json["members"] else {
            return nil
        }
        let members = items.compactMap(PresenceMember.init)
        guard members.count == items.count else { return nil }
        self.init(channel: channel, members: members)
    }
}
