import HybridSyncBroker
import HybridSyncCrypto
public import HybridSyncProtocol
import Logging

/// The backend HTTP API (docs/API.md).
extension SyncServer {
    /// Answers one API request through `respond`, exactly once: at once for what the server knows,
    /// after the broker for what it stores or reads (on the transport's thread either way).
    public func handle(_ request: HTTPRequest, respond: @escaping (HTTPResponse) -> Void) {
        let started = ContinuousClock.now
        let route = ServerMetrics.route(of: request.path)
        let id = nextRequestID
        nextRequestID += 1
        currentRequestID = id
        let respond: (HTTPResponse) -> Void = { [metrics, logger] response in
            let elapsed = (ContinuousClock.now - started).components
            let nanoseconds = elapsed.seconds * 1_000_000_000 + elapsed.attoseconds / 1_000_000_000
            metrics.apiRequest(route: route, status: response.status, nanoseconds: nanoseconds)
            logger.debug("API request", metadata: [
                "request": "\(id)", "method": "\(request.method.prefix(10))", "route": "\(route)",
                "status": "\(response.status)", "ms": "\(Double(nanoseconds / 1000) / 1000)",
            ])
            respond(response)
        }
        do {
            try self.route(request) { result in
                switch result {
                case .success(let response): respond(response)
                case .failure(let error): respond(error.response)
                }
            }
        } catch {
            respond(error.response)
        }
    }

    typealias Respond = (Result<HTTPResponse, APIError>) -> Void

    private func route(_ request: HTTPRequest, _ respond: @escaping Respond) throws(APIError) {
        let path = request.path
        if path == "/health" {
            try expect(request, "GET")
            return respond(.success(health()))
        }
        if path == "/ready" {
            try expect(request, "GET")
            // Listening (this answer proves it) and the engine answers a read.
            return broker.ban(of: "", now: clock.now()) { result in
                switch result {
                case .success: respond(.success(HTTPResponse(status: 200, json: ["status": "ready"])))
                case .failure(let error): respond(.failure(APIError.engineUnavailable("the storage engine does not answer: \(error.message)")))
                }
            }
        }
        if path == "/metrics", let metricsExporter {
            try expect(request, "GET")
            refreshGauges()
            return respond(.success(HTTPResponse(status: 200, body: metricsExporter(), contentType: "text/plain; version=0.0.4; charset=utf-8")))
        }
        guard path.hasPrefix("/api/") else { throw notFound(request) }
        guard apiRate.take(now: clock.now()) else {
            throw APIError.rateLimited("over \(Int(configuration.apiRequestsPerSecond)) API requests per second; retry shortly")
        }
        guard authorized(request) else {
            logger.info("API request refused: bad or missing API key", metadata: [
                "request": "\(currentRequestID)", "path": "\(path.prefix(100))",
            ])
            throw APIError.unauthorized("send the API key as 'Authorization: Bearer <key>'")
        }
        switch path {
        case "/api/publish":
            try expect(request, "POST")
            let body = try jsonObject(request.body)
            let name = try channelName(body)
            let key = try optionalString(body, "key")
            let publication = try publishRequest(try field(body, "data"), to: name, key: key)
            try idempotent(request.path, body, [publication], respond) { [hub] receipts in
                var result: [String: JSONValue] = [
                    "channel": .string(name.rawValue), "offset": .int(Int64(receipts[0].offset)),
                    "subscribers": .int(Int64(hub.subscriberCount(name))),
                ]
                if key != nil { result["version"] = .int(Int64(receipts[0].offset)) }
                return HTTPResponse(status: 200, json: .object(result))
            }
        case "/api/broadcast":
            try expect(request, "POST")
            let body = try jsonObject(request.body)
            try idempotent(request.path, body, try broadcastRequests(body), respond) { receipts in
                HTTPResponse(status: 200, json: ["publications": .array(receipts.map {
                    ["channel": .string($0.channel.rawValue), "offset": .int(Int64($0.offset))]
                })])
            }
        case "/api/state/set":
            try expect(request, "POST")
            let body = try jsonObject(request.body)
            let publication = try publishRequest(try field(body, "value"), to: try channelName(body), key: try string(body, "key"))
            try idempotent(request.path, body, [publication], respond) { receipts in
                HTTPResponse(status: 200, json: [
                    "channel": .string(publication.channel.rawValue), "key": .string(receipts[0].key ?? ""),
                    "version": .int(Int64(receipts[0].offset)),
                ])
            }
        case "/api/state/remove":
            try expect(request, "POST")
            let body = try jsonObject(request.body)
            let name = try channelName(body)
            let key = try string(body, "key")
            let removal = try publishRequest(.null, to: name, key: key, remove: true)
            // Removing a key that is not there changes nothing: no publication, no offset used.
            read(name, StreamQuery(policy: removal.policy, includeState: true), respond) { [self] stream in
                guard stream.state[key] != nil else {
                    return respond(.success(HTTPResponse(status: 200, json: [
                        "channel": .string(name.rawValue), "removed": false, "version": .int(Int64(stream.position?.offset ?? 0)),
                    ])))
                }
                store([removal], respond) { published in
                    HTTPResponse(status: 200, json: [
                        "channel": .string(name.rawValue), "removed": true, "version": .int(Int64(published[0].publication.offset)),
                    ])
                }
            }
        case "/api/ban":
            try expect(request, "POST")
            try banRoute(request.body, respond)
        case "/api/bans":
            try expect(request, "GET")
            broker.bans(now: clock.now()) { result in
                respond(result.mapError(Self.engineUnavailable).map { bans in
                    let list = bans.keys.sorted().map { user -> JSONValue in
                        let ban = bans[user]!
                        return ["user": .string(user), "reason": .string(ban.reason), "until": ban.until.map { .double($0) } ?? .null]
                    }
                    return HTTPResponse(status: 200, json: ["bans": .array(list)])
                })
            }
        case "/api/disconnect":
            try expect(request, "POST")
            let body = try jsonObject(request.body)
            let user = try string(body, "user")
            var rawCode = Int64(CloseCode.forceDisconnect.rawValue)
            if let given = body["code"], given != .null {
                // A mistyped code must not become the default 4504, which tells clients to stay away.
                guard let number = given.intValue, (4000...4999).contains(number) else {
                    throw APIError.badRequest("'code' must be an integer, 4000-4499 (client reconnects) or 4500-4999 (it does not)")
                }
                rawCode = number
            }
            let code = CloseCode(rawValue: UInt16(rawCode))
            let reason = try optionalString(body, "reason") ?? code.name
            let closed = disconnect(user: user, code: code, reason: reason)
            respond(.success(HTTPResponse(status: 200, json: ["user": .string(user), "sessionsClosed": .int(Int64(closed))])))
        default:
            try routeByPrefix(request, respond)
        }
    }

