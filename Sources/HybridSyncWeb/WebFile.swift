/// A file of `clients/js`, embedded in the binary at build time (the EmbedWebFiles plugin).
package struct WebFile: Sendable {
    /// A strong entity tag of the content, quoted: `"<hash>"`.
    package let etag: String
    /// The file's content, as served.
    package let bytes: [UInt8]

    init(etag: String, text: String) {
        self.etag = etag
        self.bytes = Array(text.utf8)
    }

    /// The embedded file at `path`, relative to `clients/js` (for example `hybridsync.js`).
    package static func named(_ path: String) -> WebFile? { embedded[path] }

    /// The `Content-Type` for a file name's extension.
    static func contentType(of path: String) -> String {
        if path.hasSuffix(".js") { return "text/javascript; charset=utf-8" }
        if path.hasSuffix(".html") { return "text/html; charset=utf-8" }
        if path.hasSuffix(".css") { return "text/css; charset=utf-8" }
        if path.hasSuffix(".json") { return "application/json; charset=utf-8" }
        if path.hasSuffix(".ts") { return "text/plain; charset=utf-8" }  // TypeScript declarations, for reading
        return "application/octet-stream"
    }
}
