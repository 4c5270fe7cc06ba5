/// Error codes carried in command replies (`{"id":N,"error":{"code":...}}`).
public struct ErrorCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The number of docs/PROTOCOL.md's error table.
    public let rawValue: Int
    /// The code numbered `rawValue`.
    public init(rawValue: Int) { self.rawValue = rawValue }

    /// 100: the server failed; retrying later may help.
    public static let internalError = ErrorCode(rawValue: 100)
    /// 101: the token is missing, malformed, badly signed or uses an algorithm not configured.
    public static let unauthorized = ErrorCode(rawValue: 101)
    /// 102: the channel name is not valid, or its namespace is not configured on this server.
    public static let invalidChannel = ErrorCode(rawValue: 102)
    /// 103: the client may not do this on this channel.
    public static let permissionDenied = ErrorCode(rawValue: 103)
    /// 104: the `op` is not a command this server knows.
    public static let unknownCommand = ErrorCode(rawValue: 104)
    /// 105: the connection is already subscribed to this channel.
    public static let alreadySubscribed = ErrorCode(rawValue: 105)
    /// 106: a per-connection limit (for example channels) was reached.
    public static let limitExceeded = ErrorCode(rawValue: 106)
    /// 107: the command is malformed (not JSON, missing or mistyped fields).
    public static let badRequest = ErrorCode(rawValue: 107)
    /// 108: the command needs an authenticated connection; send `connect` first.
    public static let notConnected = ErrorCode(rawValue: 108)
    /// 109: the token has expired; get a fresh one.
    public static let tokenExpired = ErrorCode(rawValue: 109)
    /// 110: `connect` was already accepted on this connection.
    public static let alreadyConnected = ErrorCode(rawValue: 110)
    /// 111: the client sent too many commands; slow down.
    public static let tooManyRequests = ErrorCode(rawValue: 111)
    /// 112: the connection is not subscribed to this channel.
    public static let notSubscribed = ErrorCode(rawValue: 112)

    /// 113: the user is banned.
    public static let banned = ErrorCode(rawValue: 113)
    /// 114: the channel's namespace does not keep presence.
    public static let presenceDisabled = ErrorCode(rawValue: 114)
    /// 115: the channel holds its namespace's `presenceMaxUsers` present users; a new one cannot
    /// subscribe until one leaves.
    public static let presenceFull = ErrorCode(rawValue: 115)
    /// 116: the subscription token is missing where the namespace asks for one, or it cannot be
    /// valid for this subscription (signature, user, channel, no `exp`): ask the backend for another.
    public static let subscriptionTokenInvalid = ErrorCode(rawValue: 116)
    /// 117: the subscription token has expired: ask the backend for a fresh one.
    public static let subscriptionTokenExpired = ErrorCode(rawValue: 117)
    /// 118: the app backend (a connect or subscribe proxy) did not answer in time; retry shortly.
    public static let backendUnavailable = ErrorCode(rawValue: 118)
    /// 119: the app backend (the connect proxy) refused the connection; a close with 4503 follows.
    public static let refusedByBackend = ErrorCode(rawValue: 119)

    /// Whether retrying the same command later can succeed.
    public var isTemporary: Bool {
        self == .internalError || self == .tooManyRequests || self == .tokenExpired || self == .presenceFull || self == .subscriptionTokenExpired || self == .backendUnavailable
    }

    /// The number.
    public var description: String { "\(rawValue)" }
}

/// An error reply to a command, as sent on the wire.
public struct ReplyError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The error's number (docs/PROTOCOL.md's error table).
    public var code: ErrorCode
    /// What went wrong and what to do, for people.
    public var message: String
    /// Whether retrying the same command later may succeed.
    public var temporary: Bool

    /// An error with `code` and `message`; `temporary` defaults to what the code says.
    public init(_ code: ErrorCode, _ message: String, temporary: Bool? = nil) {
        self.code = code
        self.message = message
        self.temporary = temporary ?? code.isTemporary
    }

    /// `error <code>: <message>`.
    public var description: String { "error \(code.rawValue): \(message)" }
}