    /// Routes with a parameter in the path.
    private func routeByPrefix(_ request: HTTPRequest, _ respond: @escaping Respond) throws(APIError) {
        let path = request.path
        if let user = suffix(path, after: "/api/ban/") {
            try expect(request, "DELETE")
            return unban(user: user) { result in
                respond(result.mapError(Self.engineUnavailable).map {
                    HTTPResponse(status: 200, json: ["user": .string(user), "lifted": .bool($0)])
                })
            }
        }
        if let user = suffix(path, after: "/api/sessions/") {
            try expect(request, "GET")
            return respond(.success(HTTPResponse(status: 200, json: ["user": .string(user), "sessions": .array(sessionsJSON(of: user))])))
        }
        if let raw = suffix(path, after: "/api/channels/") {
            try expect(request, "GET")
            let name = try channelName(raw)
            let policy = try configuredPolicy(name)
            return read(name, StreamQuery(policy: policy.stream), respond) { [hub] stream in
                respond(.success(HTTPResponse(status: 200, json: [
                    "channel": .string(name.rawValue),
                    "subscribers": .int(Int64(hub.subscriberCount(name))),
                    "epoch": .string(stream.position?.epoch ?? ""),
                    "offset": .int(Int64(stream.position?.offset ?? 0)),
                ])))
            }
        }
        if let raw = suffix(path, after: "/api/state/") {
            try expect(request, "GET")
            let name = try channelName(raw)
            let policy = try configuredPolicy(name)
            guard policy.retainState else {
                throw APIError.stateNotRetained("namespace '\(name.namespace)' does not retain state")
            }
            return read(name, StreamQuery(policy: policy.stream, create: true, includeState: true), respond) { stream in
                respond(.success(HTTPResponse(status: 200, json: [
                    "channel": .string(name.rawValue), "epoch": .string(stream.position?.epoch ?? ""),
                    "offset": .int(Int64(stream.position?.offset ?? 0)), "state": .object(stream.state.mapValues(\.json)),
                ])))
            }
        }
        if let raw = suffix(path, after: "/api/history/") {
            try expect(request, "GET")
            let name = try channelName(raw)
            let policy = try configuredPolicy(name)
            return read(name, StreamQuery(policy: policy.stream, create: true, includeHistory: true), respond) { stream in
                respond(.success(HTTPResponse(status: 200, json: [
                    "channel": .string(name.rawValue), "epoch": .string(stream.position?.epoch ?? ""),
                    "offset": .int(Int64(stream.position?.offset ?? 0)),
                    "publications": .array(stream.history.map(\.publication.json)),
                ])))
            }
        }
        throw notFound(request)
    }

