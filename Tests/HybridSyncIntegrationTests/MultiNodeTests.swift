import Foundation
import HybridSyncClient
import HybridSyncProtocol
import HybridSyncDaemonTesting
import HybridSyncTesting
import Synchronization
import Testing

/// Several `hybridsyncd` nodes on one Redis (a ``TestRedis`` of each test's own): the ordering,
/// recovery and ban guarantees hold across nodes, and through a Redis crash.
@Suite("Several nodes on one Redis (real daemons)", .offTheCooperativePool)
struct MultiNodeTests {
    /// Two nodes of one cluster on `redis`.
    private func nodes(_ redis: TestRedis, _ arguments: [String] = []) async throws -> (TestDaemon, TestDaemon) {
        let a = try await TestDaemon.start(arguments: arguments, engine: .redis(address: redis.address))
        let b = try await TestDaemon.start(arguments: arguments, engine: .redis(address: redis.address), nodeOf: a)
        return (a, b)
    }

    private func subscribe(_ client: RawClient, _ channel: String, id: UInt32 = 2, since: StreamPosition? = nil) async throws -> SubscribeResult? {
        let sinceJSON = since.map { #","since":\#($0.json.jsonString)"# } ?? ""
        client.send(#"{"id":\#(id),"op":"subscribe","channel":"\#(channel)"\#(sinceJSON)}"#)
        guard case .message(.reply(id, .success(let reply))) = try await client.next() else { return nil }
        return SubscribeResult(reply)
    }

    private func publications(_ client: RawClient, _ count: Int) async throws -> [Publication] {
        var received: [Publication] = []
        while received.count < count, case .message(.push(.publication(let publication))) = try await client.next() {
            received.append(publication)
        }
        return received
    }

    @Test("what a backend publishes through node B reaches a client of node A in order; a resubscribe on B recovers exactly what A's client missed")
    func orderAndRecoveryAcrossNodes() async throws {
        let redis = try TestRedis()
        let (a, b) = try await nodes(redis)
        let onA = try await RawClient.open(a.webSocketURL)
        #expect(try await onA.connect(token: a.tokens.token(user: "7")).isSuccess)
        let subscribed = try #require(try await subscribe(onA, "app:flags"))

        // A client runtime on A observes the state key too: current value first, then changes.
        let runtime = a.runtime(user: "8", configuration: ClientRuntime.Configuration())
        try await runtime.start()
        let app = await runtime.mount("profile")
        let dark = try await app.observe(StateKey<Bool>(channel: "app:flags", key: "dark", default: false))
        var values = dark.makeAsyncIterator()
        #expect(try await values.next() == false)

        try await b.api.publish(channel: "app:flags", data: "first")
        try await b.api.setState(channel: "app:flags", key: "dark", value: true)
        try await b.api.publish(channel: "app:flags", data: "third")
        let received = try await publications(onA, 3)
        #expect(received.map(\.offset) == [1, 2, 3])
        #expect(received.map(\.data) == ["first", true, "third"])
        #expect(received[1].key == "dark")
        #expect(try await values.next() == true, "the runtime on A sees B's state change")

        // A's client goes away; five more through B; a client of B resumes from the last position.
        onA.send(#"{"id":3,"op":"unsubscribe","channel":"app:flags"}"#)
        for n in 4...8 { try await b.api.publish(channel: "app:flags", data: .int(Int64(n))) }
        let onB = try await RawClient.open(b.webSocketURL)
        #expect(try await onB.connect(token: b.tokens.token(user: "7")).isSuccess)
        let last = StreamPosition(epoch: subscribed.position.epoch, offset: 3)
        let resumed = try await subscribe(onB, "app:flags", since: last)
        #expect(resumed?.recovered == true)
        #expect(resumed?.position == StreamPosition(epoch: subscribed.position.epoch, offset: 8))
        let missed = try await publications(onB, 5)
        #expect(missed.map(\.offset) == [4, 5, 6, 7, 8])
        #expect(missed.map(\.data) == [4, 5, 6, 7, 8])

        await runtime.close()
        #expect(try await a.stop() == 0)
        #expect(try await b.stop() == 0)
    }

    @Test("a ban through node A closes the user's sockets on node B, and B refuses the user's reconnect; a disconnect through A reaches B too")
    func banAcrossNodes() async throws {
        let redis = try TestRedis()
        let (a, b) = try await nodes(redis)
        let user42 = try await RawClient.open(b.webSocketURL)
        #expect(try await user42.connect(token: b.tokens.token(user: "42")).isSuccess)
        let user9 = try await RawClient.open(b.webSocketURL)
        #expect(try await user9.connect(token: b.tokens.token(user: "9")).isSuccess)

        try await a.api.ban(user: "42", reason: "spam")
        #expect(try await user42.next() == .message(.push(.banned(Ban(reason: "spam", until: nil)))))
        #expect(try await user42.closeCode() == .banned)

        let retry = try await RawClient.open(b.webSocketURL)
        #expect(try await retry.connect(token: b.tokens.token(user: "42")) == .message(.push(.banned(Ban(reason: "spam", until: nil)))))
        #expect(try await retry.next().errorCode == .banned)
        #expect(try await retry.closeCode() == .banned)

        try await a.api.disconnect(user: "9", code: CloseCode.forceDisconnect.rawValue)
        #expect(try await user9.closeCode() == .forceDisconnect)

        try await b.api.unban(user: "42")
        let back = try await RawClient.open(a.webSocketURL)
        #expect(try await back.connect(token: a.tokens.token(user: "42")).isSuccess, "unbanned through B, admitted by A")
        #expect(try await a.stop() == 0)
        #expect(try await b.stop() == 0)
    }

    /// The next presence push `client` gets about another user than `observer` (its own join may
    /// come or not, by timing: PROTOCOL.md) and other messages are skipped; nil at a close or after `timeout`.
    private func presencePush(_ client: RawClient, within timeout: Duration = .seconds(10)) async throws -> PresenceChange? {
        while true {
            switch try await client.next(within: timeout) {
            case .message(.push(.presence(let change))) where change.user != "observer": return change
            case .closed: return nil
            case .message: continue
            }
        }
    }

    /// A client of `user` (with the token claim `info`) on `daemon`, connected and subscribed to `room:1`.
    private func joined(_ daemon: TestDaemon, _ user: String, info: JSONValue? = nil) async throws -> RawClient {
        let client = try await RawClient.open(daemon.webSocketURL)
        let token = daemon.tokens.token(user: user, extraClaims: info.map { ["info": $0] } ?? [:])
        #expect(try await client.connect(token: token).isSuccess)
        #expect(try await subscribe(client, "room:1") != nil)
        return client
    }

    @Test("presence across nodes: one user's tabs on A and B are one join, closing one is no leave, an info change is one update; a ban reports the sessions closed on both nodes; kill -9 of a node makes its users leave within the lease")
    func presenceAcrossNodes() async throws {
        let redis = try TestRedis()
        let flags = [
            "--namespaces-enabled", "moderation,room", "--namespaces-room-presence", "true", "--engine-redis-presence-lease-seconds", "3",
        ]
        let (a, b) = try await nodes(redis, flags)
        let room = try ChannelName("room:1")
        let watcher = try await joined(a, "observer")
        let tabOnA = try await joined(a, "42", info: ["name": "Ada"])
        #expect(try await presencePush(watcher) == .join(room, user: "42", info: ["name": "Ada"]))
        let tabOnB = try await joined(b, "42", info: ["name": "Ada"])
        let other = try await joined(b, "7")
        #expect(try await presencePush(watcher) == .join(room, user: "7", info: nil), "42's second tab (on B) was no join")
        #expect(try await b.api.request("GET", "/api/presence_stats/room:1") == ["channel": "room:1", "users": 3, "contexts": 4])

        tabOnA.close()
        let phone = try await joined(b, "42", info: ["name": "Ada (phone)"])
        #expect(try await presencePush(watcher) == .update(room, user: "42", info: ["name": "Ada (phone)"]),
                "closing one of two tabs was no leave; a new tab with other info is one update, not a leave and a join")
        let members = try await a.api.request("GET", "/api/presence/room:1")
        #expect(members["members"] == [
            ["user": "42", "contexts": 2, "info": ["name": "Ada (phone)"]], ["user": "7", "contexts": 1, "info": nil],
            ["user": "observer", "contexts": 1, "info": nil],
        ])

        let extra = try await RawClient.open(a.webSocketURL)
        #expect(try await extra.connect(token: a.tokens.token(user: "42")).isSuccess)
        let ban = try await a.api.ban(user: "42", reason: "spam")
        #expect(ban["sessionsClosed"] == 3, "one session on A, two on B")
        #expect(try await tabOnB.closeCode() == .banned)
        #expect(try await phone.closeCode() == .banned)
        // B closes 42's two tabs one after the other: if the newer closes first, the older one's
        // info shows for a moment (an update); then one leave, never a join.
        var change = try await presencePush(watcher)
        if change?.kind == .update { change = try await presencePush(watcher) }
        #expect(change == .leave(room, user: "42"))

        let killed = ContinuousClock.now
        b.kill()
        #expect(try await presencePush(watcher, within: .seconds(20)) == .leave(room, user: "7"), "B's users leave when its lease (3 s) ends")
        let took = ContinuousClock.now - killed
        #expect(took < .seconds(10), "gone within the lease and the next tick, not \(took)")
        _ = other
        #expect(try await a.api.request("GET", "/api/presence_stats/room:1") == ["channel": "room:1", "users": 1, "contexts": 1])
        #expect(try await a.stop() == 0)
    }

