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
    public var body: [UInt8]
    /// Every header field, names lower-cased; repeated fields joined with `, `.
    public var headers: [String: String]

    public init(
        method: String, path: String, query: String = "", authorization: String? = nil, body: [UInt8] = [],
        headers: [String: String] = [:]
    ) {
        self.method = method
        self.path = path
        self.query = query
        self.authorization = authorization
        self.body = body
        self.headers = headers
    }

    /// The value of the header field `name` (any case), if sent.
    public func header(_ name: String) -> String? { headers[name.lowercased()] }

    /// The value of the query parameter `name` (`a=1&b=2`), percent-decoded, if present.
    public func queryParameter(_ name: String) -> String? {
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.first.map(String.init) == name else { continue }
            let raw = parts.count > 1 ? String(parts[1]) : ""
            return raw.replacingPlus().removingPercentEncodingStrictly()
        }
        return nil
    }
}

extension String {
    fileprivate func replacingPlus() -> String { String(map { $0 == "+" ? " " : $0 }) }

    /// Decodes `%XX` escapes; nil when one is malformed or the result is not UTF-8.
    fileprivate func removingPercentEncodingStrictly() -> String? {
        var bytes: [UInt8] = []
        var iterator = utf8.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else { bytes.append(byte); continue }
            guard let high = iterator.next().flatMap(Self.hexDigit), let low = iterator.next().flatMap(Self.hexDigit) else { return nil }
            bytes.append(high << 4 | low)
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexDigit(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

/// Fixed pages a listener serves itself (files, a console), asked before anything else:
/// a response, or nil when the request is not for a page.
public typealias HTTPPages = @Sendable (HTTPRequest) -> HTTPResponse?

/// An HTTP response (a JSON body unless `contentType` says otherwise).
public struct HTTPResponse: Sendable, Equatable {
    public var status: Int
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
