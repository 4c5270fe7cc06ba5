public import HybridSyncProtocol

/// The pages one listener serves: embedded files at fixed paths (conditional `GET` with ETags,
/// `HEAD`, optional CORS) and generated answers. Everything else is not a page (nil).
public struct WebSite: Sendable {
    /// Who may read a page from another origin (`Access-Control-Allow-Origin`).
    public enum CrossOrigin: Sendable, Equatable {
        /// Same origin only: no CORS header.
        case none
        /// Any origin: `*`.
        case any
        /// These exact origins (`scheme://host[:port]`): the request's `Origin` echoed when listed.
        case origins(Set<String>)
    }

    private enum Content: Sendable {
        case file(WebFile, contentType: String)
        case generated(@Sendable (HTTPRequest) -> HTTPResponse)
    }

    private struct Page: Sendable {
        let content: Content
        let headers: [String: String]
        let crossOrigin: CrossOrigin
    }

    private var pages: [String: Page] = [:]

    /// A site without pages; add them with the `serve` methods.
    public init() {}

    /// Serves the embedded `file` (a path in `clients/js`) at each of `paths`, with `headers`.
    /// A file that is not embedded is a build mistake: it traps at start-up, not per request.
    public mutating func serve(_ file: String, at paths: [String], headers: [String: String] = [:], crossOrigin: CrossOrigin = .none) {
        guard let embedded = WebFile.named(file) else { preconditionFailure("clients/js/\(file) is not embedded") }
        for path in paths {
            pages[path] = Page(content: .file(embedded, contentType: WebFile.contentType(of: file)), headers: headers, crossOrigin: crossOrigin)
        }
    }

    /// Answers `GET`/`HEAD` of `path` with `answer` (never cached).
    public mutating func serve(at path: String, _ answer: @escaping @Sendable (HTTPRequest) -> HTTPResponse) {
        pages[path] = Page(content: .generated(answer), headers: [:], crossOrigin: .none)
    }

    /// The answer when `request` is for one of these pages, else nil.
    public func response(to request: HTTPRequest) -> HTTPResponse? {
        guard let page = pages[request.path] else { return nil }
        guard request.method == "GET" || request.method == "HEAD" else {
            var refused = HTTPResponse.error(405, code: "method_not_allowed", message: "\(request.path) answers GET and HEAD only")
            refused.headers["Allow"] = "GET, HEAD"
            return refused
        }
        var response: HTTPResponse
        switch page.content {
        case .generated(let answer):
            response = answer(request)
        case .file(let file, let contentType):
            var headers = page.headers
            headers["ETag"] = file.etag
            headers["X-Content-Type-Options"] = "nosniff"
            if headers["Cache-Control"] == nil { headers["Cache-Control"] = "no-cache" }  // revalidate: 304 while unchanged
            if Self.matches(request.header("if-none-match"), file.etag) {
                response = HTTPResponse(status: 304, body: [], contentType: contentType, headers: headers)
            } else {
                response = HTTPResponse(status: 200, body: file.bytes, contentType: contentType, headers: headers)
            }
        }
        switch page.crossOrigin {
        case .none:
            break
        case .any:
            response.headers["Access-Control-Allow-Origin"] = "*"
        case .origins(let allowed):
            response.headers["Vary"] = "Origin"
            if let origin = request.header("origin"), allowed.contains(origin) {
                response.headers["Access-Control-Allow-Origin"] = origin
            }
        }
        return response
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
