import HybridSyncBroker
@testable import HybridSyncHooks
import HybridSyncDaemonTesting
import HybridSyncProtocol
import HybridSyncServer
import Testing

@Suite("HookGate: bounded concurrency and a circuit breaker, on the caller's clock")
struct HookGateTests {
    @Test("one call past maxConcurrent is refused at once; a finished call frees its place")
    func concurrency() {
        var gate = HookGate(maxConcurrent: 2, failureThreshold: 5, openSeconds: 10)
        #expect(gate.admit(now: 0) == nil)
        #expect(gate.admit(now: 0) == nil)
        #expect(gate.admit(now: 0) == .tooManyInFlight(2))
        gate.finished(succeeded: true, now: 1)
        #expect(gate.admit(now: 1) == nil)
    }

    @Test("failures in a row open the circuit for openSeconds; then one probe decides: success closes, failure reopens")
    func breaker() {
        var gate = HookGate(maxConcurrent: 10, failureThreshold: 3, openSeconds: 10)
        for _ in 0..<3 {
            #expect(gate.admit(now: 0) == nil)
            gate.finished(succeeded: false, now: 0)
        }
        #expect(gate.admit(now: 5) == .circuitOpen(until: 10))
        #expect(gate.admit(now: 10) == nil, "half-open: one probe")
        #expect(gate.admit(now: 10) == .circuitOpen(until: 10), "only one")
        gate.finished(succeeded: false, now: 11)
        #expect(gate.admit(now: 12) == .circuitOpen(until: 21), "the probe failed: open again")
        #expect(gate.admit(now: 21) == nil)
        gate.finished(succeeded: true, now: 21)
        #expect(gate.admit(now: 21) == nil && gate.admit(now: 21) == nil, "closed: calls flow")
        #expect(!gate.isOpen(now: 21))
    }

    @Test("a failure between successes does not open the circuit")
    func notInARow() {
        var gate = HookGate(maxConcurrent: 10, failureThreshold: 2, openSeconds: 10)
        for succeeded in [false, true, false, true] {
            #expect(gate.admit(now: 0) == nil)
            gate.finished(succeeded: succeeded, now: 0)
        }
        #expect(!gate.isOpen(now: 0))
    }

    @Test("the backend's answers: allow with info and channels, deny with a reason, anything else unavailable")
    func decisions() {
        func decide(_ status: Int, _ body: String) -> HookDecision {
            HTTPBackendHooks.decision(.answered(status: status, body: Array(body.utf8)))
        }
        #expect(decide(200, #"{"allow":true,"info":{"plan":"pro"},"channels":["team:7*"]}"#) == .allow(info: ["plan": "pro"], channels: ["team:7*"]))
        #expect(decide(200, #"{"allow":true}"#) == .allow(info: nil, channels: []))
        #expect(decide(200, #"{"allow":false,"reason":"suspended"}"#) == .deny(reason: "suspended"))
        #expect(decide(500, #"{"allow":true}"#) == .unavailable("the app backend answered HTTP 500"))
        if case .unavailable = decide(200, "not json") {} else { Issue.record("a bad body is unavailable") }
        #expect(HTTPBackendHooks.decision(.failed("timeout")) == .unavailable("timeout"))
    }
}

/// A backend that answers from a script, at once (on the server's thread, as the real one's results arrive).
final class ScriptedHooks: BackendHooks {
    var connectDecision = HookDecision.allow(info: nil, channels: [])
    var subscribeDecision = HookDecision.allow(info: nil, channels: [])
    private(set) var asked: [HookRequest] = []
    var connects = true
    var subscribes = true

    func connect(_ request: HookRequest, completion: @escaping (HookDecision) -> Void) {
        asked.append(request)
        completion(connectDecision)
    }

    func subscribe(_ request: HookRequest, completion: @escaping (HookDecision) -> Void) {
        asked.append(request)
        completion(subscribeDecision)
    }
}

@Suite("Connect and subscribe proxies in the server (a scripted backend)", .offTheCooperativePool)
struct ProxyTests {
    let hooks = ScriptedHooks()

    private func harness() -> Harness {
        Harness(broker: MemoryBroker(), hooks: hooks) { configuration in
            configuration.namespaces["team"] = NamespacePolicy(subscribe: .claim, presence: true, subscribeProxy: true)
        }
    }

