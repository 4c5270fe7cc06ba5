import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
public import HybridSyncProtocol

/// A client for hybridsyncd's backend HTTP API (docs/API.md), as a backend service would use it.
public struct BackendAPIClient: Sendable {
    /// For example `http://127.0.0.1:8081`.
    public let baseURL: String
    public let apiKey: String

    public init(baseURL: String, apiKey: String) {
        self.baseURL = baseURL
        self.apiKey = apiKey
    }

    /// A raw response: status code and body (parsed as JSON when it is JSON).
    public struct Response: Sendable {
        public var status: Int
        public var body: [UInt8]
        public var json: JSONValue? { try? JSONValue.parse(body) }
    }

    /// The API answered with an error status.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public let status: Int
        /// The `error.code` string of the body, if there was one.
        public let code: String?
        public let message: String
        public var description: String { "HTTP \(status) \(code ?? ""): \(message)" }
    }

    /// Sends any request; `authorization` nil sends the configured key, "" sends none.
    public func send(method: String, path: String, body: [UInt8]? = nil, authorization: String? = nil) async throws -> Response {
        guard let url = URL(string: baseURL + path) else { throw Failure(status: 0, code: nil, message: "bad URL \(baseURL + path)") }
        var request = URLRequest(url: url)
        request.httpMethod = method
        let header = authorization ?? "Bearer \(apiKey)"
        if !header.isEmpty { request.setValue(header, forHTTPHeaderField: "Authorization") }
        if let body {
            request.httpBody = Data(body)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        let (data, response) = try await URLSession.shared.data(for: request)
        return Response(status: (response as? HTTPURLResponse)?.statusCode ?? 0, body: Array(data))
    }

    /// `POST /api/publish`: returns the result object (`channel`, `offset`, `subscribers`).
    @discardableResult
    public func publish(channel: String, data: JSONValue) async throws -> JSONValue {
        try await json(method: "POST", path: "/api/publish", body: .object(["channel": .string(channel), "data": data]))
    }

    /// `GET /health`.
    public func health() async throws -> JSONValue {
        try await json(method: "GET", path: "/health", body: nil)
    }

    /// `GET /api/channels/<channel>`: subscribers and position.
    public func channelInfo(_ channel: String) async throws -> JSONValue {
        try await json(method: "GET", path: "/api/channels/\(channel)", body: nil)
    }

    private func json(method: String, path: String, body: JSONValue?) async throws -> JSONValue {
        let response = try await send(method: method, path: path, body: body?.jsonBytes)
        return try Self.decode(status: response.status, body: response.body)
    }
}
