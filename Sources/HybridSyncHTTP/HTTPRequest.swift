import HybridSyncProtocol

/// One HTTP/1.x request as the edge read it: request line, header fields in order and the body.
///
/// The one model of a request from the parser to the pages and the backend API (the parser's
/// ``HTTPRequestParser/Step/head(_:bodyLength:)`` reports it before its body has arrived).
public struct HTTPRequest: Sendable, Equatable {
    /// The method as sent, for example `POST` (methods are case-sensitive).
    public var method: String
    /// The path, without the query string (still percent-encoded).
    public var path: String
    /// The query string without `?`, or empty.
    public var query: String
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    public var minorVersion: Int
    /// Header fields in order, names lower-cased.
    public var headers: [(name: String, value: String)]
    /// The body (empty without one).
    public var body: [UInt8]

    /// A request as parsed (tests build them too); `headers` names must be lower case.
    public init(
        method: String, path: String, query: String = "", minorVersion: Int = 1,
        headers: [(name: String, value: String)] = [], body: [UInt8] = []
    ) {
        self.method = method
        self.path = path
        self.query = query
        self.minorVersion = minorVersion
        self.headers = headers
        self.body = body
    }

    /// The `Authorization` header, if sent.
    public var authorization: String? { header("authorization") }

    /// The path with `%XX` escapes decoded (so `/api/channels/user%23a` names `user#a`), or nil when
    /// an escape is malformed or the result is not UTF-8.
    public var decodedPath: String? { Self.percentDecoded(path) }

    /// The query's `name=value` pairs, percent-decoded (`+` as a space); a malformed one is left
    /// out, and of a repeated name the first counts.
    public var queryParameters: [String: String] {
        var parameters: [String: String] = [:]
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = Self.percentDecoded(parts[0].replacing("+", with: " ")),
                  let value = Self.percentDecoded(parts.count > 1 ? parts[1].replacing("+", with: " ") : ""),
                  parameters[name] == nil else { continue }
            parameters[name] = value
        }
        return parameters
    }

    /// `text` with its `%XX` escapes decoded, or nil when one is malformed or the result is not UTF-8.
    private static func percentDecoded(_ text: some StringProtocol) -> String? {
        var bytes: [UInt8] = []
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else { bytes.append(byte); continue }
            guard let high = iterator.next().flatMap(Self.hexValue), let low = iterator.next().flatMap(Self.hexValue) else { return nil }
            bytes.append(high << 4 | low)
        }
        guard isValidUTF8(bytes[...]) else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// The first value of header `name` (case-insensitive).
    public func header(_ name: String) -> String? {
        let lowered = Self.lowercasedName(name)
        return headers.first { $0.name == lowered }?.value
    }

    /// Every value of header `name`, comma-separated lists split and trimmed; empty list elements
    /// are skipped (RFC 9110 §5.6.1).
    public func tokens(_ name: String) -> [Substring] {
        let lowered = Self.lowercasedName(name)
        var tokens: [Substring] = []
        for field in headers where field.name == lowered {
            // Split on the UTF-8 bytes (`,`, space and tab are ASCII, so every index is a
            // character boundary): String's Character-wise split showed in connect profiles.
            let value = field.value
            var start = value.utf8.startIndex
            var index = start
            while true {
                let atEnd = index == value.utf8.endIndex
                if atEnd || value.utf8[index] == UInt8(ascii: ",") {
                    let token = Substring(value[start..<index]).trimmingWhitespace()
                    if !token.isEmpty { tokens.append(token) }
                    if atEnd { break }
                    start = value.utf8.index(after: index)
                }
                index = value.utf8.index(after: index)
            }
        }
        return tokens
    }

    /// `name` lower-cased, as stored names are; as it is when it holds no upper-case ASCII (the
    /// daemon's own look-ups).
    private static func lowercasedName(_ name: String) -> String {
        name.utf8.contains(where: { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }) ? name.lowercased() : name
    }

    /// Whether the connection may carry another request after this one.
    public var keepAlive: Bool {
        let connection = tokens("connection").map { $0.lowercased() }
        if minorVersion == 0 { return connection.contains("keep-alive") }
        return !connection.contains("close")
    }

    /// Equal request lines, equal header lists (in order) and equal bodies.
    public static func == (lhs: HTTPRequest, rhs: HTTPRequest) -> Bool {
        lhs.method == rhs.method && lhs.path == rhs.path && lhs.query == rhs.query
            && lhs.minorVersion == rhs.minorVersion && lhs.body == rhs.body
            && lhs.headers.map(\.name) == rhs.headers.map(\.name) && lhs.headers.map(\.value) == rhs.headers.map(\.value)
    }
}

extension Substring {
    /// Whether this equals `lowercase` (lower-case ASCII) when ASCII letters are compared without
    /// case, as header tokens are (no Unicode case mapping, no allocation).
    package func equalsIgnoringASCIICase(_ lowercase: StaticString) -> Bool {
        guard utf8.count == lowercase.utf8CodeUnitCount else { return false }
        var expected = lowercase.utf8Start
        for byte in utf8 {
            let folded = byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
            guard folded == expected.pointee else { return false }
            expected += 1
        }
        return true
    }

    /// Without leading and trailing spaces and tabs (on the UTF-8 bytes).
    package func trimmingWhitespace() -> Substring {
        var start = utf8.startIndex
        var end = utf8.endIndex
        while start < end, utf8[start] == 0x20 || utf8[start] == 0x09 { start = utf8.index(after: start) }
        while end > start, utf8[utf8.index(before: end)] == 0x20 || utf8[utf8.index(before: end)] == 0x09 {
            end = utf8.index(before: end)
        }
        return self[start..<end]
    }
}
