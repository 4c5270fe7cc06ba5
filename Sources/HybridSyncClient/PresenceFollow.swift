public import HybridSyncProtocol

/// A user present on a channel, as ``MicroApp/observePresence(_:)`` follows it live.
public struct PresentUser: Sendable, Equatable {
    /// The user's id (their token's `sub`).
    public let user: String
    /// The info the user shows (that of their most recently subscribed connection), if any.
    public let info: JSONValue?

    /// A present user.
    public init(user: String, info: JSONValue?) {
        self.user = user
        self.info = info
    }
}

/// One channel's present users as a runtime follows them (docs/PROTOCOL.md "Presence"): a
/// `presence` read, with every push received since the read was sent applied on top. Pure: the
/// runtime sends the reads and yields the lists.
///
/// Why that converges: a channel's pushes come in order, and each says a user's whole state
/// (present with this info, or gone). A push held from before the read was sent only restates
/// what the read holds, or is followed by a newer push of the same user that is held too; so
/// holding pushes from *before* the read is safe, and only holding them from *after* would not be.
struct PresenceFollow {
    private var users: [String: PresentUser]?
    private var held: [PresenceChange] = []
    private var read: UInt64?

    /// A follow with no list yet (the first read has not answered).
    init() {}

    /// The present users sorted by user; nil until a read has answered.
    var list: [PresentUser]? { users.map { $0.values.sorted { $0.user < $1.user } } }

    /// Whether a read is out (its answer not in yet).
    var isReading: Bool { read != nil }

    /// A read went out as `ticket`: pushes are held from now until it answers.
    mutating func reading(_ ticket: UInt64) {
        read = ticket
        held = []
    }

    /// Read `ticket` answered with `members`: they are the list, with the held pushes applied on
    /// top. False for an answer that is not the latest read's (it is ignored).
    mutating func answered(_ ticket: UInt64, _ members: [PresenceMember]) -> Bool {
        guard read == ticket else { return false }
        read = nil
        users = Dictionary(members.map { ($0.user, PresentUser(user: $0.user, info: $0.info)) }) { _, last in last }
        for change in held { _ = apply(change) }
        held = []
        return true
    }

    /// Read `ticket` failed (the connection went, or it timed out): pushes apply to the list held
    /// until the next read.
    mutating func failed(_ ticket: UInt64) {
        guard read == ticket else { return }
        read = nil
        held = []
    }

    /// A push about this channel: held while a read is out, else applied. True when the list changed.
    mutating func pushed(_ change: PresenceChange) -> Bool {
        guard read == nil else {
            held.append(change)
            return false
        }
        return apply(change)
    }

    private mutating func apply(_ change: PresenceChange) -> Bool {
        guard users != nil else { return false }
        switch change.kind {
        case .join, .update:
            let user = PresentUser(user: change.user, info: change.info)
            return users?.updateValue(user, forKey: change.user) != user
        case .leave:
            return users?.removeValue(forKey: change.user) != nil
        }
    }
}
