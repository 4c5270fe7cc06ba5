import HybridSyncCrypto
public import HybridSyncProtocol
import Logging

/// The backend HTTP API (docs/API.md).
extension SyncServer {
    public func handle(_ request: HTTPRequest) -> HTTPResponse {
        do {
            return try route(request)
        } catch {
            return error.response
        }
    }

    private func route(_ request: HTTPRequest) throws(APIError) -> HTTPResponse {
        let path = request.path
        if path == "/health" {
            try expect(request, "GET")
            return health()
        }
        guard path.hasPrefix("/api/") else { throw notFound(request) }
        guard apiRate.take(now: clock.now()) else {
            throw APIError(429, "rate_limited", "over \(Int(configuration.apiRequestsPerSecond)) API requests per second; retry shortly")
        }
        guard authorized(request) else {
            logger.info("API request refused: bad or missing API key", metadata: ["path": "\(path.prefix(100))"])
            throw APIError(401, "unauthorized", "send the API key as 'Authorization: Bearer <key>'")
        }
        switch path {
        case "/api/publish":
            try expect(request, "POST")
            return try idempotent(request) { body throws(APIError) in try publish(body) }
        case "/api/broadcast":
            try expect(request, "POST")
            return try idempotent(request) { body throws(APIError) in try broadcast(body) }
        case "/api/state/set":
            try expect(request, "POST")
            let body = try jsonObject(request.body)
            let publication = try publish(try field(body, "value"), to: try channelName(body), key: try string(body, "key"))
            return HTTPResponse(status: 200, json: ["channel": .string(publication.channel.rawValue), "key": .string(publication.key ?? ""), "version": .int(Int64(publication.offset))])
        case "/api/state/remove":
            try expect(request, "POST")
            let body = try jsonObject(request.body)
            let name = try channelName(body)
            let key = try string(body, "key")
            // Removing a key that is not there changes nothing: no publication, no offset used.
            if let existing = channel(name), existing.policy.retainState, existing.state[key] == nil {
                return HTTPResponse(status: 200, json: [
                    "channel": .string(name.rawValue), "removed": false, "version": .int(Int64(existing.offset)),
                ])
            }
            let publication = try publish(.null, to: name, key: key, remove: true)
            return HTTPResponse(status: 200, json: [
                "channel": .string(publication.channel.rawValue), "removed": true, "version": .int(Int64(publication.offset)),
            ])
        case "/api/ban":
            try expect(request, "POST")
            return try banRoute(request.body)
        case "/api/bans":
            try expect(request, "GET")
            _ = bans.keys.map { activeBan($0) }  // lift the expired ones first
            let list = bans.keys.sorted().map { user -> JSONValue in
                let ban = bans[user]!
                return ["user": .string(user), "reason": .string(ban.reason), "until": ban.until.map { .double($0) } ?? .null]
            }
            return HTTPResponse(status: 200, json: ["bans": .array(list)])
        case "/api/disconnect":
            try expect(request, "POST")
            let body = try jsonObject(request.body)
            let user = try string(body, "user")
            let rawCode = body["code"]?.intValue ?? Int64(CloseCode.forceDisconnect.rawValue)
            guard (4000...4999).contains(rawCode) else {
                throw APIError(400, "bad_request", "'code' must be 4000-4499 (client reconnects) or 4500-4999 (it does not)")
            }
            let code = CloseCode(rawValue: UInt16(rawCode))
            let reason = body["reason"]?.stringValue ?? code.name
            let closed = disconnect(user: user, code: code, reason: reason)
            return HTTPResponse(status: 200, json: ["user": .string(user), "sessionsClosed": .int(Int64(closed))])
        default:
            break
        }
        if let user = suffix(path, after: "/api/ban/") {
            try expect(request, "DELETE")
            return HTTPResponse(status: 200, json: ["user": .string(user), "lifted": .bool(unban(user: user))])
        }
        if let raw = suffix(path, after: "/api/channels/") {
            try expect(request, "GET")
            let name = try channelName(raw)
            guard configuration.namespaces[String(name.namespace)] != nil else {
                throw APIError(400, "invalid_channel", unknownNamespace(name).message)
            }
            return channelInfo(name)
        }
        if let raw = suffix(path, after: "/api/state/") {
            try expect(request, "GET")
            let name = try channelName(raw)
            let channel = try existingChannel(name)
            guard channel.policy.retainState else {
                throw APIError(400, "state_not_retained", "namespace '\(name.namespace)' does not retain state")
            }
            return HTTPResponse(status: 200, json: [
                "channel": .string(name.rawValue), "epoch": .string(channel.epoch), "offset": .int(Int64(channel.offset)),
                "state": .object(channel.state.mapValues(\.json)),
            ])
        }
        if let raw = suffix(path, after: "/api/history/") {
            try expect(request, "GET")
            let name = try channelName(raw)
            let channel = try existingChannel(name)
            channel.trimHistory(now: clock.now())
            return HTTPResponse(status: 200, json: [
                "channel": .string(name.rawValue), "epoch": .string(channel.epoch), "offset": .int(Int64(channel.offset)),
                "publications": .array(channel.history.map(\.publication.json)),
            ])
        }
        throw notFound(request)
    }

