/// WebSocket close codes sent by the server, and what a client must do about each.
///
/// 4000–4499 mean "reconnect" (with backoff); 4500–4999 mean "do not reconnect" until
/// something changes (a new token, an unban). Codes below 4000 are RFC 6455's own.
public struct CloseCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    // RFC 6455 codes the server uses.
    /// 1000: normal closure (the client asked to close).
    public static let normal = CloseCode(rawValue: 1000)
    /// 1002: the peer broke RFC 6455 (an unmasked frame, reserved bits, bad fragmentation).
    public static let protocolError = CloseCode(rawValue: 1002)
    /// 1003: the peer sent a binary frame; the protocol is text only.
    public static let unsupportedData = CloseCode(rawValue: 1003)
    /// 1007: a text message (or close reason) that is not valid UTF-8.
    public static let invalidPayload = CloseCode(rawValue: 1007)
    /// 1009: a message exceeded the server's maximum inbound size.
    public static let messageTooBig = CloseCode(rawValue: 1009)

    // Reconnect (4000–4499).
    /// 4000: the server is shutting down or restarting; reconnect with backoff.
    public static let shutdown = CloseCode(rawValue: 4000)
    /// 4001: the client read too slowly and its outbound queue overflowed; reconnect and recover.
    public static let slowConsumer = CloseCode(rawValue: 4001)
    /// 4002: the connection's token expired; refresh the token, then reconnect.
    public static let tokenExpired = CloseCode(rawValue: 4002)
    /// 4003: no `connect` command arrived in time after the socket opened.
    public static let connectTimeout = CloseCode(rawValue: 4003)
    /// 4004: the client stopped answering pings.
    public static let noPong = CloseCode(rawValue: 4004)
    /// 4005: the server asked this client to reconnect (for example after an operator action).
    public static let forceReconnect = CloseCode(rawValue: 4005)
    /// 4006: the client sent commands faster than its rate limit.
    public static let tooManyRequests = CloseCode(rawValue: 4006)
    /// 4007: an internal server error ended the connection. Reserved: the server itself does not
    /// send it; an operator may (`POST /api/disconnect`).
    public static let internalError = CloseCode(rawValue: 4007)

    // Do not reconnect (4500–4999).
    /// 4500: the token is invalid (bad signature, wrong algorithm, malformed, wrong audience).
    public static let invalidToken = CloseCode(rawValue: 4500)
    /// 4501: the user is banned; the `banned` push before the close says why and until when.
    public static let banned = CloseCode(rawValue: 4501)
    /// 4502: the client broke the protocol in a way that retrying cannot fix. Reserved: the server
    /// itself does not send it; an operator may (`POST /api/disconnect`).
    public static let badRequest = CloseCode(rawValue: 4502)
    /// 4503: the client is not allowed to do what it asked. Reserved: the server itself does not
    /// send it; an operator may (`POST /api/disconnect`).
    public static let permissionDenied = CloseCode(rawValue: 4503)
    /// 4504: an operator disconnected the client for good.
    public static let forceDisconnect = CloseCode(rawValue: 4504)

    /// Whether a client should reconnect after this code.
    ///
    /// Codes the server never sends (1000–3999 other than the ones above) count as "reconnect":
    /// a network drop or a proxy closing the socket must not strand a client.
    public var shouldReconnect: Bool {
        !(4500...4999).contains(rawValue)
    }

    /// A short stable name, used in logs and as the close reason.
    public var name: String {
        Self.names[rawValue] ?? "code \(rawValue)"
    }

    public var description: String { "\(rawValue) (\(name))" }

    /// Every code of docs/PROTOCOL.md's table (a test keeps the two equal).
    public static let all: [CloseCode] = [
        .normal, .protocolError, .unsupportedData, .invalidPayload, .messageTooBig,
        .shutdown, .slowConsumer, .tokenExpired, .connectTimeout, .noPong, .forceReconnect,
        .tooManyRequests, .internalError,
        .invalidToken, .banned, .badRequest, .permissionDenied, .forceDisconnect,
    ]

    private static let names: [UInt16: String] = [
        1000: "normal", 1002: "protocol error", 1003: "unsupported data", 1007: "invalid payload", 1009: "message too big",
        4000: "shutdown", 4001: "slow consumer", 4002: "token expired", 4003: "connect timeout",
        4004: "no pong", 4005: "force reconnect", 4006: "too many requests", 4007: "internal error",
        4500: "invalid token", 4501: "banned", 4502: "bad request", 4503: "permission denied",
        4504: "force disconnect",
    ]
}
