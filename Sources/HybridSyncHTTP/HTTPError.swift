import HybridSyncProtocol

/// Every error answer the daemon's HTTP listeners make: a status, a stable `error.code` and a
/// message that says what to do, sent as `{"error":{"code":"...","message":"..."}}`.
///
/// One table for the backend API (docs/API.md), the HTTP edge (the parser and the upgrade: 400,
/// 403, 413, 426, 431, 501, 505) and the pages (405). `DocumentedContractTests` keeps it equal to
/// the guides' tables.
public struct HTTPError: Error, Sendable, Equatable, CustomStringConvertible {
    private enum Kind: CaseIterable, Sendable {
        case badRequest, invalidChannel, stateNotRetained, presenceDisabled, unauthorized, originNotAllowed, notFound, methodNotAllowed
        case idempotencyConflict, payloadTooLarge, upgradeRequired, rateLimited, headersTooLarge
        case notImplemented, engineUnavailable, shuttingDown, httpVersionNotSupported

        var status: Int {
            switch self {
            case .badRequest, .invalidChannel, .stateNotRetained, .presenceDisabled: 400
            case .unauthorized: 401
            case .originNotAllowed: 403
            case .notFound: 404
            case .methodNotAllowed: 405
            case .idempotencyConflict: 409
            case .payloadTooLarge: 413
            case .upgradeRequired: 426
            case .rateLimited: 429
            case .headersTooLarge: 431
            case .notImplemented: 501
            case .engineUnavailable, .shuttingDown: 503
            case .httpVersionNotSupported: 505
            }
        }

        var code: String {
            switch self {
            case .badRequest: "bad_request"
            case .invalidChannel: "invalid_channel"
            case .stateNotRetained: "state_not_retained"
            case .presenceDisabled: "presence_disabled"
            case .unauthorized: "unauthorized"
            case .originNotAllowed: "origin_not_allowed"
            case .notFound: "not_found"
            case .methodNotAllowed: "method_not_allowed"
            case .idempotencyConflict: "idempotency_conflict"
            case .payloadTooLarge: "payload_too_large"
            case .upgradeRequired: "upgrade_required"
            case .rateLimited: "rate_limited"
            case .headersTooLarge: "headers_too_large"
            case .notImplemented: "not_implemented"
            case .engineUnavailable: "engine_unavailable"
            case .shuttingDown: "shutting_down"
            case .httpVersionNotSupported: "http_version_not_supported"
            }
        }
    }

    private let kind: Kind
    /// What was wrong and what to do, for the caller and the log.
    public var message: String
    /// The methods the route answers, sent as `Allow` with a 405.
    public var allow: String?

    private init(_ kind: Kind, _ message: String, allow: String? = nil) {
        self.kind = kind
        self.message = message
        self.allow = allow
    }

    /// The HTTP status.
    public var status: Int { kind.status }
    /// The stable `error.code` of the body.
    public var code: String { kind.code }
    /// `status code: message`.
    public var description: String { "\(status) \(code): \(message)" }

    /// The answer: the error body, with `Allow` for a 405.
    public var response: HTTPResponse {
        var response = HTTPResponse(status: status, json: .object(["error": .object(["code": .string(code), "message": .string(message)])]))
        if let allow { response.headers["Allow"] = allow }
        return response
    }

    /// 400 `bad_request`: malformed HTTP, or the body or one of its fields is wrong; `message` says which.
    public static func badRequest(_ message: String) -> HTTPError { HTTPError(.badRequest, message) }
    /// 400 `invalid_channel`: a bad channel name, or its namespace is not configured.
    public static func invalidChannel(_ message: String) -> HTTPError { HTTPError(.invalidChannel, message) }
    /// 400 `state_not_retained`: retained state asked of a namespace that keeps none.
    public static func stateNotRetained(_ message: String) -> HTTPError { HTTPError(.stateNotRetained, message) }
    /// 400 `presence_disabled`: presence asked of a namespace that keeps none.
    public static func presenceDisabled(_ message: String) -> HTTPError { HTTPError(.presenceDisabled, message) }
    /// 401 `unauthorized`: no API key, or a wrong one.
    public static func unauthorized(_ message: String) -> HTTPError { HTTPError(.unauthorized, message) }
    /// 403 `origin_not_allowed`: a browser origin not in `server.allowedOrigins` asked to upgrade.
    public static func originNotAllowed(_ message: String) -> HTTPError { HTTPError(.originNotAllowed, message) }
    /// 404 `not_found`: no such route.
    public static func notFound(_ message: String) -> HTTPError { HTTPError(.notFound, message) }
    /// 405 `method_not_allowed`: the path answers `allow` (sent as the `Allow` header) only.
    public static func methodNotAllowed(_ message: String, allow: String) -> HTTPError {
        HTTPError(.methodNotAllowed, message, allow: allow)
    }
    /// 409 `idempotency_conflict`: an idempotency key reused with another body.
    public static func idempotencyConflict(_ message: String) -> HTTPError { HTTPError(.idempotencyConflict, message) }
    /// 413 `payload_too_large`: a body over the listener's limit (not read).
    public static func payloadTooLarge(_ message: String) -> HTTPError { HTTPError(.payloadTooLarge, message) }
    /// 426 `upgrade_required`: an HTTP request where only a WebSocket upgrade is served, or an
    /// unsupported WebSocket version.
    public static func upgradeRequired(_ message: String) -> HTTPError { HTTPError(.upgradeRequired, message) }
    /// 429 `rate_limited`: over `api.maxRequestsPerSecond`.
    public static func rateLimited(_ message: String) -> HTTPError { HTTPError(.rateLimited, message) }
    /// 431 `headers_too_large`: a request head over the byte or field limit.
    public static func headersTooLarge(_ message: String) -> HTTPError { HTTPError(.headersTooLarge, message) }
    /// 501 `not_implemented`: `Transfer-Encoding` (send `Content-Length`).
    public static func notImplemented(_ message: String) -> HTTPError { HTTPError(.notImplemented, message) }
    /// 503 `engine_unavailable`: the storage engine could not store or read.
    public static func engineUnavailable(_ message: String) -> HTTPError { HTTPError(.engineUnavailable, message) }
    /// 503 `shutting_down`: the server is stopping and takes no new WebSockets.
    public static func shuttingDown(_ message: String) -> HTTPError { HTTPError(.shuttingDown, message) }
    /// 505 `http_version_not_supported`: not HTTP/1.x.
    public static func httpVersionNotSupported(_ message: String) -> HTTPError { HTTPError(.httpVersionNotSupported, message) }

    /// Every (status, code) of the table, for the documentation checks.
    package static var table: [(status: Int, code: String)] { Kind.allCases.map { ($0.status, $0.code) } }
}
