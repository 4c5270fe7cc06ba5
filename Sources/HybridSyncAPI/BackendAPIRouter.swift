import HybridSyncCrypto
public import HybridSyncHTTP
import HybridSyncProtocol
public import HybridSyncServer
public import Logging
import Metrics

/// The backend HTTP API (docs/API.md): the API key, the API's rate limit and a table of routes,
/// each parsing its request into one typed ``SyncServer`` operation and rendering the result.
///
/// Runs on the transport's thread, as the server does: give ``handle(_:respond:)`` to the
/// transport's API listener.
public final class BackendAPIRouter {
    let server: SyncServer
    let logger: Logger
    /// The key the matcher was made for: a reload (SIGHUP) that changes `api.key` is seen here.
    private var apiKey: (text: String, matcher: SecretMatcher)
    private var rate: (perSecond: Double, bucket: TokenBucket)
    /// The id of the next request (for log lines).
    private var nextRequestID: UInt64 = 1

    /// A router in front of `server`.
    public init(server: SyncServer, logger: Logger) {
        self.server = server
        self.logger = logger
        let configuration = server.currentConfiguration
        apiKey = (configuration.apiKey, SecretMatcher(secret: configuration.apiKey))
        rate = (configuration.apiRequestsPerSecond, TokenBucket(
            rate: configuration.apiRequestsPerSecond, burst: configuration.apiRequestsPerSecond, now: server.monotonicNow
        ))
    }

    /// Answers one request through `respond`, exactly once: at once for what the server knows,
    /// after the storage engine for what it stores or reads (on the transport's thread either way).
    public func handle(_ request: HTTPRequest, respond: @escaping (HTTPResponse) -> Void) {
        let started = ContinuousClock.now
        let id = nextRequestID
        nextRequestID += 1
        var label = "other"
        let finish: (Result<HTTPResponse, HTTPError>) -> Void = { [logger] result in
            let response = switch result {
            case .success(let response): response
            case .failure(let error): error.response
            }
            let elapsed = (ContinuousClock.now - started).components
            let nanoseconds = elapsed.seconds * 1_000_000_000 + elapsed.attoseconds / 1_000_000_000
            Self.count(route: label, status: response.status, nanoseconds: nanoseconds)
            logger.debug("API request", metadata: [
                "request": "\(id)", "method": "\(request.method.prefix(10))", "route": "\(label)",
                "status": "\(response.status)", "ms": "\(Double(nanoseconds / 1000) / 1000)",
            ])
            respond(response)
        }
        do throws(HTTPError) {
            guard let path = request.decodedPath else { throw HTTPError.badRequest("malformed percent-encoding in the path") }
            // Under /api/ the rate and the key come first: without the key nothing says which
            // routes or methods exist.
            if path.hasPrefix("/api/") { try admit(request, id: id, path: path) }
            let (route, parameter) = try Self.route(request.method, path)
            label = route.label
            try route.handler(self, Call(request: request, parameter: parameter, finish: finish))
        } catch {
            finish(.failure(error))
        }
    }

    /// Over the API's rate (all callers together), or without the API key: refused.
    private func admit(_ request: HTTPRequest, id: UInt64, path: String) throws(HTTPError) {
        let configuration = server.currentConfiguration
        if configuration.apiRequestsPerSecond != rate.perSecond {
            let perSecond = configuration.apiRequestsPerSecond
            rate = (perSecond, TokenBucket(rate: perSecond, burst: perSecond, now: server.monotonicNow))
        }
        guard rate.bucket.take(now: server.monotonicNow) else {
            throw .rateLimited("over \(Int(rate.perSecond)) API requests per second; retry shortly")
        }
        if configuration.apiKey != apiKey.text { apiKey = (configuration.apiKey, SecretMatcher(secret: configuration.apiKey)) }
        guard let header = request.authorization, header.hasPrefix("Bearer "), apiKey.matcher.matches(String(header.dropFirst("Bearer ".count))) else {
            logger.info("API request refused: bad or missing API key", metadata: ["request": "\(id)", "path": "\(path.prefix(100))"])
            throw .unauthorized("send the API key as 'Authorization: Bearer <key>'")
        }
    }

