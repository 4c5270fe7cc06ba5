import HybridSyncBroker
import HybridSyncHTTP
import HybridSyncProtocol
import HybridSyncServer

/// The route table (docs/API.md): each route reads its request, calls one server operation and
/// renders what it answers.
extension BackendAPIRouter {
    static let routes: [Route] = [
        Route(.open("/health"), "GET") { router, call throws(HTTPError) in
            let load = router.server.load
            call.ok(["status": "ok", "version": .string(HybridSyncWire.serverVersion),
                     "connections": .int(Int64(load.connections)), "channels": .int(Int64(load.channels))])
        },
        // Listening (this answer proves it) and the engine answers a read.
        Route(.open("/ready"), "GET") { router, call throws(HTTPError) in
            router.server.checkEngine { result in call.finish(result.map { HTTPResponse(status: 200, json: ["status": "ready"]) }.mapError(\.httpError)) }
        },
        Route(.open("/metrics"), "GET") { router, call throws(HTTPError) in
            guard let text = router.server.exportMetrics() else { throw .notFound("no route GET /metrics: metrics are off; see docs/API.md") }
            call.finish(.success(HTTPResponse(status: 200, body: text, contentType: "text/plain; version=0.0.4; charset=utf-8")))
        },
        Route(.exact("/api/publish"), "POST") { router, call throws(HTTPError) in
            let body = try Body(call.request.body)
            let name = try body.channel()
            let (data, key) = (try body.field("data"), try body.optionalString("key"))
            let publication = try operation { () throws(OperationError) in try router.server.publication(data, to: name, key: key) }
            try router.publish([publication], call, body) { receipts in
                var result: [String: JSONValue] = [
                    "channel": .string(name.rawValue), "offset": .int(Int64(receipts[0].offset)),
                    "subscribers": .int(Int64(router.server.subscriberCount(name))),
                ]
                if key != nil { result["version"] = .int(Int64(receipts[0].offset)) }
                return .object(result)
            }
        },
        Route(.exact("/api/broadcast"), "POST") { router, call throws(HTTPError) in
            let body = try Body(call.request.body)
            let data = try body.field("data")
            var publications: [PublishRequest] = []
            var seen = Set<String>()
            for text in try body.channelList() {
                // A channel listed twice would be published twice; that is never what the caller meant.
                guard seen.insert(text).inserted else {
                    throw .badRequest("'channels' lists '\(text.prefix(200))' twice; list each channel once")
                }
                let name = try Body.channelName(text)
                publications.append(try operation { () throws(OperationError) in try router.server.publication(data, to: name, key: nil) })
            }
            try router.publish(publications, call, body) { receipts in
                ["publications": .array(receipts.map { ["channel": .string($0.channel.rawValue), "offset": .int(Int64($0.offset))] })]
            }
        },
        Route(.exact("/api/state/set"), "POST") { router, call throws(HTTPError) in
            let body = try Body(call.request.body)
            let name = try body.channel()
            let (value, key) = (try body.field("value"), try body.string("key"))
            let publication = try operation { () throws(OperationError) in try router.server.publication(value, to: name, key: key) }
            try router.publish([publication], call, body) { receipts in
                ["channel": .string(name.rawValue), "key": .string(receipts[0].key ?? ""), "version": .int(Int64(receipts[0].offset))]
            }
        },
        Route(.exact("/api/state/remove"), "POST") { router, call throws(HTTPError) in
            let body = try Body(call.request.body)
            let name = try body.channel()
            let key = try body.string("key")
            try operation { () throws(OperationError) in
                try router.server.removeState(name, key: key) { result in
                    call.finish(result.map { removed in
                        HTTPResponse(status: 200, json: ["channel": .string(name.rawValue), "removed": .bool(removed.removed), "version": .int(Int64(removed.version))])
                    }.mapError(\.httpError))
                }
            }
        },
        Route(.exact("/api/ban"), "POST") { router, call throws(HTTPError) in
            let body = try Body(call.request.body)
            let user = try body.string("user")
            let reason = try body.optionalString("reason") ?? "banned"
            var until: Double?
            if let raw = body.json["until"], raw != .null {
                guard let value = raw.doubleValue else { throw .badRequest("'until' must be seconds since 1970, or null") }
                guard value > router.server.now else { throw .badRequest("'until' is in the past") }
                until = value
            }
            router.server.banUser(user, reason: reason, until: until) { result in
                call.finish(result.map {
                    HTTPResponse(status: 200, json: ["user": .string(user), "sessionsClosed": .int(Int64($0.sessionsClosed)), "version": .int(Int64($0.version))])
                }.mapError(\.httpError))
            }
        },
        Route(.exact("/api/bans"), "GET") { router, call throws(HTTPError) in
            router.server.bans { result in
                call.finish(result.map { bans in
                    HTTPResponse(status: 200, json: ["bans": .array(bans.sorted { $0.key < $1.key }.map { user, ban in
                        ["user": .string(user), "reason": .string(ban.reason), "until": ban.until.map { .double($0) } ?? .null]
                    })])
                }.mapError(\.httpError))
            }
        },
        Route(.exact("/api/disconnect"), "POST") { router, call throws(HTTPError) in
            let body = try Body(call.request.body)
            let user = try body.string("user")
            var code = CloseCode.forceDisconnect
            if let given = body.json["code"], given != .null {
                // A mistyped code must not become the default 4504, which tells clients to stay away.
                guard let number = given.intValue, (4000...4999).contains(number) else {
                    throw .badRequest("'code' must be an integer, 4000-4499 (client reconnects) or 4500-4999 (it does not)")
                }
                code = CloseCode(rawValue: UInt16(number))
            }
            let reason = try body.optionalString("reason") ?? code.name
            let closed = router.server.disconnect(user: user, code: code, reason: reason)
            call.ok(["user": .string(user), "sessionsClosed": .int(Int64(closed))])
        },
        Route(.parameter(prefix: "/api/ban/", name: "user"), "DELETE") { router, call throws(HTTPError) in
            let user = call.parameter
            router.server.unbanUser(user) { result in
                call.finish(result.map { HTTPResponse(status: 200, json: ["user": .string(user), "lifted": .bool($0)]) }.mapError(\.httpError))
            }
        },
        Route(.parameter(prefix: "/api/sessions/", name: "user"), "GET") { router, call throws(HTTPError) in
            call.ok(["user": .string(call.parameter), "sessions": .array(router.server.sessions(of: call.parameter))])
        },
        Route(.parameter(prefix: "/api/channels/", name: "channel"), "GET") { router, call throws(HTTPError) in
            let name = try Body.channelName(call.parameter)
            try router.read(name, .position, call) { stream in
                ["subscribers": .int(Int64(router.server.subscriberCount(name)))]
            }
        },
        Route(.parameter(prefix: "/api/state/", name: "channel"), "GET") { router, call throws(HTTPError) in
            try router.read(try Body.channelName(call.parameter), .state, call) { stream in
                ["state": .object(stream.state.mapValues(\.json))]
            }
        },
        Route(.parameter(prefix: "/api/history/", name: "channel"), "GET") { router, call throws(HTTPError) in
            try router.read(try Body.channelName(call.parameter), .history, call) { stream in
                ["publications": .array(stream.history.map(\.publication.json))]
            }
        },
        Route(.parameter(prefix: "/api/presence/", name: "channel"), "GET") { router, call throws(HTTPError) in
            try router.readPresence(call, stats: false)
        },
        Route(.parameter(prefix: "/api/presence_stats/", name: "channel"), "GET") { router, call throws(HTTPError) in
            try router.readPresence(call, stats: true)
        },
    ]