    @Test("a node killed and restarted: its user reconnecting within the lease does not leave and join again")
    func presenceThroughRestart() async throws {
        let redis = try TestRedis()
        let flags = [
            "--namespaces-enabled", "moderation,room", "--namespaces-room-presence", "true", "--engine-redis-presence-lease-seconds", "5",
        ]
        let (a, b) = try await nodes(redis, flags)
        let room = try ChannelName("room:1")
        let watcher = try await joined(a, "observer")
        _ = try await joined(b, "5")
        #expect(try await presencePush(watcher) == .join(room, user: "5", info: nil))
        b.kill()
        let restarted = try await TestDaemon.start(arguments: flags, engine: .redis(address: redis.address), nodeOf: a)
        _ = try await joined(restarted, "5")
        // The dead incarnation's context goes when its lease ends (2 contexts, then 1), with no push.
        try await eventually(.seconds(20), "the dead node's context removed") {
            try await a.api.request("GET", "/api/presence_stats/room:1")["contexts"] == 2
        }
        _ = try await joined(restarted, "6")
        #expect(try await presencePush(watcher) == .join(room, user: "6", info: nil), "no leave of 5 came before")
        #expect(try await restarted.stop() == 0)
        #expect(try await a.stop() == 0)
    }

    @Test("a publish retried through another node with the same idempotency key is stored once and answered with the first response")
    func idempotencyAcrossNodes() async throws {
        let redis = try TestRedis()
        let (a, b) = try await nodes(redis)
        let body: JSONValue = ["channel": "chat:orders", "data": "order 9", "idempotencyKey": "order-9"]
        let first = try await a.api.request("POST", "/api/publish", body)
        let retried = try await b.api.request("POST", "/api/publish", body)
        #expect(first["offset"] == 1)
        #expect(retried["offset"] == first["offset"], "the first answer, not a second publication")
        let history = try await b.api.request("GET", "/api/history/chat:orders")
        #expect(history["publications"]?.arrayValue?.count == 1)
        #expect(try await a.stop() == 0)
        #expect(try await b.stop() == 0)
    }