    /// The route for `method` and `path`, with the path's parameter: 404 when no route has the
    /// path (checked after the key for `/api/`), 405 with `Allow` when it takes other methods.
    private static func route(_ method: String, _ path: String) throws(HTTPError) -> (Route, String) {
        var matching = routes.compactMap { route in route.path.match(path).map { (route, $0) } }
        // An exact path (`/api/state/set`) wins over a parameter one (`/api/state/<channel>`).
        if matching.contains(where: { !$0.0.path.hasParameter }) { matching.removeAll { $0.0.path.hasParameter } }
        guard !matching.isEmpty else {
            if path.hasPrefix("/api/") { return (notFoundRoute, "") }
            throw .notFound("no route \(method.prefix(20)) \(path.prefix(100)); see docs/API.md")
        }
        if let chosen = matching.first(where: { $0.0.answers(method) }) { return chosen }
        let allowed = matching.flatMap(\.0.methods)
        throw .methodNotAllowed("\(path.prefix(100)) accepts \(allowed.joined(separator: " and ")), not \(method.prefix(20))",
                                allow: allowed.joined(separator: ", "))
    }

    /// `/api/<unknown>`: 404 (after the key, like every `/api/` path).
    private static let notFoundRoute = Route(.unknownAPI, "") { _, call throws(HTTPError) in
        throw .notFound("no route \(call.request.method.prefix(20)) \(call.request.path.prefix(100)); see docs/API.md")
    }

    private static func count(route: String, status: Int, nanoseconds: Int64) {
        Counter(label: "hybridsync_api_requests_total", dimensions: [("route", route), ("status", "\(status)")]).increment()
        Timer(label: "hybridsync_api_request_duration_seconds", dimensions: [("route", route)], preferredDisplayUnit: .seconds)
            .recordNanoseconds(nanoseconds)
    }
}

/// One request on its way through a route: its parameter, and the one way to answer it.
struct Call {
    let request: HTTPRequest
    /// The path after a parameter route's prefix (a channel or a user), percent-decoded.
    let parameter: String
    let finish: (Result<HTTPResponse, HTTPError>) -> Void

    /// Answers with `json` (200).
    func ok(_ json: JSONValue) { finish(.success(HTTPResponse(status: 200, json: json))) }
}

/// One entry of the route table.
struct Route: Sendable {
    /// Where a route is.
    enum Path: Sendable {
        /// Exactly this path, outside `/api/`: no API key (`/health`, `/ready`, `/metrics`).
        case open(String)
        /// Exactly this path, with the API key.
        case exact(String)
        /// This prefix and a non-empty parameter after it (named `name` in the metrics label).
        case parameter(prefix: String, name: String)
        /// Any other `/api/` path (answered 404 after the key).
        case unknownAPI

        /// The parameter (empty for exact paths) when `path` is this route's, else nil.
        func match(_ path: String) -> String? {
            switch self {
            case .open(let exact), .exact(let exact): path == exact ? "" : nil
            case .parameter(let prefix, _): path.hasPrefix(prefix) && path.count > prefix.count ? String(path.dropFirst(prefix.count)) : nil
            case .unknownAPI: nil
            }
        }

        var hasParameter: Bool { if case .parameter = self { true } else { false } }
    }

    let method: String
    let path: Path
    let handler: @Sendable (BackendAPIRouter, Call) throws(HTTPError) -> Void

    init(_ path: Path, _ method: String, handler: @escaping @Sendable (BackendAPIRouter, Call) throws(HTTPError) -> Void) {
        self.method = method
        self.path = path
        self.handler = handler
    }

    /// The methods it answers: `GET` routes answer `HEAD` too (the transport drops the body).
    var methods: [String] { method == "GET" ? ["GET", "HEAD"] : [method] }
    func answers(_ requested: String) -> Bool { methods.contains(requested) }

    /// The path as a metrics label: parameters named, never their values.
    var label: String {
        switch path {
        case .open(let exact), .exact(let exact): exact
        case .parameter(let prefix, let name): prefix + ":" + name
        case .unknownAPI: "other"
        }
    }
}
