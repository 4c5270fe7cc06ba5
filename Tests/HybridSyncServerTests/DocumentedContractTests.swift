import Foundation
import HybridSyncHTTP
import HybridSyncProtocol
import HybridSyncServer
import HybridSyncDaemonTesting
import Testing

/// Each test pins one sentence of docs/PROTOCOL.md or docs/API.md that an independent client
/// writer relies on; if the behaviour drifts from the sentence, the test fails.
@Suite("Documented contract", .offTheCooperativePool)
struct DocumentedContractTests {
    @Test("PROTOCOL.md: the (commandBurst+1)-th refused command in a row closes with 4006; one admitted command resets the count")
    func rateLimitRule() throws {
        let h = Harness { $0.commandsPerSecond = 5; $0.commandBurst = 10 }
        let client = try h.connected()  // connect used one token: 9 left
        let thirty = (0..<30).map { #"{"id":\#($0 + 10),"op":"ping"}"# }.joined(separator: "\n")
        client.send(thirty)
        let messages = client.takeMessages()
        let answered = messages.filter { if case .reply(_, .success) = $0 { true } else { false } }.count
        let refused = messages.filter { $0.errorCode == .tooManyRequests }.count
        #expect(answered == 9)
        #expect(refused == 10, "exactly commandBurst refusals are answered")
        #expect(client.closed?.code == .tooManyRequests, "the 11th refusal in a row closes")

        let patient = try h.connected("patient")
        patient.send((0..<19).map { #"{"id":\#($0 + 10),"op":"ping"}"# }.joined(separator: "\n"))  // 9 ok, 10 refused
        h.clock.advance(by: 1.0 / 5)  // waits 1/commandsPerSecond after a 111, as documented
        patient.send(#"{"id":99,"op":"ping"}"#)
        #expect(patient.takeMessages().errorCode(id: 99) == nil)
        patient.send((0..<10).map { #"{"id":\#($0 + 200),"op":"ping"}"# }.joined(separator: "\n"))
        #expect(patient.closed == nil, "the admitted command reset the count")
    }

    @Test("PROTOCOL.md: 4004 after pingInterval + pongTimeout of silence, whatever the ping pushes")
    func livenessRule() throws {
        let h = Harness { $0.pingIntervalSeconds = 20; $0.pongTimeoutSeconds = 5 }
        let client = try h.connected()
        h.clock.advance(by: 24.9)
        h.server.tick()
        #expect(client.closed == nil)
        #expect(client.takeMessages() == [.push(.ping)])
        h.clock.advance(by: 0.2)
        h.server.tick()
        #expect(client.closed?.code == .noPong)

        let chatty = try h.connected("chatty")
        for _ in 0..<10 {  // a command every 20 s keeps it alive, whether or not it follows a ping
            h.clock.advance(by: 20)
            h.server.tick()
            chatty.send(#"{"id":5,"op":"ping"}"#)
        }
        #expect(chatty.closed == nil)
    }

    @Test("API.md: a forgotten channel reports an empty epoch, and its next publication starts a new epoch at offset 1")
    func forgottenChannel() throws {
        let h = Harness { $0.namespaces["chat"]?.historyTTLSeconds = 10 }
        let first = h.api("POST", "/api/publish", ["channel": "chat:room", "data": 1]).body
        #expect(first["offset"] == 1)
        let epoch = h.api("GET", "/api/channels/chat:room").body["epoch"]
        #expect(epoch?.stringValue != nil)
        h.clock.advance(by: 11)
        h.server.tick()
        #expect(h.api("GET", "/api/channels/chat:room").body["epoch"] == "")
        #expect(h.api("POST", "/api/publish", ["channel": "chat:room", "data": 2]).body["offset"] == 1)
        #expect(h.api("GET", "/api/channels/chat:room").body["epoch"] != epoch)
    }

    @Test("API.md: a channel never used has an empty epoch; a history or state read starts its stream, and channels shows that epoch")
    func readsStartAStream() throws {
        let h = Harness()
        for (read, channel) in [("/api/history/", "chat:new"), ("/api/state/", "app:new")] {
            #expect(h.api("GET", "/api/channels/\(channel)").body["epoch"] == "")
            let position = h.api("GET", read + channel).body
            #expect(position["offset"] == 0)
            let epoch = try #require(position["epoch"]?.stringValue)
            #expect(!epoch.isEmpty)
            #expect(h.api("GET", "/api/channels/\(channel)").body["epoch"] == .string(epoch), "\(read)")
        }
    }

    @Test("API.md: idempotencyKey is scoped to route and channel, lasts the window, and a different body is 409")
    func idempotencyScope() {
        let h = Harness { $0.namespaces["chat"]?.historyTTLSeconds = 1000 }  // the stream outlives the window
        let publish: JSONValue = ["channel": "chat:a", "data": 1, "idempotencyKey": "k1"]
        #expect(h.api("POST", "/api/publish", publish).body["offset"] == 1)
        #expect(h.api("POST", "/api/publish", publish).body["offset"] == 1, "a repeat gets the first response")
        #expect(h.api("POST", "/api/publish", ["channel": "chat:b", "data": 1, "idempotencyKey": "k1"]).body["offset"] == 1,
                "the same key on another channel is another request")
        let conflict = h.api("POST", "/api/publish", ["channel": "chat:a", "data": 2, "idempotencyKey": "k1"])
        #expect(conflict.status == 409)
        #expect(conflict.body["error"]?["code"] == "idempotency_conflict")
        #expect(h.api("GET", "/api/channels/chat:a").body["offset"] == 1, "nothing was published twice")
        h.clock.advance(by: 301)
        h.server.tick()
        #expect(h.api("POST", "/api/publish", publish).body["offset"] == 2, "after the window the key is new again")
    }

    @Test("API.md: state/set honours idempotencyKey: a repeat sets nothing and answers the first version; another value is 409")
    func stateSetIdempotency() {
        let h = Harness()
        let set: JSONValue = ["channel": "app:flags", "key": "dark", "value": true, "idempotencyKey": "flag-1"]
        #expect(h.api("POST", "/api/state/set", set).body == ["channel": "app:flags", "key": "dark", "version": 1])
        #expect(h.api("POST", "/api/state/set", set).body == ["channel": "app:flags", "key": "dark", "version": 1])
        #expect(h.api("GET", "/api/channels/app:flags").body["offset"] == 1, "set once")
        let other: JSONValue = ["channel": "app:flags", "key": "dark", "value": false, "idempotencyKey": "flag-1"]
        #expect(h.api("POST", "/api/state/set", other).status == 409)
    }

    @Test("one error table: API.md's rows are exactly its API and edge entries; the public listener's are in PROTOCOL.md")
    func apiErrorTable() throws {
        let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs")
        let guide = try String(contentsOf: docs.appendingPathComponent("API.md"), encoding: .utf8)
        let rows = Set(guide.matches(of: /^\| (\d{3}) \| `(\w+)` \|/.anchorsMatchLineEndings()).map { "\($0.output.1) \($0.output.2)" })
        let table = Set(HTTPError.table.map { "\($0.status) \($0.code)" })
        // Answered only on the public (WebSocket) listener, before an upgrade: PROTOCOL.md's.
        let publicListener: Set = ["403 origin_not_allowed", "426 upgrade_required", "503 shutting_down"]
        #expect(table.isSuperset(of: publicListener))
        #expect(rows == table.subtracting(publicListener), "API.md's table and HTTPError differ: \(rows.symmetricDifference(table.subtracting(publicListener)))")
        let protocolGuide = try String(contentsOf: docs.appendingPathComponent("PROTOCOL.md"), encoding: .utf8)
        for entry in publicListener {
            let (status, code) = (entry.prefix(3), entry.dropFirst(4))
            #expect(protocolGuide.contains("**\(status)** (`\(code)`)"), "PROTOCOL.md names \(entry)")
        }
    }

    @Test("API.md: at most idempotencyMaxKeys keys are remembered; the oldest is forgotten inside the window and its repeat publishes again")
    func idempotencyMaxKeys() {
        let h = Harness { $0.idempotencyMaxKeys = 2 }
        func publish(_ key: String) -> JSONValue? {
            h.api("POST", "/api/publish", ["channel": "chat:room", "data": .string(key), "idempotencyKey": .string(key)]).body["offset"]
        }
        #expect(publish("a") == 1)
        #expect(publish("b") == 2)
        #expect(publish("a") == 1, "remembered: the first answer")
        #expect(publish("c") == 3, "a third key: 'a' is the oldest and goes")
        #expect(publish("b") == 2, "still remembered")
        #expect(publish("a") == 4, "forgotten: published again")
    }

    @Test("API.md: GET /api/sessions/<user> lists the user's live sessions on this node: client, name, address, times, channels")
    func sessions() throws {
        let h = Harness()
        #expect(h.api("GET", "/api/sessions/42").body == ["user": "42", "sessions": []])
        let first = h.server.openConnection()
        first.send(#"{"id":1,"op":"connect","token":"\#(h.token("42"))","name":"shop page"}"#)
        _ = first.takeMessages()
        _ = try h.subscribe(first, "chat:room")
        _ = try h.subscribe(first, "moderation:users", id: 3)
        _ = try h.connected("42")
        _ = try h.connected("7")
        let listed = h.api("GET", "/api/sessions/42").body["sessions"]?.arrayValue ?? []
        #expect(listed.count == 2)
        #expect(listed.first?["name"] == "shop page")
        #expect(listed.first?["channels"] == ["chat:room", "moderation:users"])
        #expect(listed.first?["connectedAt"]?.doubleValue == h.clock.now())
        #expect(listed.last?["name"] == .null, "no name given")
        #expect(listed.allSatisfy { $0["client"]?.stringValue?.isEmpty == false && $0["remoteAddress"]?.stringValue != nil })
        #expect(h.api("POST", "/api/sessions/42").status == 405)
        #expect(h.api("GET", "/api/sessions/42", key: nil).status == 401)
    }

    @Test("PROTOCOL.md: a client publish carrying 'key' is refused with 107")
    func clientPublishKey() throws {
        let h = Harness()
        let client = try h.connected()
        _ = try h.subscribe(client, "chat:room")
        let reply = h.command(client, #"{"id":9,"op":"publish","channel":"chat:room","key":"k","data":1}"#)
        #expect(reply.errorCode(id: 9) == .badRequest)
        #expect(h.api("GET", "/api/channels/chat:room").body["offset"] == 0)
    }

    @Test("API.md: removing a state key that does not exist is a no-op: 200, removed false, no publication")
    func removeMissingKey() {
        let h = Harness()
        #expect(h.api("POST", "/api/state/set", ["channel": "app:flags", "key": "a", "value": true]).body["version"] == 1)
        let missing = h.api("POST", "/api/state/remove", ["channel": "app:flags", "key": "nope"])
        #expect(missing.status == 200)
        #expect(missing.body["removed"] == false)
        #expect(missing.body["version"] == 1)
        let present = h.api("POST", "/api/state/remove", ["channel": "app:flags", "key": "a"])
        #expect(present.body["removed"] == true)
        #expect(present.body["version"] == 2)
    }

    @Test("API.md: a ban's until must be a future number of seconds; fractions are kept; past or non-numbers are 400")
    func banUntil() {
        let h = Harness()
        let now = h.clock.now()
        #expect(h.api("POST", "/api/ban", ["user": "1", "until": .double(now + 60.5)]).status == 200)
        #expect(h.api("GET", "/api/bans").body["bans"]?.arrayValue?.first?["until"]?.doubleValue == now + 60.5)
        #expect(h.api("POST", "/api/ban", ["user": "2", "until": .double(now - 1)]).status == 400)
        #expect(h.api("POST", "/api/ban", ["user": "3", "until": "tomorrow"]).status == 400)
        #expect(h.api("POST", "/api/ban", ["user": "4", "until": .null]).status == 200, "null: until lifted")
    }

    @Test("PROTOCOL.md: on a namespace that retains no state, the subscribe result has no 'state' member at all")
    func noStateMember() throws {
        let h = Harness()
        let client = try h.connected()
        let chat = h.command(client, #"{"id":3,"op":"subscribe","channel":"chat:room"}"#)
        guard case .reply(3, .success(let result))? = chat.first else { throw TestFailure("subscribe failed: \(chat)") }
        #expect(result["state"] == nil)
        let app = h.command(client, #"{"id":4,"op":"subscribe","channel":"app:empty"}"#)
        guard case .reply(4, .success(let retained))? = app.first else { throw TestFailure("subscribe failed: \(app)") }
        #expect(retained["state"] == [:], "a retaining namespace always sends state, {} when empty")
    }
}