    // MARK: Routes

    private func health() -> HTTPResponse {
        HTTPResponse(status: 200, json: [
            "status": "ok",
            "version": .string(HybridSyncWire.serverVersion),
            "connections": .int(Int64(sessions.count)),
            "channels": .int(Int64(hub.channels.count)),
        ])
    }

    /// One publication on `name` (optionally a state change), validated: an unknown namespace, or a
    /// key on a namespace that does not retain state, is refused.
    private func publishRequest(_ data: JSONValue, to name: ChannelName, key: String?, remove: Bool = false) throws(APIError) -> PublishRequest {
        let policy = try configuredPolicy(name)
        var change: StateChange?
        if let key {
            guard policy.retainState else {
                throw APIError.stateNotRetained("namespace '\(name.namespace)' does not retain state: publish without 'key', or enable retainState")
            }
            guard !key.isEmpty, key.utf8.count <= 256 else { throw APIError.badRequest("'key' must be 1-256 bytes") }
            change = remove ? .remove(key: key) : .set(key: key)
        }
        return PublishRequest(channel: name, policy: policy.stream, data: data, change: change)
    }

    /// `{"channels": [...], "data"}`: one publication per channel, all validated first.
    private func broadcastRequests(_ request: JSONValue) throws(APIError) -> [PublishRequest] {
        guard case .array(let raw)? = request["channels"], !raw.isEmpty, raw.count <= 1000 else {
            throw APIError.badRequest("'channels' must be an array of 1-1000 channel names")
        }
        let data = try field(request, "data")
        var requests: [PublishRequest] = []
        var seen = Set<String>()
        for value in raw {
            guard let text = value.stringValue else { throw APIError.badRequest("'channels' must hold strings") }
            // A channel listed twice would be published twice; that is never what the caller meant.
            guard seen.insert(text).inserted else {
                throw APIError.badRequest("'channels' lists '\(text.prefix(200))' twice; list each channel once")
            }
            requests.append(try publishRequest(data, to: try channelName(text), key: nil))
        }
        return requests
    }

    /// `{"user", "reason", "until"?}`.
    private func banRoute(_ body: [UInt8], _ respond: @escaping Respond) throws(APIError) {
        let request = try jsonObject(body)
        let user = try string(request, "user")
        let reason = try optionalString(request, "reason") ?? "banned"
        var until: Double?
        if let raw = request["until"], raw != .null {
            guard let value = raw.doubleValue else { throw APIError.badRequest("'until' must be seconds since 1970, or null") }
            guard value > clock.now() else { throw APIError.badRequest("'until' is in the past") }
            until = value
        }
        ban(user: user, reason: reason, until: until) { result in
            respond(result.mapError(Self.engineUnavailable).map {
                HTTPResponse(status: 200, json: [
                    "user": .string(user), "sessionsClosed": .int(Int64($0.sessionsClosed)), "version": .int(Int64($0.version)),
                ])
            })
        }
    }

    // MARK: Broker calls

    /// The API's answer when the engine failed: nothing was applied; retrying later may work.
    static func engineUnavailable(_ error: BrokerError) -> APIError {
        APIError.engineUnavailable("the storage engine failed (\(error.message)); nothing was applied, retry later")
    }

