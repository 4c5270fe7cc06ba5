package import HybridSyncHTTP

/// The pages one listener serves: embedded files at fixed paths (conditional `GET` with ETags,
/// `HEAD`, optional CORS) and generated answers. Everything else is not a page (nil).
package struct WebSite: Sendable {
    /// Who may read a page from another origin (`Access-Control-Allow-Origin`).
    package enum CrossOrigin: Sendable, Equatable {
        /// Same origin only: no CORS header.
        case none
        /// Any origin: `*`.
        case any
        /// These exact origins (`scheme://host[:port]`): the request's `Origin` echoed when listed.
        case origins(Set<String>)
    }

    private enum Content: Sendable {
        case file(WebFile, contentType: String, gzipped: [UInt8]?)
        case generated(@Sendable (HTTPRequest) -> HTTPResponse)
    }

    /// Compresses a file's bytes as gzip, given by the daemon (this module does no I/O and links
    /// no C library); nil: files are served as they are.
    package typealias Compressor = @Sendable ([UInt8]) -> [UInt8]?

    private struct Page: Sendable {
        let content: Content
        let headers: [String: String]
        let crossOrigin: CrossOrigin
    }

    private var pages: [String: Page] = [:]
    private let compress: Compressor?

    /// A site without pages; add them with the `serve` methods. With `compress`, each file is
    /// compressed once here, and served compressed to clients that accept gzip when that is smaller.
    package init(compress: Compressor? = nil) {
        self.compress = compress
    }

    /// Serves the embedded `file` (a path in `clients/js`) at each of `paths`, with `headers`.
    /// A file that is not embedded is a build mistake: it traps at start-up, not per request.
    package mutating func serve(_ file: String, at paths: [String], headers: [String: String] = [:], crossOrigin: CrossOrigin = .none) {
        guard let embedded = WebFile.named(file) else { preconditionFailure("clients/js/\(file) is not embedded") }
        let gzipped = compress?(embedded.bytes).flatMap { $0.count < embedded.bytes.count ? $0 : nil }
        for path in paths {
            pages[path] = Page(content: .file(embedded, contentType: WebFile.contentType(of: file), gzipped: gzipped),
                               headers: headers, crossOrigin: crossOrigin)
        }
    }

    /// Answers `GET`/`HEAD` of `path` with `answer` (never cached).
    package mutating func serve(at path: String, _ answer: @escaping @Sendable (HTTPRequest) -> HTTPResponse) {
        pages[path] = Page(content: .generated(answer), headers: [:], crossOrigin: .none)
    }

    /// The answer when `request` is for one of these pages (its percent-decoded path), else nil.
    package func response(to request: HTTPRequest) -> HTTPResponse? {
        guard let path = request.decodedPath, let page = pages[path] else { return nil }
        guard request.method == "GET" || request.method == "HEAD" else {
            return HTTPError.methodNotAllowed("\(path) answers GET and HEAD only", allow: "GET, HEAD").response
        }
        var response: HTTPResponse
        switch page.content {
        case .generated(let answer):
            response = answer(request)
        case .file(let file, let contentType, let gzipped):
            var headers = page.headers
            var body = file.bytes
            var etag = file.etag
            if let gzipped {
                headers["Vary"] = "Accept-Encoding"
                if Self.acceptsGzip(request.header("accept-encoding")) {
                    body = gzipped
                    etag = String(file.etag.dropLast()) + "-gzip\""  // another representation, another tag
                    headers["Content-Encoding"] = "gzip"
                }
            }
            headers["ETag"] = etag
            headers["X-Content-Type-Options"] = "nosniff"
            if headers["Cache-Control"] == nil { headers["Cache-Control"] = "no-cache" }  // revalidate: 304 while unchanged
            if Self.matches(request.header("if-none-match"), etag) {
                response = HTTPResponse(status: 304, body: [], contentType: contentType, headers: headers)
            } else {
                response = HTTPResponse(status: 200, body: body, contentType: contentType, headers: headers)
            }
        }
        switch page.crossOrigin {
        case .none:
            break
        case .any:
            response.headers["Access-Control-Allow-Origin"] = "*"
        case .origins(let allowed):
            response.headers["Vary"] = response.headers["Vary"].map { "\($0), Origin" } ?? "Origin"
            if let origin = request.header("origin"), allowed.contains(origin) {
                response.headers["Access-Control-Allow-Origin"] = origin
            }
        }
        return response
    }

    /// `Accept-Encoding` names gzip (or `*`) with a weight above 0 (RFC 9110 §12.5.3).
    static func acceptsGzip(_ acceptEncoding: String?) -> Bool {
        guard let acceptEncoding else { return false }
        var gzip: Bool?
        var any: Bool?
        for item in acceptEncoding.split(separator: ",") {
            let parts = item.split(separator: ";")
            let coding = (parts.first.map { $0.trimmingSpaces } ?? "").lowercased()
            let weight = parts.dropFirst().compactMap { parameter -> Double? in
                let pair = parameter.trimmingSpaces.lowercased()
                return pair.hasPrefix("q=") ? Double(pair.dropFirst(2)) : nil
            }.first ?? 1
            if coding == "gzip" || coding == "x-gzip" { gzip = weight > 0 }
            if coding == "*" { any = weight > 0 }
        }
        return gzip ?? any ?? false
    }

    /// `If-None-Match`: `*`, or a list of tags of which one equals ours (weak comparison, RFC 9110 §13.1.2).
    private static func matches(_ ifNoneMatch: String?, _ etag: String) -> Bool {
        guard let ifNoneMatch else { return false }
        return ifNoneMatch.split(separator: ",").contains { candidate in
            let tag = candidate.trimmingSpaces
            return tag == "*" || tag == etag || tag == "W/" + etag
        }
    }
}

extension Substring {
    fileprivate var trimmingSpaces: String {
        String(drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())
    }
}
