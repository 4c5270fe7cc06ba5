public import HybridSyncProtocol

/// Fixed pages a listener serves itself (files, a console), asked before anything else:
/// a response, or nil when the request is not for a page.
public typealias HTTPPages = @Sendable (HTTPRequest) -> HTTPResponse?

/// Answers a request through `respond`, exactly once, now or later (after a storage write, for
/// example), on the thread that called it.
public typealias HTTPHandler = (HTTPRequest, @escaping (HTTPResponse) -> Void) -> Void

/// An HTTP response (a JSON body unless `contentType` says otherwise).
public struct HTTPResponse: Sendable, Equatable {
    /// The status code, for example 200.
    public var status: Int
    /// The body, `contentType` says what it is.
    public var body: [UInt8]
    /// The `Content-Type` header.
    public var contentType: String
    /// Header fields beyond `Content-Type`, `Content-Length` and `Connection` (which
    /// ``serialized(keepAlive:headOnly:)`` writes). Without a `Cache-Control` here it adds
    /// `Cache-Control: no-store`.
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

    /// The response as bytes on the wire: status line, headers, body. A `HEAD` request (`headOnly`)
    /// gets the head a `GET` would (`Content-Length` included) without the body; a 304 has neither.
    /// Without `keepAlive` the head says `Connection: close`.
    public func serialized(keepAlive: Bool, headOnly: Bool = false) -> [UInt8] {
        var head = "HTTP/1.1 \(status) \(Self.reasonPhrase(status))\r\n"
        head += "Server: hybridsyncd\r\nContent-Type: \(contentType)\r\n"
        if !headers.keys.contains(where: { $0.lowercased() == "cache-control" }) { head += "Cache-Control: no-store\r\n" }
        for (name, value) in headers.sorted(by: { $0.key < $1.key }) { head += "\(name): \(value)\r\n" }
        if status != 304 { head += "Content-Length: \(body.count)\r\n" }
        if !keepAlive { head += "Connection: close\r\n" }
        head += "\r\n"
        return Array(head.utf8) + (status != 304 && !headOnly ? body : [])
    }

    /// The reason phrase of `status` (RFC 9110 §15), "Status" for one this server never sends.
    static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 200: "OK"
        case 201: "Created"
        case 204: "No Content"
        case 304: "Not Modified"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 409: "Conflict"
        case 413: "Content Too Large"
        case 426: "Upgrade Required"
        case 429: "Too Many Requests"
        case 431: "Request Header Fields Too Large"
        case 500: "Internal Server Error"
        case 501: "Not Implemented"
        case 503: "Service Unavailable"
        case 505: "HTTP Version Not Supported"
        default: "Status"
        }
    }
}