    /// Stores publications, then answers with `render` of them.
    private func store(_ requests: [PublishRequest], idempotency: IdempotencyRecord? = nil, _ respond: @escaping Respond,
                       render: @escaping ([SequencedPublication]) -> HTTPResponse) {
        sequence(requests, idempotency: idempotency) { result in
            respond(result.mapError(Self.engineUnavailable).map(render))
        }
    }

    /// Reads a stream, then runs `next` with it (failures are answered here).
    private func read(_ name: ChannelName, _ query: StreamQuery, _ respond: @escaping Respond, next: @escaping (StreamRead) -> Void) {
        broker.read(name, query, now: clock.now()) { result in
            switch result {
            case .success(let stream): next(stream)
            case .failure(let error): respond(.failure(Self.engineUnavailable(error)))
            }
        }
    }

    /// Publishes `requests` once per `idempotencyKey`: a repeat within the window is answered from
    /// the first one's receipts instead of publishing again. Keys are scoped to the route and the
    /// channel(s); the same key with a different body in that scope is refused with 409. The key is
    /// stored with the publications, in the same broker write.
    private func idempotent(
        _ route: String, _ body: JSONValue, _ requests: [PublishRequest], _ respond: @escaping Respond,
        render: @escaping ([PublishReceipt]) -> HTTPResponse
    ) throws(APIError) {
        let toReceipts: ([SequencedPublication]) -> HTTPResponse = { published in
            render(published.map { PublishReceipt(channel: $0.publication.channel, offset: $0.publication.offset, key: $0.publication.key) })
        }
        guard let keyValue = body["idempotencyKey"] else { return store(requests, respond, render: toReceipts) }
        guard let key = keyValue.stringValue, !key.isEmpty, key.utf8.count <= 256 else {
            throw APIError.badRequest("'idempotencyKey' must be a string of 1-256 bytes")
        }
        let scoped = "\(route) \(requests.map(\.channel.rawValue).joined(separator: ",")) \(key)"
        let now = clock.now()
        broker.recall(idempotencyKey: scoped, body: body, now: now) { [self] result in
            switch result {
            case .failure(let error):
                respond(.failure(Self.engineUnavailable(error)))
            case .success(.repeated(let receipts)):
                respond(.success(render(receipts)))
            case .success(.conflict):
                respond(.failure(APIError.idempotencyConflict(
                    "idempotencyKey '\(key.prefix(64))' was used on this route and channel with a different body; use a new key")))
            case .success(.new):
                let record = IdempotencyRecord(
                    key: scoped, body: body, expires: now + configuration.idempotencyWindowSeconds, maxKeys: configuration.idempotencyMaxKeys
                )
                store(requests, idempotency: record, respond, render: toReceipts)
            }
        }
    }

    // MARK: Helpers

    private func authorized(_ request: HTTPRequest) -> Bool {
        guard let header = request.authorization, header.hasPrefix("Bearer ") else { return false }
        return apiKey.matches(String(header.dropFirst("Bearer ".count)))
    }

    /// A route answers `method`, and `HEAD` too when that is `GET` (the transport drops the body).
    private func expect(_ request: HTTPRequest, _ method: String) throws(APIError) {
        let allowed = method == "GET" ? ["GET", "HEAD"] : [method]
        guard allowed.contains(request.method) else {
            var error = APIError.methodNotAllowed("\(request.path.prefix(100)) accepts \(allowed.joined(separator: " and ")), not \(request.method.prefix(20))")
            error.allow = allowed.joined(separator: ", ")
            throw error
        }
    }

    private func notFound(_ request: HTTPRequest) -> APIError {
        APIError.notFound("no route \(request.method) \(request.path.prefix(100)); see docs/API.md")
    }

    private func suffix(_ path: String, after prefix: String) -> String? {
        guard path.hasPrefix(prefix), path.count > prefix.count else { return nil }
        return String(path.dropFirst(prefix.count))
    }

    private func configuredPolicy(_ name: ChannelName) throws(APIError) -> NamespacePolicy {
        guard let policy = policy(name) else { throw APIError.invalidChannel(unknownNamespace(name).message) }
        return policy
    }