    // MARK: Routes

    private func health() -> HTTPResponse {
        HTTPResponse(status: 200, json: [
            "status": "ok",
            "version": .string(HybridSyncWire.serverVersion),
            "connections": .int(Int64(sessions.count)),
            "channels": .int(Int64(channels.count)),
        ])
    }

    /// `{"channel", "data", "key"?}`.
    private func publish(_ request: JSONValue) throws(APIError) -> HTTPResponse {
        let name = try channelName(request)
        let key = try optionalString(request, "key")
        let publication = try publish(try field(request, "data"), to: name, key: key)
        var result: [String: JSONValue] = [
            "channel": .string(name.rawValue), "offset": .int(Int64(publication.offset)),
            "subscribers": .int(Int64(channels[name]?.subscribers.count ?? 0)),
        ]
        if key != nil { result["version"] = .int(Int64(publication.offset)) }
        return HTTPResponse(status: 200, json: .object(result))
    }

    /// `{"channels": [...], "data"}`: one publication per channel, all or none validated first.
    private func broadcast(_ request: JSONValue) throws(APIError) -> HTTPResponse {
        guard case .array(let raw)? = request["channels"], !raw.isEmpty, raw.count <= 1000 else {
            throw APIError(400, "bad_request", "'channels' must be an array of 1-1000 channel names")
        }
        var names: [ChannelName] = []
        for value in raw {
            guard let text = value.stringValue else { throw APIError(400, "bad_request", "'channels' must hold strings") }
            let name = try channelName(text)
            guard channel(name) != nil else { throw APIError(400, "invalid_channel", unknownNamespace(name).message) }
            names.append(name)
        }
        let data = try field(request, "data")
        var results: [JSONValue] = []
        for name in names {
            let publication = try publish(data, to: name)
            results.append(["channel": .string(name.rawValue), "offset": .int(Int64(publication.offset))])
        }
        return HTTPResponse(status: 200, json: ["publications": .array(results)])
    }

    /// `{"user", "reason", "until"?}`.
    private func banRoute(_ body: [UInt8]) throws(APIError) -> HTTPResponse {
        let request = try jsonObject(body)
        let user = try string(request, "user")
        let reason = try optionalString(request, "reason") ?? "banned"
        var until: Double?
        if let raw = request["until"], raw != .null {
            guard let value = raw.doubleValue else { throw APIError(400, "bad_request", "'until' must be seconds since 1970, or null") }
            guard value > clock.now() else { throw APIError(400, "bad_request", "'until' is in the past") }
            until = value
        }
        let result = ban(user: user, reason: reason, until: until)
        return HTTPResponse(status: 200, json: [
            "user": .string(user), "sessionsClosed": .int(Int64(result.sessionsClosed)), "version": .int(Int64(result.version)),
        ])
    }

    private func channelInfo(_ name: ChannelName) -> HTTPResponse {
        let channel = channels[name]
        return HTTPResponse(status: 200, json: [
            "channel": .string(name.rawValue),
            "subscribers": .int(Int64(channel?.subscribers.count ?? 0)),
            "epoch": channel.map { .string($0.epoch) } ?? .null,
            "offset": .int(Int64(channel?.offset ?? 0)),
        ])
    }

