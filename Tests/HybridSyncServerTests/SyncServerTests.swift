import HybridSyncHTTP
import HybridSyncBroker
import HybridSyncCrypto
import HybridSyncProtocol
import HybridSyncServer
import HybridSyncDaemonTesting
import Testing

/// Protocol-level behaviour of the server through the in-memory transport and a manual clock.
@Suite("Sync server", .offTheCooperativePool)
struct SyncServerTests {
    let h = Harness()
    var clock: ManualServerClock { h.clock }
    var secret: String { h.secret }
    var server: InMemoryServer { h.server }
    var tokens: TokenMinter { h.tokens }

    private func connected(_ user: String = "7") throws -> InMemoryConnection { try h.connected(user) }

    private func publish(_ channel: String, _ data: String) -> HTTPResponse {
        server.handle(HTTPRequest(method: "POST", path: "/api/publish", headers: [("authorization", "Bearer k")],
                                  body: Array(#"{"channel":"\#(channel)","data":\#(data)}"#.utf8)))
    }

    private func errorCode(_ messages: [ServerMessage], id: UInt32) -> ErrorCode? { messages.errorCode(id: id) }

    @Test("a subscriber receives a backend publication with its offset")
    func publishReachesSubscriber() throws {
        let client = try connected()
        client.send(#"{"id":2,"op":"subscribe","channel":"moderation:bans"}"#)
        guard case .reply(2, .success(let result))? = client.takeMessages().first, let subscribed = SubscribeResult(result) else {
            throw TestFailure("subscribe failed")
        }
        #expect(subscribed.position.offset == 0)
        let response = publish("moderation:bans", #"{"user":"42","banned":true}"#)
        #expect(response.status == 200)
        let pushes = client.takeMessages()
        let expected = try Publication(channel: ChannelName("moderation:bans"), offset: 1, data: JSONValue.parse(#"{"user":"42","banned":true}"#))
        #expect(pushes == [.push(.publication(expected))])
    }

    @Test("several commands in one frame are all answered, in order")
    func batchedCommands() throws {
        let client = try connected()
        client.send("{\"id\":5,\"op\":\"ping\"}\n{\"id\":6,\"op\":\"subscribe\",\"channel\":\"app:b\"}\n{\"id\":7,\"op\":\"ping\"}")
        let ids = client.takeMessages().compactMap { message -> UInt32? in
            if case .reply(let id, .success) = message { return id }
            return nil
        }
        #expect(ids == [5, 6, 7])
    }

    @Test("malformed JSON and unknown commands get an error and the connection keeps working")
    func badCommandsKeepConnection() throws {
        let client = try connected()
        client.send("{this is not json")
        #expect(errorCode(client.takeMessages(), id: 0) == .badRequest)
        client.send(#"{"id":3,"op":"teleport"}"#)
        #expect(errorCode(client.takeMessages(), id: 3) == .unknownCommand)
        client.send(#"{"id":4,"op":"ping"}"#)
        #expect(client.takeMessages() == [.reply(id: 4, .success(.object([:])))])
        #expect(client.closed == nil)
    }

    @Test("subscribing before connecting is refused with 108")
    func subscribeBeforeConnect() {
        let client = server.openConnection()
        client.send(#"{"id":1,"op":"subscribe","channel":"moderation:bans"}"#)
        #expect(errorCode(client.takeMessages(), id: 1) == .notConnected)
        #expect(client.closed == nil)
    }

    @Test("a second subscribe to the same channel is refused with 105")
    func duplicateSubscribe() throws {
        let client = try connected()
        client.send(#"{"id":2,"op":"subscribe","channel":"app:b"}"#)
        client.send(#"{"id":3,"op":"subscribe","channel":"app:b"}"#)
        #expect(errorCode(client.takeMessages(), id: 3) == .alreadySubscribed)
    }

    @Test("an unsubscribed connection stops receiving")
    func unsubscribeStopsDelivery() throws {
        let client = try connected()
        client.send(#"{"id":2,"op":"subscribe","channel":"app:b"}"#)
        client.send(#"{"id":3,"op":"unsubscribe","channel":"app:b"}"#)
        _ = client.takeMessages()
        _ = publish("app:b", "1")
        #expect(client.takeMessages().isEmpty)
        client.send(#"{"id":4,"op":"unsubscribe","channel":"app:b"}"#)
        #expect(errorCode(client.takeMessages(), id: 4) == .notSubscribed)
    }

    @Test("tokens that can never work close the connection with 4500", arguments: TokenCase.allCases)
    func invalidTokens(_ tokenCase: TokenCase) {
        let client = server.openConnection()
        client.send(#"{"id":1,"op":"connect","token":"\#(tokenCase.token(secret: secret, now: clock.now()))"}"#)
        let messages = client.takeMessages()
        #expect(errorCode(messages, id: 1) == .unauthorized, "\(tokenCase)")
        #expect(messages.contains(.push(.disconnect(code: .invalidToken, reason: messages.disconnectReason ?? ""))))
        #expect(client.closed?.code == .invalidToken)
    }

    @Test("an expired token is refused with 109 and a reconnect close code (refresh, then retry)")
    func expiredToken() {
        let client = server.openConnection()
        let stale = tokens.token(user: "7", expiresIn: 10, now: clock.now() - 100)
        client.send(#"{"id":1,"op":"connect","token":"\#(stale)"}"#)
        #expect(errorCode(client.takeMessages(), id: 1) == .tokenExpired)
        #expect(client.closed?.code == .tokenExpired)
        #expect(client.closed?.code.shouldReconnect == true)
    }

    @Test("the API refuses a wrong or missing key with 401")
    func apiKey() {
        for header in [nil, "Bearer wrong", "Bearer", "Basic k", "Bearer k2"] {
            let response = server.handle(HTTPRequest(method: "POST", path: "/api/publish", headers: header.map { [("authorization", $0)] } ?? [],
                                                     body: Array(#"{"channel":"app:b","data":1}"#.utf8)))
            #expect(response.status == 401, "\(header ?? "no header")")
        }
    }

    @Test("the API explains bad publish bodies with 400")
    func badPublishBodies() {
        for body in ["", "{", #"{"data":1}"#, #"{"channel":"nocolon","data":1}"#, #"{"channel":"app:b"}"#, "[1]"] {
            let response = server.handle(HTTPRequest(method: "POST", path: "/api/publish", headers: [("authorization", "Bearer k")], body: Array(body.utf8)))
            #expect(response.status == 400, "\(body)")
            #expect((try? JSONValue.parse(response.body))?["error"]?["message"]?.stringValue?.isEmpty == false)
        }
        #expect(server.handle(HTTPRequest(method: "GET", path: "/api/nothing", headers: [("authorization", "Bearer k")])).status == 404)
    }

    @Test("a reload (SIGHUP) that changes api.key and api.maxRequestsPerSecond applies to the next request")
    func reloadedKeyAndRate() {
        let publish = { (key: String) in
            server.handle(HTTPRequest(method: "POST", path: "/api/publish", headers: [("authorization", "Bearer \(key)")],
                                      body: Array(#"{"channel":"app:b","data":1}"#.utf8))).status
        }
        #expect(publish("k") == 200)
        var reloaded = ServerConfiguration(apiKey: "k2", tokenSecret: "unit-test-secret")
        reloaded.apiRequestsPerSecond = 2
        let changed = server.withServer { $0.reconfigure(reloaded) }
        #expect(changed.contains("api.key") && changed.contains("api.maxRequestsPerSecond"))
        #expect(publish("k") == 401, "the old key is refused at once")
        #expect(publish("k2") == 200)
        #expect(publish("k2") == 429, "two per second from the reload on, the refused request counted too (the clock does not move)")
    }

    @Test("a route asked with another method: 405 with Allow; HEAD is answered wherever GET is")
    func methods() {
        let wrong = server.handle(HTTPRequest(method: "GET", path: "/api/publish", headers: [("authorization", "Bearer k")]))
        #expect(wrong.status == 405)
        #expect(wrong.headers["Allow"] == "POST")
        let delete = server.handle(HTTPRequest(method: "POST", path: "/api/ban/42", headers: [("authorization", "Bearer k")]))
        #expect(delete.status == 405)
        #expect(delete.headers["Allow"] == "DELETE")
        // Without the key, /api/ says nothing about its routes or methods.
        for (method, path) in [("GET", "/api/publish"), ("POST", "/api/nothing"), ("DELETE", "/api/ban/42")] {
            #expect(server.handle(HTTPRequest(method: method, path: path)).status == 401, "\(method) \(path)")
        }
        for path in ["/health", "/ready", "/api/bans", "/api/channels/app:a", "/api/state/app:a", "/api/history/app:a"] {
            let get = server.handle(HTTPRequest(method: "GET", path: path, headers: [("authorization", "Bearer k")]))
            let head = server.handle(HTTPRequest(method: "HEAD", path: path, headers: [("authorization", "Bearer k")]))
            #expect(get.status == 200, "\(path)")
            #expect(head.status == 200 && head.contentType == get.contentType, "\(path): the transport drops HEAD's body")
            let post = server.handle(HTTPRequest(method: "POST", path: path, headers: [("authorization", "Bearer k")]))
            #expect(post.status == 405 && post.headers["Allow"] == "GET, HEAD", "\(path)")
        }
    }

    @Test("/ready: 200 while the engine answers, 503 engine_unavailable when it does not; both without a key")
    func ready() throws {
        #expect(server.handle(HTTPRequest(method: "GET", path: "/ready")).status == 200)
        let down = InMemoryServer(configuration: ServerConfiguration(apiKey: "k", tokenSecret: "s"), broker: UnavailableBroker())
        let answer = down.handle(HTTPRequest(method: "GET", path: "/ready"))
        #expect(answer.status == 503)
        #expect(try JSONValue.parse(answer.body)["error"]?["code"] == "engine_unavailable")
        #expect(down.handle(HTTPRequest(method: "GET", path: "/health")).status == 200, "alive, not ready")
    }

    @Test("/health counts open connections")
    func health() throws {
        _ = try connected("1")
        _ = server.openConnection()
        let body = try JSONValue.parse(server.handle(HTTPRequest(method: "GET", path: "/health")).body)
        #expect(body["connections"]?.intValue == 2)
        #expect(body["status"]?.stringValue == "ok")
    }
}

/// Tokens that must be refused for good.
enum TokenCase: String, CaseIterable, CustomTestStringConvertible {
    case algNone, algNoneCapitalized, algNoneUpper, algHS512, wrongSecret, noSubject, garbage, notBefore, tamperedClaims

    var testDescription: String { rawValue }

    func token(secret: String, now: Double) -> String {
        let claims = JSONValue.object(["sub": .string("7"), "exp": .int(Int64(now + 60))])
        func unsigned(alg: String) -> String {
            Base64URL.encode(JSONValue.object(["alg": .string(alg), "typ": .string("JWT")]).jsonBytes) + "."
                + Base64URL.encode(claims.jsonBytes) + "."
        }
        switch self {
        case .algNone: return unsigned(alg: "none")
        case .algNoneCapitalized: return unsigned(alg: "None")
        case .algNoneUpper: return unsigned(alg: "NONE")
        case .algHS512:
            let input = unsigned(alg: "HS512").dropLast()
            return input + "." + Base64URL.encode(CryptoPrimitives.hmacSHA256(key: Array(secret.utf8), message: Array(input.utf8)))
        case .wrongSecret: return JSONWebToken.signHS256(claims: claims, secret: Array("other".utf8))
        case .noSubject: return JSONWebToken.signHS256(claims: .object(["exp": .int(Int64(now + 60))]), secret: Array(secret.utf8))
        case .garbage: return "not-a-jwt"
        case .notBefore:
            return JSONWebToken.signHS256(claims: .object(["sub": .string("7"), "nbf": .int(Int64(now + 600))]), secret: Array(secret.utf8))
        case .tamperedClaims:
            let good = JSONWebToken.signHS256(claims: claims, secret: Array(secret.utf8)).split(separator: ".")
            let evil = Base64URL.encode(JSONValue.object(["sub": .string("admin")]).jsonBytes)
            return "\(good[0]).\(evil).\(good[2])"
        }
    }
}


/// An engine that refuses everything, as a full disk would.
final class UnavailableBroker: Broker {
    private let error = BrokerError("disk I/O error")
    func attach(_ listener: any BrokerListener) {}
    func publish(_ requests: [PublishRequest], idempotency: IdempotencyRecord?, now: Double,
                 completion: @escaping (Result<[SequencedPublication], BrokerError>) -> Void) { completion(.failure(error)) }
    func read(_ channel: ChannelName, _ query: StreamQuery, now: Double, completion: @escaping (Result<StreamRead, BrokerError>) -> Void) {
        completion(.failure(error))
    }
    func recall(idempotencyKey: String, body: JSONValue, now: Double, completion: @escaping (Result<IdempotencyMatch, BrokerError>) -> Void) {
        completion(.failure(error))
    }
    func bans(now: Double, completion: @escaping (Result<[String: Ban], BrokerError>) -> Void) { completion(.failure(error)) }
    func ban(of user: String, now: Double, completion: @escaping (Result<Ban?, BrokerError>) -> Void) { completion(.failure(error)) }
    func sweep(now: Double, banChannel: ChannelName, policy: (ChannelName) -> StreamPolicy?, inUse: (ChannelName) -> Bool,
               completion: @escaping (Result<[SequencedPublication], BrokerError>) -> Void) { completion(.failure(error)) }
    func flush() {}
    func presenceJoin(_ channel: ChannelName, user: String, connection: UInt64, info: JSONValue?, maxUsers: Int,
                      completion: @escaping (Result<PresenceJoin, BrokerError>) -> Void) { completion(.failure(error)) }
    func presenceLeave(_ channels: [ChannelName], connection: UInt64) {}
    func presence(of channel: ChannelName, completion: @escaping (Result<[PresenceMember], BrokerError>) -> Void) { completion(.failure(error)) }
    func presenceStats(of channel: ChannelName, completion: @escaping (Result<PresenceStats, BrokerError>) -> Void) { completion(.failure(error)) }
}
