import HybridSyncClient
import HybridSyncProtocol
import HybridSyncServer
import HybridSyncTesting
import Testing

/// The runtime's subscription tokens: one provider per micro-app, asked before each subscribe and
/// before expiry (sub_refresh, no reconnect), against a real SyncServer in memory.
@Suite("Subscription tokens in the client runtime")
struct SubscriptionTokenClientTests {
    let h = RuntimeHarness {
        $0.namespaces["billing"] = NamespacePolicy(subscriptionToken: true)
        $0.pingIntervalSeconds = 600  // no liveness traffic within these tests' minutes
    }

    /// A provider that mints a token for user 1 valid `ttl` seconds on the server's clock, recording each channel asked.
    private func provider(_ asked: Recorder<String>, ttl: Double = 60) -> SubscriptionTokenProvider {
        let (tokens, clock) = (h.tokens, h.serverClock)
        return { channel in
            asked.append(channel)
            return tokens.token(user: "1", expiresIn: ttl, now: clock.now(), extraClaims: ["channel": .string(channel)])
        }
    }

    @Test("each micro-app's provider is asked for its channel; the token is refreshed before it expires without a reconnect; the subscription lives on")
    func refreshWithoutReconnect() async throws {
        let runtime = h.runtime()
        try await runtime.start()
        let asked = Recorder<String>()
        let billing = await runtime.mount("billing", subscriptionToken: provider(asked, ttl: 60))
        let other = await runtime.mount("other")
        let events = try await billing.observe("billing:invoices")
        #expect(asked.all == ["billing:invoices"])
        _ = try await other.observe("app:flags")
        #expect(asked.all == ["billing:invoices"], "a channel that needs no token: no other provider, no call")

        // 90 % of 60 s: the runtime refreshes at 54 s; the server would end it at 60 s.
        h.serverClock.advance(by: 54)
        h.clock.advance(by: .seconds(54))
        try await eventually(.seconds(30), "the refresh") { await runtime.sentCommandCounts["sub_refresh"] == 1 }
        #expect(asked.all == ["billing:invoices", "billing:invoices"])
        h.serverClock.advance(by: 10)  // past the first token's exp
        h.server.tick()
        _ = h.api("POST", "/api/publish", ["channel": "billing:invoices", "data": "invoice 1"])
        var iterator = events.makeAsyncIterator()
        let event = try await iterator.next()
        #expect(event == .publication(Publication(channel: try ChannelName("billing:invoices"), offset: 1, data: "invoice 1")),
                "still subscribed after the first token's expiry")
        #expect(await runtime.sentCommandCounts["connect"] == 1, "no reconnect")
        #expect(await runtime.sentCommandCounts["subscribe"] == 2, "one subscribe per channel, none again")
        await runtime.close()
    }

    @Test("a provider that throws ends the observation with subscriptionToken; nothing is sent and the connection stays")
    func providerFails() async throws {
        let runtime = h.runtime()
        try await runtime.start()
        struct Unavailable: Error {}
        let billing = await runtime.mount("billing", subscriptionToken: { _ in throw Unavailable() })
        await #expect(throws: ClientRuntimeError.self) { _ = try await billing.observe("billing:invoices") }
        do {
            _ = try await billing.observe("billing:invoices")
        } catch let error as ClientRuntimeError {
            #expect(error.code == .subscriptionToken)
        }
        #expect(await runtime.sentCommandCounts["subscribe"] == nil)
        if case .connected = await runtime.connectionState {} else { Issue.record("the connection should stay up") }
        await runtime.close()
    }

    @Test("without a fresh token the server ends the subscription alone: observers end with serverRefused 117, the connection stays")
    func expiryEndsSubscription() async throws {
        let runtime = h.runtime()
        try await runtime.start()
        let asked = Recorder<String>()
        struct BackendDown: Error {}
        let (tokens, clock) = (h.tokens, h.serverClock)
        let expiring = await runtime.mount("billing", subscriptionToken: { channel in
            asked.append(channel)
            // The first token lasts 30 s; every later one is refused by the backend.
            guard asked.all.count == 1 else { throw BackendDown() }
            return tokens.token(user: "1", expiresIn: 30, now: clock.now(), extraClaims: ["channel": .string(channel)])
        })
        let events = try await expiring.observe("billing:invoices")
        h.serverClock.advance(by: 31)
        h.server.tick()
        var iterator = events.makeAsyncIterator()
        do {
            _ = try await iterator.next()
            Issue.record("the observation should end")
        } catch let error as ClientRuntimeError {
            #expect(error.code == .serverRefused && error.serverError?.code == .subscriptionTokenExpired)
        }
        if case .connected = await runtime.connectionState {} else { Issue.record("the connection should stay up") }
        await runtime.close()
    }
}
