/// An HTTP request, fully read (on the API listener, or a page request on the public one).
public struct HTTPRequest: Sendable, Equatable {
    /// Upper-case method name, for example `POST`.
    public var method: String
    /// The path without the query string, for example `/api/publish`.
    public var path: String
    /// The raw query string without `?`, or empty.
    public var query: String
    /// The `Authorization` header value, if any.
    public var authorization: String?
    /// The request body (empty without one).
    public var body: [UInt8]
    /// Every header field, names lower-cased; repeated fields joined with `, `.
    public var headers: [String: String]
    /// The query's `name=value` pairs, percent-decoded (as the transport read them).
    public var queryParameters: [String: String]

    /// A request as the transport read it (tests build them too).
    public init(
        method: String, path: String, query: String = "", authorization: String? = nil, body: [UInt8] = [],
        headers: [String: String] = [:], queryParameters: [String: String] = [:]
    ) {
        self.method = method
        self.path = path
        self.query = query
        self.authorization = authorization
        self.body = body
        self.headers = headers
        self.queryParameters = queryParameters
    }

    /// The value of the header field `name` (any case), if sent.
    public func header(_ name: String) -> String? { headers[name.lowercased()] }
}

/// Fixed pages a listener serves itself (files, a console), asked before anything else:
/// a response, or nil when the request is not for a page.
public typealias HTTPPages = @Sendable (HTTPRequest) -> HTTPResponse?

/// An HTTP response (a JSON body unless `contentType` says otherwise).
public struct HTTPResponse: Sendable, Equatable {
    /// The status code, for example 200.
    public var status: Int
    /// The body, `contentType` says what it is.
    public var body: [UInt8]
    /// The `Content-Type` header.
    public var contentType: String
    /// Header fields beyond `Content-Type`, `Content-Length` and `Connection` (which the transport
    /// writes). Without a `Cache-Control` here the transport adds `Cache-Control: no-store`.
    public var headers: [String: String]

    /// A response with a raw body (JSON unless `contentType` says otherwise).
    public init(status: Int, body: [UInt8], contentType: String = "application/json", headers: [String: String] = [:]) {
        self.status = status
        self.body = body
        self.contentType = contentType
        self.headers = headers
    }

    /// A response whose body is `json`.
    public init(status: Int, json: JSONValue) {
        self.init(status: status, body: json.jsonBytes)
    }

    /// The API's error shape: `{"error":{"code":"...","message":"..."}}`.
    public static func error(_ status: Int, code: String, message: String) -> HTTPResponse {
        HTTPResponse(status: status, json: .object(["error": .object(["code": .string(code), "message": .string(message)])]))
    }
}