    /// Publishes through the server, once per `idempotencyKey` when the body has one: keys are
    /// scoped to the route and the channel(s).
    private func publish(
        _ publications: [PublishRequest], _ call: Call, _ body: Body, render: @escaping ([PublishReceipt]) -> JSONValue
    ) throws(HTTPError) {
        var idempotency: SyncServer.Idempotency?
        var given = ""
        if let keyValue = body.json["idempotencyKey"] {
            guard let key = keyValue.stringValue, !key.isEmpty, key.utf8.count <= 256 else {
                throw .badRequest("'idempotencyKey' must be a string of 1-256 bytes")
            }
            given = key
            let scope = "\(call.request.path) \(publications.map(\.channel.rawValue).joined(separator: ","))"
            idempotency = SyncServer.Idempotency(key: "\(scope) \(key)", body: body.json)
        }
        server.publish(publications, idempotency: idempotency) { result in
            call.finish(result.map { HTTPResponse(status: 200, json: render($0)) }.mapError { error in
                guard error.reason == .idempotencyConflict else { return error.httpError }
                return .idempotencyConflict("idempotencyKey '\(given.prefix(64))' was used on this route and channel with a different body; use a new key")
            })
        }
    }

    /// Answers a presence read of the route's channel.
    private func readPresence(_ call: Call, stats: Bool) throws(HTTPError) {
        let name = try Body.channelName(call.parameter)
        try operation { () throws(OperationError) in
            try server.readPresence(name, stats: stats) { result in
                call.finish(result.map { HTTPResponse(status: 200, json: $0) }.mapError(\.httpError))
            }
        }
    }

    /// Reads a channel and answers its position (`channel`, `epoch`, `offset`: "" and 0 without a
    /// stream) with the fields `render` adds.
    private func read(
        _ name: ChannelName, _ kind: SyncServer.ChannelRead, _ call: Call, render: @escaping (StreamRead) -> [String: JSONValue]
    ) throws(HTTPError) {
        try operation { () throws(OperationError) in
            try server.read(name, kind) { result in
                call.finish(result.map { stream in
                    var json = render(stream)
                    json["channel"] = .string(name.rawValue)
                    json["epoch"] = .string(stream.position?.epoch ?? "")
                    json["offset"] = .int(Int64(stream.position?.offset ?? 0))
                    return HTTPResponse(status: 200, json: .object(json))
                }.mapError(\.httpError))
            }
        }
    }
}

/// Runs a server operation, its refusal as the API's answer.
func operation<Value>(_ body: () throws(OperationError) -> Value) throws(HTTPError) -> Value {
    do {
        return try body()
    } catch {
        throw error.httpError
    }
}

extension OperationError {
    /// The API's answer to this failure (docs/API.md's error table).
    var httpError: HTTPError {
        switch reason {
        case .invalidChannel: .invalidChannel(message)
        case .stateNotRetained: .stateNotRetained(message)
        case .presenceDisabled: .presenceDisabled(message)
        case .invalidArgument: .badRequest(message)
        case .idempotencyConflict: .idempotencyConflict(message)
        case .engineUnavailable: .engineUnavailable(message)
        }
    }
}
