#if canImport(FoundationNetworking)
import Foundation
public import FoundationNetworking  // URLSession, in the public initialiser, lives here on Linux
#else
public import Foundation
#endif
public import HybridSyncProtocol

/// A typed client for hybridsyncd's backend HTTP API (docs/API.md), for backend services written
/// in Swift, the `hybridsync` CLI and tests.
///
/// ```swift
/// let api = BackendAPIClient(baseURL: "http://127.0.0.1:8081", apiKey: key)
/// try await api.ban(user: "42", reason: "spam")
/// ```
/// Every call throws ``Failure`` when the API answers with an error status (its `code` is the
/// body's `error.code`, docs/API.md) and ``Unreachable`` when no answer came at all.
public struct BackendAPIClient: Sendable {
    /// How requests reach the API: HTTP (``HTTPBackendTransport``) or, in tests, an in-memory server.
    public let transport: any BackendAPITransport
    /// The API key sent as `Authorization: Bearer <key>`.
    public let apiKey: String

    /// A client for the API at `baseURL` (a trailing `/` is dropped) with `apiKey`.
    public init(baseURL: String, apiKey: String, session: URLSession = .shared) {
        self.init(transport: HTTPBackendTransport(baseURL: baseURL, session: session), apiKey: apiKey)
    }

    /// A client whose requests go through `transport` with `apiKey`.
    public init(transport: any BackendAPITransport, apiKey: String) {
        self.transport = transport
        self.apiKey = apiKey
    }

    /// A raw response: status code and body (parsed as JSON when it is JSON).
    public struct Response: Sendable {
        /// The HTTP status code.
        public var status: Int
        /// The body as received.
        public var body: [UInt8]

        /// A response with `status` and `body`.
        public init(status: Int, body: [UInt8]) {
            self.status = status
            self.body = body
        }
        /// The body parsed as JSON, nil when it is not JSON.
        public var json: JSONValue? { try? JSONValue.parse(body) }
    }

    /// The API answered with an error status.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        /// The HTTP status code.
        public let status: Int
        /// The `error.code` string of the body (`unauthorized`, `invalid_channel` …), if there was one.
        public let code: String?
        /// The body's `error.message` (what to do), or the start of the body.
        public let message: String
        /// Status, code and message on one line.
        public var description: String { "HTTP \(status) \(code ?? "-"): \(message)" }
    }

    /// No answer: the daemon is not listening there, or the connection broke.
    public struct Unreachable: Error, Sendable, CustomStringConvertible {
        /// The URL that was asked.
        public let url: String
        /// Why no answer came (refused, reset, timed out …).
        public let reason: String

        /// `url` gave no answer, for `reason`.
        public init(url: String, reason: String) {
            self.url = url
            self.reason = reason
        }
        /// The URL and the reason on one line.
        public var description: String { "cannot reach \(url): \(reason)" }
    }

    /// Sends any request; `authorization` nil sends the configured key, "" sends none. A cancelled
    /// caller gets `CancellationError` at once (the request may still reach the daemon).
    public func send(method: String, path: String, body: [UInt8]? = nil, authorization: String? = nil) async throws -> Response {
        let header = authorization ?? "Bearer \(apiKey)"
        return try await transport.send(method: method, path: path, body: body, authorization: header.isEmpty ? nil : header)
    }

    /// Sends a request with a JSON body and returns the JSON answer (``Failure`` for a non-2xx status).
    public func request(_ method: String, _ path: String, _ body: JSONValue? = nil) async throws -> JSONValue {
        let response = try await send(method: method, path: path, body: body?.jsonBytes)
        return try Self.decode(status: response.status, body: response.body)
    }

    /// Reads an answer body as JSON, throwing ``Failure`` for a non-2xx status.
    public static func decode(status: Int, body: [UInt8]) throws -> JSONValue {
        let json = try? JSONValue.parse(body)
        guard (200..<300).contains(status), let json else {
            let error = json?["error"]
            throw Failure(
                status: status, code: error?["code"]?.stringValue,
                message: error?["message"]?.stringValue ?? String(decoding: body.prefix(200), as: UTF8.self)
            )
        }
        return json
    }

    /// A channel name as a path segment (`#` and `/` percent-encoded, docs/API.md).
    public static func pathSegment(_ channel: String) -> String {
        channel.replacingOccurrences(of: "%", with: "%25").replacingOccurrences(of: "#", with: "%23")
            .replacingOccurrences(of: "/", with: "%2F").replacingOccurrences(of: "?", with: "%3F")
    }
}

