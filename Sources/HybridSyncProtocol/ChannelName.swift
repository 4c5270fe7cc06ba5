/// A validated channel name: `namespace:name`, for example `moderation:bans`.
///
/// The namespace is 1–64 characters of `a-z 0-9 _ -`; the name is 1–190 characters of
/// `A-Z a-z 0-9 _ - . # @ = /`. Validation happens once, where the name enters the system.
public struct ChannelName: Hashable, Sendable, CustomStringConvertible, Comparable {
    /// The name as written, for example `user:user#42`.
    public let rawValue: String
    /// The part before the colon.
    public let namespace: Substring
    /// The part after the colon.
    public let name: Substring

    /// Why a channel name was refused.
    public struct InvalidName: Error, Sendable, CustomStringConvertible {
        /// The reason, for logs and failure messages.
        public let description: String
    }

    /// A channel name checked against the grammar of docs/PROTOCOL.md; throws ``InvalidName`` saying what is wrong.
    public init(_ rawValue: String) throws(InvalidName) {
        guard let colon = rawValue.firstIndex(of: ":") else {
            throw InvalidName(description: "channel '\(rawValue.prefix(80))' has no namespace: use 'namespace:name'")
        }
        let namespace = rawValue[..<colon]
        let name = rawValue[rawValue.index(after: colon)...]
        guard (1...64).contains(namespace.utf8.count),
              namespace.utf8.allSatisfy({ Self.namespaceBytes.contains($0) })
        else {
            throw InvalidName(description: "channel namespace '\(namespace.prefix(80))' must be 1-64 characters of a-z, 0-9, '_' or '-'")
        }
        guard (1...190).contains(name.utf8.count), name.utf8.allSatisfy({ Self.nameBytes.contains($0) }) else {
            throw InvalidName(description: "channel name '\(name.prefix(80))' must be 1-190 characters of A-Z, a-z, 0-9 or _ - . # @ = /")
        }
        self.rawValue = rawValue
        self.namespace = namespace
        self.name = name
    }

    /// The name as written.
    public var description: String { rawValue }

    /// Ordered by the name's text.
    public static func < (lhs: ChannelName, rhs: ChannelName) -> Bool { lhs.rawValue < rhs.rawValue }

    private static let namespaceBytes: Set<UInt8> = Set("abcdefghijklmnopqrstuvwxyz0123456789_-".utf8)
    private static let nameBytes: Set<UInt8> = Set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.#@=/".utf8
    )
}