    @Test("kill -9 Redis during a stream of publishes, then restart it: every publish is acknowledged and delivered, or refused; clients converge")
    func redisCrashDuringPublishes() async throws {
        let redis = try TestRedis()
        let (a, b) = try await nodes(redis)
        let watcher = try await RawClient.open(a.webSocketURL)
        #expect(try await watcher.connect(token: a.tokens.token(user: "7")).isSuccess)
        let subscribed = try #require(try await subscribe(watcher, "app:counter"))
        let runtime = a.runtime(user: "8", configuration: ClientRuntime.Configuration())
        try await runtime.start()
        let app = await runtime.mount("counter")
        let latest = Mutex<Int64>(0)
        let token = try await app.observe(StateKey<Int64>(channel: "app:counter", key: "n", default: 0)) { value in
            latest.withLock { $0 = value }
        }

        var acknowledged: [Int64] = []
        var refused = 0
        for n in Int64(1)...120 {
            if n == 40 { redis.kill() }
            if n == 80 {
                try redis.restart(keepingData: true)
                try await eventually(.seconds(20), "node B reaches Redis again") {
                    (try? await b.api.publish(channel: "chat:probe", data: "up")) != nil
                }
            }
            do {
                _ = try await b.api.setState(channel: "app:counter", key: "n", value: .int(n))
                acknowledged.append(n)
            } catch let failure as BackendAPIClient.Failure {
                #expect(failure.status == 503, "refused as unavailable, not lost: \(failure)")
                refused += 1
            }
        }
        #expect(refused > 0, "publishes while Redis was down were refused")
        #expect(acknowledged.filter { $0 >= 80 } == Array(80...120), "publishes work again once Redis is back")
        _ = try await b.api.setState(channel: "app:counter", key: "n", value: 1000)

        // The watcher saw every acknowledged publish, in order, without a gap or a repeat.
        var seen: [Int64] = []
        var offsets: [UInt64] = []
        while seen.last != 1000, case .message(.push(.publication(let publication))) = try await watcher.next(within: .seconds(20)) {
            offsets.append(publication.offset)
            if case .int(let value) = publication.data { seen.append(value) }
        }
        #expect(Set(acknowledged).isSubset(of: Set(seen)), "missing: \(Set(acknowledged).subtracting(seen).sorted())")
        #expect(offsets == Array(subscribed.position.offset + 1...subscribed.position.offset + UInt64(offsets.count)), "consecutive offsets")
        #expect(try await a.api.state(channel: "app:counter")["state"]?["n"]?["value"] == 1000)
        try await eventually(.seconds(20), "the runtime converged") { latest.withLock { $0 } == 1000 }
        token.cancel()
        await runtime.close()
        #expect(try await a.stop() == 0)
        #expect(try await b.stop() == 0)
    }