    // MARK: Helpers

    /// Parses the body once and answers a repeated `idempotencyKey` with the first response
    /// instead of running `run` again. Keys are scoped to the route and the channel(s); the same
    /// key with a different body in that scope is refused with 409.
    private func idempotent(_ request: HTTPRequest, _ run: (JSONValue) throws(APIError) -> HTTPResponse) throws(APIError) -> HTTPResponse {
        let body = try jsonObject(request.body)
        guard let keyValue = body["idempotencyKey"] else { return try run(body) }
        guard let key = keyValue.stringValue, !key.isEmpty, key.utf8.count <= 256 else {
            throw APIError(400, "bad_request", "'idempotencyKey' must be a string of 1-256 bytes")
        }
        let channels: String = switch (body["channel"], body["channels"]) {
        case (.string(let channel)?, _): channel
        case (_, .array(let list)?): list.compactMap(\.stringValue).joined(separator: ",")
        default: ""
        }
        let scoped = "\(request.path) \(channels) \(key)"
        switch idempotency.lookup(scoped, body: body) {
        case .repeated(let earlier):
            return earlier
        case .conflict:
            throw APIError(409, "idempotency_conflict",
                "idempotencyKey '\(key.prefix(64))' was used on this route and channel with a different body; use a new key")
        case .new:
            let response = try run(body)
            idempotency.store(response, body: body, for: scoped, now: clock.now(), window: configuration.idempotencyWindowSeconds,
                              maxKeys: configuration.idempotencyMaxKeys)
            return response
        }
    }

    private func authorized(_ request: HTTPRequest) -> Bool {
        guard let header = request.authorization, header.hasPrefix("Bearer ") else { return false }
        return apiKey.matches(String(header.dropFirst("Bearer ".count)))
    }

    private func expect(_ request: HTTPRequest, _ method: String) throws(APIError) {
        guard request.method == method else {
            throw APIError(405, "method_not_allowed", "\(request.path.prefix(100)) accepts \(method), not \(request.method)")
        }
    }

    private func notFound(_ request: HTTPRequest) -> APIError {
        APIError(404, "not_found", "no route \(request.method) \(request.path.prefix(100)); see docs/API.md")
    }

    private func suffix(_ path: String, after prefix: String) -> String? {
        guard path.hasPrefix(prefix), path.count > prefix.count else { return nil }
        return String(path.dropFirst(prefix.count))
    }

    private func existingChannel(_ name: ChannelName) throws(APIError) -> ChannelState {
        guard let channel = channel(name) else { throw APIError(400, "invalid_channel", unknownNamespace(name).message) }
        return channel
    }

    private func jsonObject(_ body: [UInt8]) throws(APIError) -> JSONValue {
        let value: JSONValue
        do {
            value = try JSONValue.parse(body)
        } catch {
            throw APIError(400, "bad_request", "body is not JSON: \(error.description)")
        }
        guard case .object = value else { throw APIError(400, "bad_request", "body must be a JSON object") }
        return value
    }

    private func field(_ object: JSONValue, _ name: String) throws(APIError) -> JSONValue {
        guard let value = object[name] else { throw APIError(400, "bad_request", "body needs '\(name)'") }
        return value
    }

    private func string(_ object: JSONValue, _ name: String) throws(APIError) -> String {
        guard let value = object[name]?.stringValue, !value.isEmpty else {
            throw APIError(400, "bad_request", "body needs '\(name)' (a non-empty string)")
        }
        return value
    }

    private func optionalString(_ object: JSONValue, _ name: String) throws(APIError) -> String? {
        guard let value = object[name], value != .null else { return nil }
        guard let text = value.stringValue else { throw APIError(400, "bad_request", "'\(name)' must be a string") }
        return text
    }

    private func channelName(_ object: JSONValue) throws(APIError) -> ChannelName {
        try channelName(try string(object, "channel"))
    }

    private func channelName(_ raw: String) throws(APIError) -> ChannelName {
        do {
            return try ChannelName(raw)
        } catch {
            throw APIError(400, "invalid_channel", error.description)
        }
    }
}
