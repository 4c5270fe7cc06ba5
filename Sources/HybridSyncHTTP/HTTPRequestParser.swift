/// An incremental, strict HTTP/1.1 request parser: bytes in, at most one complete request out.
///
/// Strict on purpose (it faces the internet): lines end in CRLF, no obsolete line folding, no
/// whitespace before a header colon, `Content-Length` only (one value, digits), `Transfer-Encoding`
/// refused (501), `Host` required on HTTP/1.1, heads over `maxHeadBytes` refused (431), bodies over
/// `maxBodyBytes` refused (413) before they are read. Anything ambiguous is an error, never a guess:
/// that is what keeps one request from being read as two.
///
/// ```swift
/// var parser = HTTPRequestParser(limits: .init())
/// parser.append(bytes)
/// switch try parser.next() {
/// case .needMore: break
/// case .head(let head): print(head.path)              // body still to come (Expect: 100-continue)
/// case .complete(let request): handle(request)
/// }
/// ```
public struct HTTPRequestParser: Sendable {
    /// Size limits.
    public struct Limits: Sendable {
        /// Request line plus headers, CRLFs included.
        public var maxHeadBytes: Int
        /// Header fields.
        public var maxHeaderCount: Int
        /// Request body.
        public var maxBodyBytes: Int

        /// The defaults are the daemon's (`limits.maxHeaderBytes`, `api.maxBodyBytes`).
        public init(maxHeadBytes: Int = 8 * 1024, maxHeaderCount: Int = 64, maxBodyBytes: Int = 1024 * 1024) {
            self.maxHeadBytes = maxHeadBytes
            self.maxHeaderCount = maxHeaderCount
            self.maxBodyBytes = maxBodyBytes
        }
    }

    /// What ``next()`` found.
    public enum Step: Sendable, Equatable {
        /// Not a whole head (or body) yet.
        case needMore
        /// The head is complete and a body of `bodyLength` bytes follows (reported once).
        case head(HTTPRequest, bodyLength: Int)
        /// A whole request, body included. Bytes after it stay buffered (see ``bufferedCount``).
        case complete(HTTPRequest)
    }

    /// The limits this parser enforces.
    public let limits: Limits
    private var buffer: [UInt8] = []
    private var head: HTTPRequest?
    private var bodyLength = 0
    private var reportedHead = false

    /// A parser for one connection's requests, one after another.
    public init(limits: Limits) {
        self.limits = limits
    }

    /// Bytes received and not yet consumed by a complete request.
    public var bufferedCount: Int { buffer.count }

    /// True before any byte of a request has arrived.
    public var isIdle: Bool { buffer.isEmpty && head == nil }

    /// Removes and returns the bytes buffered after the last complete request (a pipelined request,
    /// or the first WebSocket frames after an upgrade).
    public mutating func takeBuffered() -> [UInt8] {
        defer { buffer.removeAll() }
        return buffer
    }

    /// Adds received bytes.
    public mutating func append(_ bytes: some Collection<UInt8>) {
        buffer.append(contentsOf: bytes)
    }

    /// Parses what is buffered. After `.complete`, call again for a pipelined request.
    public mutating func next() throws(HTTPError) -> Step {
        if head == nil {
            guard let end = Self.headEnd(in: buffer) else {
                if buffer.count > limits.maxHeadBytes {
                    throw HTTPError.headersTooLarge("request head over \(limits.maxHeadBytes) bytes")
                }
                return .needMore
            }
            guard end <= limits.maxHeadBytes else {
                throw HTTPError.headersTooLarge("request head over \(limits.maxHeadBytes) bytes")
            }
            let parsed = try Self.parseHead(buffer[..<(end - 4)], limits: limits)
            bodyLength = try Self.bodyLength(of: parsed, limits: limits)
            buffer.removeFirst(end)
            head = parsed
            reportedHead = false
        }
        guard let head else { return .needMore }
        if buffer.count >= bodyLength {
            var request = head
            request.body = Array(buffer[..<bodyLength])
            buffer.removeFirst(bodyLength)
            self.head = nil
            return .complete(request)
        }
        if !reportedHead {
            reportedHead = true
            return .head(head, bodyLength: bodyLength)
        }
        return .needMore
    }

    // MARK: Parsing

    /// Index just past the CRLFCRLF that ends the head, if present.
    static func headEnd(in bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        var index = 3
        while index < bytes.count {
            if bytes[index] == 0x0A, bytes[index - 1] == 0x0D, bytes[index - 2] == 0x0A, bytes[index - 3] == 0x0D {
                return index + 1
            }
            index += 1
        }
        return nil
    }

