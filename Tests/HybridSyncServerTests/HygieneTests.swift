import HybridSyncProtocol
import HybridSyncServer
import HybridSyncDaemonTesting
import Testing

@Suite("Connection hygiene", .offTheCooperativePool)
struct HygieneTests {
    @Test("a socket that never sends connect is closed after the timeout")
    func connectTimeout() {
        let h = Harness { $0.connectTimeoutSeconds = 10 }
        let idle = h.server.openConnection()
        idle.send(#"{"id":1,"op":"ping"}"#)  // pings do not authenticate
        h.clock.advance(by: 9.9)
        h.server.tick()
        #expect(idle.closed == nil)
        h.clock.advance(by: 0.2)
        h.server.tick()
        #expect(idle.closed?.code == .connectTimeout)
    }

    @Test("the server says when its tick has work: the broker's sweep each second, a session's check when it falls due")
    func tickDue() {
        let h = Harness { $0.connectTimeoutSeconds = 0.5 }
        #expect(h.server.withServer { $0.secondsUntilTickDue() } == 0, "the first sweep is due at once")
        h.server.tick()
        #expect(h.server.withServer { $0.secondsUntilTickDue() } == 1, "then once a second")
        let idle = h.server.openConnection()
        #expect(h.server.withServer { $0.secondsUntilTickDue() } == 0.5, "its connect timeout is earlier")
        h.clock.advance(by: 0.5)
        #expect(h.server.withServer { $0.secondsUntilTickDue() } == 0)
        h.server.tick()
        #expect(idle.closed?.code == .connectTimeout)
        #expect(h.server.withServer { $0.secondsUntilTickDue() } == 0.5, "the sweep again, half a second later")
    }

    @Test("the server pings at the negotiated interval and drops a peer that stops answering")
    func pingPong() throws {
        let h = Harness { $0.pingIntervalSeconds = 20; $0.pongTimeoutSeconds = 5 }
        let connection = h.server.openConnection()
        connection.send(#"{"id":1,"op":"connect","token":"\#(h.token("7"))"}"#)
        guard case .reply(1, .success(let result))? = connection.takeMessages().first, let connected = ConnectResult(result) else {
            throw TestFailure("connect failed")
        }
        #expect(connected.pingInterval == 20 && connected.pongTimeout == 5)
        let answering = try h.connected("8")
        for round in 1...3 {
            h.clock.advance(by: 20)
            h.server.tick()
            #expect(answering.takeMessages() == [.push(.ping)], "round \(round)")
            answering.send(#"{"id":\#(round + 1),"op":"ping"}"#)
            _ = answering.takeMessages()
            if round == 1 { #expect(connection.takeMessages() == [.push(.ping)]) }
        }
        #expect(connection.closed?.code == .noPong)
        #expect(answering.closed == nil)
    }

    @Test("commands over the rate get 111; a sustained flood closes with 4006")
    func rateLimit() throws {
        let h = Harness { $0.commandsPerSecond = 10; $0.commandBurst = 5 }
        let client = try h.connected()  // the connect took one token
        let burst = (0..<4).map { #"{"id":\#($0 + 10),"op":"ping"}"# }.joined(separator: "\n")
        client.send(burst)
        #expect(client.takeMessages().allSatisfy { $0.errorCode == nil })
        client.send(#"{"id":20,"op":"ping"}"#)
        #expect(client.takeMessages().errorCode(id: 20) == .tooManyRequests)
        h.clock.advance(by: 0.15)  // refills (at least) one token
        client.send(#"{"id":21,"op":"ping"}"#)
        #expect(client.takeMessages().errorCode(id: 21) == nil)
        let flood = (0..<20).map { #"{"id":\#($0 + 100),"op":"ping"}"# }.joined(separator: "\n")
        client.send(flood)
        #expect(client.closed?.code == .tooManyRequests)
    }

    @Test("the per-connection channel limit answers 106")
    func channelLimit() throws {
        let h = Harness { $0.maxChannelsPerConnection = 3 }
        let client = try h.connected()
        for n in 1...3 { _ = try h.subscribe(client, "app:c\(n)", id: UInt32(n + 1)) }
        #expect(h.command(client, #"{"id":9,"op":"subscribe","channel":"app:c4"}"#).errorCode(id: 9) == .limitExceeded)
        _ = h.command(client, #"{"id":10,"op":"unsubscribe","channel":"app:c1"}"#)
        _ = try h.subscribe(client, "app:c4", id: 11)
    }
}

@Suite("Namespaces", .offTheCooperativePool)
struct NamespaceTests {
    @Test("a channel in an unconfigured namespace is refused with 102, naming the configured ones")
    func unknownNamespace() throws {
        let h = Harness()
        let client = try h.connected()
        let messages = h.command(client, #"{"id":2,"op":"subscribe","channel":"nope:x"}"#)
        guard case .reply(2, .failure(let error))? = messages.first else { throw TestFailure("accepted") }
        #expect(error.code == .invalidChannel)
        #expect(error.message.contains("moderation"))
        #expect(h.api("POST", "/api/publish", ["channel": "nope:x", "data": 1]).status == 400)
    }

    @Test("claim namespaces follow the token's channels claim, with * suffix patterns")
    func claimRule() throws {
        let h = Harness { $0.namespaces["team"] = NamespacePolicy(subscribe: .claim) }
        let client = try h.connected("7", claims: ["channels": ["team:red", "team:blue-*"]])
        _ = try h.subscribe(client, "team:red", id: 2)
        _ = try h.subscribe(client, "team:blue-7", id: 3)
        #expect(h.command(client, #"{"id":4,"op":"subscribe","channel":"team:green"}"#).errorCode(id: 4) == .permissionDenied)
        #expect(h.command(client, #"{"id":5,"op":"subscribe","channel":"team:blue"}"#).errorCode(id: 5) == .permissionDenied)
        let noClaim = try h.connected("8")
        #expect(h.command(noClaim, #"{"id":2,"op":"subscribe","channel":"team:red"}"#).errorCode(id: 2) == .permissionDenied)
    }

    @Test("personal channels user#<sub> are only for that user")
    func personalRule() throws {
        let h = Harness()
        let client = try h.connected("42")
        _ = try h.subscribe(client, "user:user#42")
        #expect(h.command(client, #"{"id":3,"op":"subscribe","channel":"user:user#43"}"#).errorCode(id: 3) == .permissionDenied)
        #expect(h.command(client, #"{"id":4,"op":"subscribe","channel":"user:all"}"#).errorCode(id: 4) == .permissionDenied)
    }

    @Test("clients publish only where the namespace allows it", arguments: Engine.allCases)
    func clientPublish(_ engine: Engine) throws {
        let h = Harness(engine)
        let reader = try h.connected("1")
        _ = try h.subscribe(reader, "chat:room-1")
        let writer = try h.connected("2")
        let reply = h.command(writer, #"{"id":2,"op":"publish","channel":"chat:room-1","data":{"text":"hi"}}"#)
        #expect(reply.errorCode(id: 2) == nil)
        #expect(reader.takeMessages().compactMap(\.publication).map(\.data) == [["text": "hi"]])
        #expect(h.command(writer, #"{"id":3,"op":"publish","channel":"moderation:users","data":1}"#).errorCode(id: 3) == .permissionDenied)
    }

    @Test("state keys need a namespace that retains state", arguments: Engine.allCases)
    func stateNeedsRetention(_ engine: Engine) {
        let h = Harness(engine)
        let refused = h.api("POST", "/api/publish", ["channel": "chat:room", "data": 1, "key": "k"])
        #expect(refused.status == 400)
        #expect(refused.body["error"]?["code"] == "state_not_retained")
    }
}

@Suite("Backend API", .offTheCooperativePool)
struct BackendAPITests {
    @Test("an idempotency key publishes once and answers repeats with the first response", arguments: Engine.allCases)
    func idempotency(_ engine: Engine) throws {
        let h = Harness(engine)
        let client = try h.connected()
        _ = try h.subscribe(client, "app:orders")
        let body: JSONValue = ["channel": "app:orders", "data": 1, "idempotencyKey": "order-9"]
        let first = h.api("POST", "/api/publish", body)
        let second = h.api("POST", "/api/publish", body)
        #expect(first.body == second.body)
        #expect(client.takeMessages().compactMap(\.publication).count == 1)
        // Past the 300 s window, with the subscriber alive (it answers pings), so the stream stays.
        _ = h.pass(310, answering: client)
        #expect(h.api("POST", "/api/publish", body).body["offset"] == 2, "the key expires after the window")
    }

    @Test("broadcast publishes to every channel, or to none if one is invalid", arguments: Engine.allCases)
    func broadcast(_ engine: Engine) throws {
        let h = Harness(engine)
        let ok = h.api("POST", "/api/broadcast", ["channels": ["app:a", "chat:b"], "data": "hello"])
        #expect(ok.status == 200)
        #expect(ok.body["publications"] == [["channel": "app:a", "offset": 1], ["channel": "chat:b", "offset": 1]])
        #expect(h.api("POST", "/api/broadcast", ["channels": ["app:a", "nope:b"], "data": 1]).status == 400)
        #expect(h.api("GET", "/api/channels/app:a").body["offset"] == 1, "nothing published by the refused broadcast")
        let twice = h.api("POST", "/api/broadcast", ["channels": ["app:a", "chat:b", "app:a"], "data": 1])
        #expect(twice.status == 400)
        #expect(twice.body["error"]?["message"]?.stringValue?.contains("'app:a' twice") == true)
        #expect(h.api("GET", "/api/channels/app:a").body["offset"] == 1, "a channel listed twice publishes nothing")
    }

    @Test("state set, remove and read; history read", arguments: Engine.allCases)
    func stateAndHistory(_ engine: Engine) {
        let h = Harness(engine)
        #expect(h.api("POST", "/api/state/set", ["channel": "app:flags", "key": "dark", "value": true]).body["version"] == 1)
        h.api("POST", "/api/state/set", ["channel": "app:flags", "key": "beta", "value": false])
        h.api("POST", "/api/state/remove", ["channel": "app:flags", "key": "dark"])
        let state = h.api("GET", "/api/state/app:flags").body
        #expect(state["state"] == ["beta": ["value": false, "version": 2]])
        #expect(state["offset"] == 3)
        let history = h.api("GET", "/api/history/app:flags").body["publications"]
        #expect(history == [
            ["channel": "app:flags", "offset": 1, "key": "dark", "data": true],
            ["channel": "app:flags", "offset": 2, "key": "beta", "data": false],
            ["channel": "app:flags", "offset": 3, "key": "dark", "removed": true, "data": nil],
        ])
        #expect(h.api("GET", "/api/state/chat:x").status == 400, "chat does not retain state")
        #expect(h.api("GET", "/api/history/nope:x").status == 400)
    }
}

extension BackendAPITests {
    @Test("the API answers 429 over its request rate, and recovers")
    func apiRateLimit() {
        let h = Harness { $0.apiRequestsPerSecond = 3 }
        let statuses = (0..<5).map { _ in h.api("GET", "/api/channels/app:x").status }
        #expect(statuses == [200, 200, 200, 429, 429])
        #expect(h.api("GET", "/api/channels/app:x").body["error"]?["code"] == "rate_limited")
        h.clock.advance(by: 1)
        #expect(h.api("GET", "/api/channels/app:x").status == 200)
        #expect(h.api("GET", "/health").status == 200, "health is never rate limited")
    }
}