    private func jsonObject(_ body: [UInt8]) throws(APIError) -> JSONValue {
        let value: JSONValue
        do {
            value = try JSONValue.parse(body)
        } catch {
            throw APIError.badRequest("body is not JSON: \(error.description)")
        }
        guard case .object = value else { throw APIError.badRequest("body must be a JSON object") }
        return value
    }

    private func field(_ object: JSONValue, _ name: String) throws(APIError) -> JSONValue {
        guard let value = object[name] else { throw APIError.badRequest("body needs '\(name)'") }
        return value
    }

    private func string(_ object: JSONValue, _ name: String) throws(APIError) -> String {
        guard let value = object[name]?.stringValue, !value.isEmpty else {
            throw APIError.badRequest("body needs '\(name)' (a non-empty string)")
        }
        return value
    }

    private func optionalString(_ object: JSONValue, _ name: String) throws(APIError) -> String? {
        guard let value = object[name], value != .null else { return nil }
        guard let text = value.stringValue else { throw APIError.badRequest("'\(name)' must be a string") }
        return text
    }

    private func channelName(_ object: JSONValue) throws(APIError) -> ChannelName {
        try channelName(try string(object, "channel"))
    }

    private func channelName(_ raw: String) throws(APIError) -> ChannelName {
        do {
            return try ChannelName(raw)
        } catch {
            throw APIError.invalidChannel(error.description)
        }
    }
}

/// An API failure: HTTP status, a stable `error.code` and a message that says what to do. The
/// codes of docs/API.md's error table that the API itself answers are the static members below
/// (the edge's 413, 431, 501 and 505 come from the HTTP parser); `DocumentedContractTests` keeps
/// the two equal.
public struct APIError: Error, Sendable, Equatable {
    /// The HTTP status.
    public var status: Int
    /// The stable `error.code` (API.md).
    public var code: String
    /// What to do, for the caller.
    public var message: String
    /// The methods the route answers, sent as `Allow` with a 405.
    public var allow: String?

    /// A failure with `status`, `code` and `message`.
    public init(_ status: Int, _ code: String, _ message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    /// 400 `bad_request`: the body or one of its fields is wrong; `message` says which.
    static func badRequest(_ message: String) -> APIError { APIError(400, "bad_request", message) }
    /// 400 `invalid_channel`: a bad channel name, or its namespace is not configured.
    static func invalidChannel(_ message: String) -> APIError { APIError(400, "invalid_channel", message) }
    /// 400 `state_not_retained`: retained state asked of a namespace that keeps none.
    static func stateNotRetained(_ message: String) -> APIError { APIError(400, "state_not_retained", message) }
    /// 401 `unauthorized`: no API key, or a wrong one.
    static func unauthorized(_ message: String) -> APIError { APIError(401, "unauthorized", message) }
    /// 404 `not_found`: no such route.
    static func notFound(_ message: String) -> APIError { APIError(404, "not_found", message) }
    /// 405 `method_not_allowed`: the route takes other methods (sent as `Allow`).
    static func methodNotAllowed(_ message: String) -> APIError { APIError(405, "method_not_allowed", message) }
    /// 409 `idempotency_conflict`: an idempotency key reused with another body.
    static func idempotencyConflict(_ message: String) -> APIError { APIError(409, "idempotency_conflict", message) }
    /// 429 `rate_limited`: over `api.maxRequestsPerSecond`.
    static func rateLimited(_ message: String) -> APIError { APIError(429, "rate_limited", message) }
    /// 503 `engine_unavailable`: the storage engine could not store or read.
    static func engineUnavailable(_ message: String) -> APIError { APIError(503, "engine_unavailable", message) }

    /// Every (status, code) the members above make, for the documentation check.
    package static let table: [(status: Int, code: String)] = [
        badRequest(""), invalidChannel(""), stateNotRetained(""), unauthorized(""), notFound(""), methodNotAllowed(""),
        idempotencyConflict(""), rateLimited(""), engineUnavailable(""),
    ].map { ($0.status, $0.code) }

    var response: HTTPResponse {
        var response = HTTPResponse.error(status, code: code, message: message)
        if let allow { response.headers["Allow"] = allow }
        return response
    }
}