    static func parseHead(_ bytes: ArraySlice<UInt8>, limits: Limits) throws(HTTPError) -> HTTPRequest {
        var lines: [ArraySlice<UInt8>] = []
        var start = bytes.startIndex
        var index = bytes.startIndex
        while index < bytes.endIndex {
            let byte = bytes[index]
            if byte == 0x0D {
                guard index + 1 < bytes.endIndex, bytes[index + 1] == 0x0A else {
                    throw HTTPError.badRequest("bare CR in the request head")
                }
                lines.append(bytes[start..<index])
                index += 2
                start = index
                continue
            }
            if byte == 0x0A { throw HTTPError.badRequest("bare LF in the request head: lines end with CRLF") }
            if byte == 0 || byte >= 0x80 && lines.isEmpty {
                throw HTTPError.badRequest("invalid byte in the request line")
            }
            index += 1
        }
        lines.append(bytes[start..<bytes.endIndex])
        guard let requestLine = lines.first else { throw HTTPError.badRequest("empty request") }
        var head = try parseRequestLine(requestLine)
        guard lines.count - 1 <= limits.maxHeaderCount else {
            throw HTTPError.headersTooLarge("more than \(limits.maxHeaderCount) header fields")
        }
        for line in lines.dropFirst() {
            head.headers.append(try parseField(line))
        }
        if head.minorVersion == 1, head.tokens("host").count != 1 {
            throw HTTPError.badRequest("HTTP/1.1 requests carry exactly one Host header")
        }
        return head
    }

    private static func parseRequestLine(_ line: ArraySlice<UInt8>) throws(HTTPError) -> HTTPRequest {
        let parts = line.split(separator: 0x20, omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, parts[0].allSatisfy(isTokenByte) else {
            throw HTTPError.badRequest("malformed request line")
        }
        let version = String(decoding: parts[2], as: UTF8.self)
        let minor: Int
        switch version {
        case "HTTP/1.1": minor = 1
        case "HTTP/1.0": minor = 0
        default:
            if version.hasPrefix("HTTP/") { throw HTTPError.httpVersionNotSupported("only HTTP/1.1 is served here") }
            throw HTTPError.badRequest("malformed request line")
        }
        let target = parts[1]
        guard target.first == UInt8(ascii: "/"), target.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw HTTPError.badRequest("request target must be a path (origin-form)")
        }
        let text = String(decoding: target, as: UTF8.self)
        let pathAndQuery = text.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let path = String(pathAndQuery[0])
        let query = pathAndQuery.count > 1 ? String(pathAndQuery[1].split(separator: "#", maxSplits: 1).first ?? "") : ""
        return HTTPRequest(method: String(decoding: parts[0], as: UTF8.self), path: path, query: query, minorVersion: minor)
    }

    private static func parseField(_ line: ArraySlice<UInt8>) throws(HTTPError) -> (name: String, value: String) {
        guard let first = line.first else { throw HTTPError.badRequest("empty header line") }
        if first == 0x20 || first == 0x09 { throw HTTPError.badRequest("obsolete header line folding") }
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else {
            throw HTTPError.badRequest("header line without a colon")
        }
        let name = line[line.startIndex..<colon]
        guard !name.isEmpty, name.allSatisfy(isTokenByte) else {
            throw HTTPError.badRequest("invalid header name (no whitespace before the colon)")
        }
        let value = line[(colon + 1)...]
        guard value.allSatisfy({ $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) }) else {
            throw HTTPError.badRequest("control character in a header value")
        }
        var start = value.startIndex
        var end = value.endIndex
        while start < end, value[start] == 0x20 || value[start] == 0x09 { start += 1 }
        while end > start, value[end - 1] == 0x20 || value[end - 1] == 0x09 { end -= 1 }
        // Token bytes are ASCII: lower-case them as bytes (String.lowercased is Unicode-aware).
        let lowered = name.map { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") ? $0 | 0x20 : $0 }
        return (String(decoding: lowered, as: UTF8.self), String(decoding: value[start..<end], as: UTF8.self))
    }

    static func bodyLength(of head: HTTPRequest, limits: Limits) throws(HTTPError) -> Int {
        if head.header("transfer-encoding") != nil {
            throw HTTPError.notImplemented("Transfer-Encoding is not supported: send the body with Content-Length")
        }
        let values = head.headers.filter { $0.name == "content-length" }.map(\.value)
        guard let value = values.first else { return 0 }
        guard values.count == 1 else { throw HTTPError.badRequest("more than one Content-Length") }
        guard !value.isEmpty, value.utf8.count <= 12, value.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let length = Int(value) else {
            throw HTTPError.badRequest("Content-Length must be a decimal number")
        }
        guard length <= limits.maxBodyBytes else {
            throw HTTPError.payloadTooLarge("request body of \(length) bytes is over the \(limits.maxBodyBytes)-byte limit")
        }
        return length
    }

    /// RFC 9110 token characters.
    private static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return Array("!#$%&'*+-.^_`|~".utf8).contains(byte)
        }
    }
}