extension BackendAPIClient {
    /// `POST /api/publish`: the result object (`channel`, `offset`, `subscribers`, `version` with `key`).
    @discardableResult
    public func publish(channel: String, data: JSONValue, key: String? = nil, idempotencyKey: String? = nil) async throws -> JSONValue {
        var body: [String: JSONValue] = ["channel": .string(channel), "data": data]
        if let key { body["key"] = .string(key) }
        if let idempotencyKey { body["idempotencyKey"] = .string(idempotencyKey) }
        return try await request("POST", "/api/publish", .object(body))
    }

    /// `POST /api/broadcast`: one publication per channel, all or none.
    @discardableResult
    public func broadcast(channels: [String], data: JSONValue, idempotencyKey: String? = nil) async throws -> JSONValue {
        var body: [String: JSONValue] = ["channels": .array(channels.map { .string($0) }), "data": data]
        if let idempotencyKey { body["idempotencyKey"] = .string(idempotencyKey) }
        return try await request("POST", "/api/broadcast", .object(body))
    }

    /// `POST /api/state/set`.
    @discardableResult
    public func setState(channel: String, key: String, value: JSONValue) async throws -> JSONValue {
        try await request("POST", "/api/state/set", ["channel": .string(channel), "key": .string(key), "value": value])
    }

    /// `POST /api/state/remove`.
    @discardableResult
    public func removeState(channel: String, key: String) async throws -> JSONValue {
        try await request("POST", "/api/state/remove", ["channel": .string(channel), "key": .string(key)])
    }

    /// `GET /api/state/<channel>`: `epoch`, `offset` and `state` (key → value and version).
    public func state(channel: String) async throws -> JSONValue {
        try await request("GET", "/api/state/\(Self.pathSegment(channel))")
    }

    /// `GET /api/history/<channel>`: `epoch`, `offset` and the `publications` still in history.
    public func history(channel: String) async throws -> JSONValue {
        try await request("GET", "/api/history/\(Self.pathSegment(channel))")
    }

    /// `GET /api/presence/<channel>`: who is present, on every node (a namespace with presence).
    public func presence(channel: String) async throws -> JSONValue {
        try await request("GET", "/api/presence/\(Self.pathSegment(channel))")
    }

    /// `GET /api/presence_stats/<channel>`: how many users and connections are present.
    public func presenceStats(channel: String) async throws -> JSONValue {
        try await request("GET", "/api/presence_stats/\(Self.pathSegment(channel))")
    }

    /// `GET /api/channels/<channel>`: subscribers and position.
    public func channelInfo(_ channel: String) async throws -> JSONValue {
        try await request("GET", "/api/channels/\(Self.pathSegment(channel))")
    }

    /// `POST /api/ban`: until `until` (seconds since 1970) or until lifted.
    @discardableResult
    public func ban(user: String, reason: String, until: Double? = nil) async throws -> JSONValue {
        var body: [String: JSONValue] = ["user": .string(user), "reason": .string(reason)]
        if let until { body["until"] = .double(until) }
        return try await request("POST", "/api/ban", .object(body))
    }

    /// `DELETE /api/ban/<user>`: `lifted` says whether there was a ban.
    @discardableResult
    public func unban(user: String) async throws -> JSONValue {
        try await request("DELETE", "/api/ban/\(Self.pathSegment(user))")
    }

    /// `GET /api/sessions/<user>`: the user's live sessions on the node that answers.
    public func sessions(of user: String) async throws -> JSONValue {
        try await request("GET", "/api/sessions/\(Self.pathSegment(user))")
    }

    /// `GET /api/bans`: every ban that holds now.
    public func bans() async throws -> JSONValue {
        try await request("GET", "/api/bans")
    }

    /// `POST /api/disconnect`: closes the user's sockets with `code` (4000–4499: reconnect).
    @discardableResult
    public func disconnect(user: String, code: UInt16 = 4504, reason: String? = nil) async throws -> JSONValue {
        var body: [String: JSONValue] = ["user": .string(user), "code": .int(Int64(code))]
        if let reason { body["reason"] = .string(reason) }
        return try await request("POST", "/api/disconnect", .object(body))
    }

    /// `GET /health`.
    public func health() async throws -> JSONValue {
        try await request("GET", "/health")
    }
}
