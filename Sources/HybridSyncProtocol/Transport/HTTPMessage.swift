/// An HTTP request on the backend API listener, fully read.
public struct HTTPRequest: Sendable, Equatable {
    /// Upper-case method name, for example `POST`.
    public var method: String
    /// The path without the query string, for example `/api/publish`.
    public var path: String
    /// The raw query string without `?`, or empty.
    public var query: String
    /// The `Authorization` header value, if any.
    public var authorization: String?
    public var body: [UInt8]

    public init(method: String, path: String, query: String = "", authorization: String? = nil, body: [UInt8] = []) {
        self.method = method
        self.path = path
        self.query = query
        self.authorization = authorization
        self.body = body
    }
}

/// An HTTP response with a JSON body.
public struct HTTPResponse: Sendable, Equatable {
    public var status: Int
    public var body: [UInt8]
    /// The `Content-Type` header.
    public var contentType: String

    /// A response with a raw body (JSON unless `contentType` says otherwise).
    public init(status: Int, body: [UInt8], contentType: String = "application/json") {
        self.status = status
        self.body = body
        self.contentType = contentType
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