    @Test("an allowed connect takes the backend's info and extra channels (claim namespaces); the subscribe proxy's info is the presence info")
    func allow() throws {
        let h = harness()
        hooks.connectDecision = .allow(info: ["plan": "pro"], channels: ["team:7*"])
        hooks.subscribeDecision = .allow(info: ["role": "admin"], channels: [])
        let client = try h.connected("42")
        #expect(hooks.asked.first?.user == "42" && hooks.asked.first?.channel == nil)
        _ = try h.subscribe(client, "team:7-ops")
        #expect(hooks.asked.last?.channel?.rawValue == "team:7-ops")
        #expect(h.api("GET", "/api/presence/team:7-ops").body["members"] == [["user": "42", "contexts": 1, "info": ["role": "admin"]]])
        #expect(h.command(client, #"{"id":3,"op":"subscribe","channel":"team:8-ops"}"#).errorCode(id: 3) == .permissionDenied,
                "the backend's channels grant exactly what they name")
    }

    @Test("a refused connect is 119 and a close with 4503; a refused subscribe is 103 and the connection stays")
    func deny() throws {
        let h = harness()
        hooks.connectDecision = .deny(reason: "account suspended")
        let refused = h.server.openConnection()
        let reply = h.command(refused, #"{"id":1,"op":"connect","token":"\#(h.token("42"))"}"#)
        #expect(reply.errorCode(id: 1) == .refusedByBackend)
        #expect(refused.closed?.code == .permissionDenied)

        hooks.connectDecision = .allow(info: nil, channels: ["team:*"])
        hooks.subscribeDecision = .deny(reason: "not in this team")
        let client = try h.connected("7")
        #expect(h.command(client, #"{"id":2,"op":"subscribe","channel":"team:1"}"#).errorCode(id: 2) == .permissionDenied)
        #expect(client.closed == nil)
        #expect(h.api("GET", "/api/presence_stats/team:1").body["contexts"] == 0)
    }

    @Test("an unavailable backend is 118 (temporary) for that command alone; the connection stays and may retry")
    func unavailable() throws {
        let h = harness()
        hooks.connectDecision = .unavailable("no answer within 1000 ms")
        let client = h.server.openConnection()
        let answer = h.command(client, #"{"id":1,"op":"connect","token":"\#(h.token("42"))"}"#)
        guard case .reply(1, .failure(let error))? = answer.first else { throw TestFailure("expected a refusal: \(answer)") }
        #expect(error.code == .backendUnavailable && error.temporary)
        #expect(client.closed == nil)
        hooks.connectDecision = .allow(info: nil, channels: [])
        #expect(h.command(client, #"{"id":2,"op":"connect","token":"\#(h.token("42"))"}"#).errorCode(id: 2) == nil, "the retry connects")
    }
}

/// Records the server's webhook events.
final class RecordingSink: WebhookSink {
    private(set) var events: [(type: String, data: JSONValue)] = []
    func record(_ type: String, _ data: JSONValue) { events.append((type, data)) }
    var types: [String] { events.map(\.type) }
}

@Suite("Webhook events the server records", .offTheCooperativePool)
struct WebhookEventTests {
    @Test("ban and unban (by hand and by expiry), presence join and leave (not updates), channel occupied and vacated; each once")
    func events() throws {
        let sink = RecordingSink()
        let h = Harness(broker: MemoryBroker(), webhooks: sink) { $0.namespaces["room"] = NamespacePolicy(presence: true) }
        #expect(h.api("POST", "/api/ban", ["user": "5", "reason": "spam"]).status == 200)
        #expect(h.api("DELETE", "/api/ban/5").status == 200)
        #expect(h.api("POST", "/api/ban", ["user": "6", "until": .double(h.clock.now() + 5)]).status == 200)
        h.clock.advance(by: 6)
        h.server.tick()
        let tab1 = try h.connected("7", claims: ["info": ["name": "Ada"]])
        _ = try h.subscribe(tab1, "room:1")
        let tab2 = try h.connected("7")
        _ = try h.subscribe(tab2, "room:1")  // a second tab: no join, only an update (not reported)
        tab1.close(code: .normal, reason: "")
        tab2.close(code: .normal, reason: "")
        #expect(sink.types == ["ban", "unban", "ban", "unban", "presence_join", "channel_occupied", "presence_leave", "channel_vacated"])
        #expect(sink.events[1].data == ["user": "5", "why": "lifted"])
        #expect(sink.events[3].data == ["user": "6", "why": "expired"])
        #expect(sink.events[4].data == ["channel": "room:1", "user": "7", "info": ["name": "Ada"]])
        #expect(sink.events[7].data == ["channel": "room:1"])
    }

    @Test("the signature: v1= and the hex HMAC-SHA256 of the timestamp, a dot and the body")
    func signature() {
        #expect(WebhookOutbox.signature(secret: "key", timestamp: 1_767_225_600, body: Array(#"{"events":[]}"#.utf8))
            == "v1=38a9ac8dd76b2aca4f8b04aedc51665fd5491210f6613af0f3b6083734faf74e", "the value Python computes: hmac.new(key, b\"1767225600.\" + body, sha256)")
    }
}
