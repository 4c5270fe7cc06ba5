import HybridSyncBroker
import HybridSyncDaemonTesting
import HybridSyncProtocol
import HybridSyncServer
import HybridSyncTesting
import Testing

/// Presence through the protocol and the API (PROTOCOL.md "Presence"), on the engines whose
/// changes arrive within the service turn; Redis and two nodes: MultiNodeTests.
@Suite("Presence: per user across contexts, pushes, commands, API", .offTheCooperativePool)
struct PresenceTests {
    static func harness(_ engine: Engine, maxUsers: Int = 1000) -> Harness {
        Harness(engine) { configuration in
            configuration.namespaces["room"] = NamespacePolicy(presence: true, presenceMaxUsers: maxUsers)
        }
    }

    /// The presence pushes among `messages`.
    private func changes(_ messages: [ServerMessage]) -> [PresenceChange] {
        messages.compactMap { if case .push(.presence(let change)) = $0 { change } else { nil } }
    }

    @Test("two tabs of a user are one join, closing one is no leave, closing both is one leave", arguments: [Engine.memory, .sqlite])
    func tabs(_ engine: Engine) throws {
        let h = Self.harness(engine)
        let room = try ChannelName("room:1")
        let watcher = try h.connected("observer")
        _ = try h.subscribe(watcher, "room:1")
        #expect(changes(watcher.takeMessages()).isEmpty, "a subscriber gets no push of its own join before its subscribe answer")
        let tab1 = try h.connected("42", claims: ["info": ["name": "Ada"]])
        _ = try h.subscribe(tab1, "room:1")
        let tab2 = try h.connected("42", claims: ["info": ["name": "Ada"]])
        _ = try h.subscribe(tab2, "room:1")
        #expect(changes(watcher.takeMessages()) == [.join(room, user: "42", info: ["name": "Ada"])], "the second tab is not a join")
        let presence = h.command(watcher, #"{"id":5,"op":"presence","channel":"room:1"}"#)
        guard case .reply(5, .success(let result))? = presence.first, let members = PresenceResult(result)?.members else {
            throw TestFailure("presence failed: \(presence)")
        }
        #expect(members == [PresenceMember(user: "42", contexts: 2, info: ["name": "Ada"]), PresenceMember(user: "observer", contexts: 1, info: nil)])
        let stats = h.command(watcher, #"{"id":6,"op":"presence_stats","channel":"room:1"}"#)
        #expect(stats.first == .reply(id: 6, .success(["channel": "room:1", "users": 2, "contexts": 3])))

        tab1.close(code: .normal, reason: "tab closed")
        #expect(changes(watcher.takeMessages()).isEmpty, "one of two tabs closing is not a leave")
        #expect(h.command(tab2, #"{"id":7,"op":"unsubscribe","channel":"room:1"}"#).first == .reply(id: 7, .success([:])))
        #expect(changes(watcher.takeMessages()) == [.leave(room, user: "42")], "the last context leaving is one leave")
        #expect(h.api("GET", "/api/presence/room:1").body == ["channel": "room:1", "members": [["user": "observer", "contexts": 1, "info": nil]]])
        #expect(h.api("GET", "/api/presence_stats/room:1").body == ["channel": "room:1", "users": 1, "contexts": 1])
    }

    @Test("a channel at presenceMaxUsers refuses a new user's subscribe with 115 (temporary), never a present user's next tab")
    func limit() throws {
        let h = Self.harness(.memory, maxUsers: 1)
        let first = try h.connected("1")
        _ = try h.subscribe(first, "room:1")
        let second = try h.connected("2")
        let refused = h.command(second, #"{"id":2,"op":"subscribe","channel":"room:1"}"#)
        guard case .reply(2, .failure(let error))? = refused.first else { throw TestFailure("expected a refusal: \(refused)") }
        #expect(error.code == .presenceFull && error.temporary)
        #expect(h.command(second, #"{"id":3,"op":"presence","channel":"room:1"}"#).errorCode(id: 3) == .notSubscribed, "the refused subscribe left nothing behind")
        _ = try h.subscribe(try h.connected("1"), "room:1")
        #expect(h.api("GET", "/api/presence_stats/room:1").body["contexts"] == 2)
    }

    @Test("presence is refused before connect (108), off a presence namespace (114), unsubscribed (112); the API answers 400 presence_disabled")
    func refusals() throws {
        let h = Self.harness(.memory)
        let anonymous = h.server.openConnection()
        #expect(h.command(anonymous, #"{"id":1,"op":"presence","channel":"room:1"}"#).errorCode(id: 1) == .notConnected)
        let client = try h.connected("7")
        _ = try h.subscribe(client, "chat:lobby")
        #expect(h.command(client, #"{"id":3,"op":"presence","channel":"chat:lobby"}"#).errorCode(id: 3) == .presenceDisabled)
        #expect(h.command(client, #"{"id":4,"op":"presence_stats","channel":"room:1"}"#).errorCode(id: 4) == .notSubscribed)
        #expect(h.command(client, #"{"id":5,"op":"presence","channel":"nope:1"}"#).errorCode(id: 5) == .invalidChannel)
        let api = h.api("GET", "/api/presence/chat:lobby")
        #expect(api.status == 400 && api.body["error"]?["code"] == "presence_disabled")
        #expect(h.api("GET", "/api/presence_stats/nope:1").body["error"]?["code"] == "invalid_channel")
    }

    @Test("a subscriber dropped for silence (no pong) leaves within ping + pong seconds")
    func silentContextLeaves() throws {
        let h = Self.harness(.memory)
        let room = try ChannelName("room:1")
        let watcher = try h.connected("observer")
        _ = try h.subscribe(watcher, "room:1")
        let silent = try h.connected("42")
        _ = try h.subscribe(silent, "room:1")
        #expect(changes(watcher.takeMessages()) == [.join(room, user: "42", info: nil)])
        let received = h.pass(40, answering: watcher) + watcher.takeMessages()  // ping 25 + pong 10 = 35 s
        #expect(silent.closed?.code == .noPong)
        #expect(changes(received) == [.leave(room, user: "42")])
    }
}