    @Test("Redis restarted empty: the epoch changes, the node sends its subscribers back, and they get recovered:false and the new snapshot")
    func redisLostItsData() async throws {
        let redis = try TestRedis()
        let (a, b) = try await nodes(redis)
        let client = try await RawClient.open(a.webSocketURL)
        #expect(try await client.connect(token: a.tokens.token(user: "7")).isSuccess)
        try await b.api.setState(channel: "app:flags", key: "dark", value: true)
        let before = try #require(try await subscribe(client, "app:flags"))
        #expect(before.state?["dark"]?.value == true)

        redis.kill()
        try redis.restart(keepingData: false)
        try await eventually(.seconds(20), "Redis answers B again") {
            (try? await b.api.setState(channel: "app:flags", key: "beta", value: true)) != nil
        }
        #expect(try await client.closeCode(within: .seconds(30)) == .forceReconnect)

        let again = try await RawClient.open(a.webSocketURL)
        #expect(try await again.connect(token: a.tokens.token(user: "7")).isSuccess)
        let after = try await subscribe(again, "app:flags", since: before.position)
        #expect(after?.recovered == false)
        #expect(after?.position.epoch != before.position.epoch)
        #expect(after?.state?.mapValues(\.value) == ["beta": true], "the server's state now, not the lost one")
        #expect(try await a.stop() == 0)
        #expect(try await b.stop() == 0)
    }
}
