import HybridSyncBroker
import HybridSyncDaemonTesting
import HybridSyncProtocol
import HybridSyncServer
import HybridSyncTesting
import Testing

/// Subscription tokens (PROTOCOL.md "Subscription tokens"), on the server's manual clock.
@Suite("Subscription tokens: per channel, refreshed without reconnecting, expiry ends one subscription", .offTheCooperativePool)
struct SubscriptionTokenTests {
    let h = Harness { configuration in
        configuration.namespaces["billing"] = NamespacePolicy(presence: true, subscriptionToken: true)
    }

    /// A subscription token for `user` and `channel`, expiring `expiresIn` seconds from the server's now.
    private func subscriptionToken(_ user: String = "7", channel: String = "billing:invoices", expiresIn: Double = 60, info: JSONValue? = nil) -> String {
        var claims: [String: JSONValue] = ["channel": .string(channel)]
        if let info { claims["info"] = info }
        return h.token(user, expiresIn: expiresIn, claims: claims)
    }

    private func subscribe(_ client: InMemoryConnection, id: UInt32, token: String?) -> [ServerMessage] {
        var command: [String: JSONValue] = ["id": .int(Int64(id)), "op": "subscribe", "channel": "billing:invoices"]
        if let token { command["token"] = .string(token) }
        return h.command(client, JSONValue.object(command).jsonString)
    }

    @Test("a subscribe needs a token for its user and channel: missing, another channel, another user, no exp are 116; expired is 117 (temporary)")
    func refusals() throws {
        let client = try h.connected("7")
        #expect(subscribe(client, id: 2, token: nil).errorCode(id: 2) == .subscriptionTokenInvalid)
        #expect(subscribe(client, id: 3, token: subscriptionToken(channel: "billing:other")).errorCode(id: 3) == .subscriptionTokenInvalid)
        #expect(subscribe(client, id: 4, token: subscriptionToken("8")).errorCode(id: 4) == .subscriptionTokenInvalid)
        let noExpiry = h.tokens.token(user: "7", expiresIn: nil, now: h.clock.now(), extraClaims: ["channel": "billing:invoices"])
        #expect(subscribe(client, id: 5, token: noExpiry).errorCode(id: 5) == .subscriptionTokenInvalid)
        let expired = subscribe(client, id: 6, token: subscriptionToken(expiresIn: -10))
        guard case .reply(6, .failure(let error))? = expired.first else { throw TestFailure("expected a refusal: \(expired)") }
        #expect(error.code == .subscriptionTokenExpired && error.temporary)
        #expect(client.closed == nil, "no refusal closes the connection")
        #expect(h.api("GET", "/api/presence_stats/billing:invoices").body["contexts"] == 0, "a refused subscribe is not present")
    }

    @Test("sub_refresh moves the expiry on without re-sending anything and updates presence info; without it the subscription alone ends at exp (unsubscribed, 117)")
    func refreshAndExpiry() throws {
        let room = try ChannelName("billing:invoices")
        let watcher = try h.connected("observer")
        #expect(subscribe(watcher, id: 2, token: subscriptionToken("observer", expiresIn: 3600)).first.map { if case .reply(2, .success) = $0 { true } else { false } } == true)
        let client = try h.connected("7")
        let answer = subscribe(client, id: 2, token: subscriptionToken(expiresIn: 20, info: ["plan": "free"]))
        guard case .reply(2, .success(let json))? = answer.first, let result = SubscribeResult(json) else { throw TestFailure("subscribe failed: \(answer)") }
        #expect(result.ttl == 20)
        _ = try h.subscribe(client, "app:flags", id: 3)
        _ = watcher.takeMessages()

        h.clock.advance(by: 15)
        h.server.tick()
        let refresh = JSONValue.object(["id": 4, "op": "sub_refresh", "channel": "billing:invoices", "token": .string(subscriptionToken(expiresIn: 20, info: ["plan": "pro"]))])
        #expect(h.command(client, refresh.jsonString).contains(.reply(id: 4, .success(["channel": "billing:invoices", "ttl": 20]))))
        #expect(watcher.takeMessages().contains(.push(.presence(.update(room, user: "7", info: ["plan": "pro"])))), "new info is one update")

        h.clock.advance(by: 10)  // past the first token's exp, before the refreshed one's
        h.server.tick()
        #expect(h.command(client, #"{"id":5,"op":"ping"}"#).filter { $0 != .push(.ping) } == [.reply(id: 5, .success([:]))], "still subscribed: nothing else arrived")
        _ = h.command(watcher, #"{"id":5,"op":"ping"}"#)

        h.clock.advance(by: 11)  // past the refreshed token's exp
        h.server.tick()
        let ended = client.takeMessages()
        guard case .push(.unsubscribed(let channel, let error))? = ended.first else { throw TestFailure("expected unsubscribed: \(ended)") }
        #expect(channel == room && error.code == .subscriptionTokenExpired)
        #expect(client.closed == nil, "the connection stays")
        #expect(h.command(client, #"{"id":6,"op":"unsubscribe","channel":"billing:invoices"}"#).errorCode(id: 6) == .notSubscribed)
        #expect(h.command(client, #"{"id":7,"op":"unsubscribe","channel":"app:flags"}"#).first == .reply(id: 7, .success([:])), "its other subscriptions go on")
        #expect(watcher.takeMessages().contains(.push(.presence(.leave(room, user: "7")))))
    }

    @Test("sub_refresh: 112 for a channel not subscribed, 116 for a token of another channel (the subscription keeps its expiry)")
    func refreshRefusals() throws {
        let client = try h.connected("7")
        let refresh = { (id: Int64, channel: String) in
            JSONValue.object(["id": .int(id), "op": "sub_refresh", "channel": "billing:invoices", "token": .string(subscriptionToken(channel: channel))]).jsonString
        }
        #expect(h.command(client, refresh(2, "billing:invoices")).errorCode(id: 2) == .notSubscribed)
        _ = subscribe(client, id: 3, token: subscriptionToken(expiresIn: 10))
        #expect(h.command(client, refresh(4, "billing:other")).errorCode(id: 4) == .subscriptionTokenInvalid)
        h.clock.advance(by: 11)
        h.server.tick()
        #expect(client.takeMessages().contains { if case .push(.unsubscribed) = $0 { true } else { false } })
    }
}
