import HybridSyncClient
import HybridSyncProtocol
import HybridSyncServer
import HybridSyncTesting
import Testing

@Suite("Reconnect, recovery and lifecycle")
struct ReconnectTests {
    private func connected(_ runtime: ClientRuntime) async throws {
        try await eventually(.seconds(30), "runtime connected") {
            if case .connected = await runtime.connectionState { return true }
            return false
        }
    }

    @Test("after a reconnect inside history, the missed changes are recovered and state equals the server's")
    func recoveredPath() async throws {
        let h = RuntimeHarness(history: 100)
        let runtime = h.runtime()
        try await runtime.start()
        let app = await runtime.mount("profiles")
        let map = StateKey<[String: Profile]>(channelMap: "app:profiles")
        let stream = try await app.observe(map)
        h.setState("app:profiles", "1", ["name": "a"])
        try await h.bounce(runtime) {
            h.setState("app:profiles", "2", ["name": "b"])
            h.setState("app:profiles", "1", ["name": "a2"])
        }
        try await eventually(.seconds(30), "state converged") {
            (try? await runtime.get(map)) == ["1": Profile(name: "a2"), "2": Profile(name: "b")]
        }
        #expect(await runtime.sentCommandCounts["subscribe"] == 2, "one resubscribe, with its position")
        _ = (stream, app)
    }

    @Test("after a reconnect outside history, the snapshot replaces the state (removals included)")
    func snapshotPath() async throws {
        let h = RuntimeHarness(history: 1)
        let runtime = h.runtime()
        try await runtime.start()
        let app = await runtime.mount("profiles")
        let map = StateKey<[String: Profile]>(channelMap: "app:profiles")
        let stream = try await app.observe(map)
        h.setState("app:profiles", "gone", ["name": "x"])
        try await eventually(.seconds(30), "first change seen") { (try? await runtime.get(map))?["gone"] != nil }
        try await h.bounce(runtime) {
            h.api("POST", "/api/state/remove", ["channel": "app:profiles", "key": "gone"])
            for n in 1...5 { h.setState("app:profiles", "k\(n)", ["name": .string("n\(n)")]) }
        }
        let server = h.api("GET", "/api/state/app:profiles")["state"]
        try await eventually(.seconds(30), "state converged to the snapshot") {
            let local = (try? await runtime.get(map)) ?? [:]
            return JSONValue.object(local.mapValues { ["name": .string($0.name)] }) == server?.objectValues
        }
        #expect(try await runtime.get(map)["gone"] == nil)
        _ = (stream, app)
    }

    @Test("N micro-apps on one channel: one subscribe; the last unmount unsubscribes after the linger; storms leak nothing")
    func refCountingWithLinger() async throws {
        let h = RuntimeHarness()
        let runtime = h.runtime(linger: .seconds(1))
        try await runtime.start()
        var apps: [MicroApp] = []
        var streams: [ClientRuntime.ChannelEvents] = []
        for n in 0..<8 {
            let app = await runtime.mount("app-\(n)")
            streams.append(try await app.observe("app:feed"))
            apps.append(app)
        }
        #expect(await runtime.sentCommandCounts["subscribe"] == 1)
        for app in apps { await app.unmount() }
        #expect(await runtime.sentCommandCounts["unsubscribe"] == nil, "still lingering")
        try await h.clock.waitForSleeper(dueWithin: .seconds(1))  // the linger
        h.clock.advance(by: .seconds(1))
        try await eventually(.seconds(30), "one unsubscribe after the linger") { await runtime.sentCommandCounts["unsubscribe"] == 1 }

        // A storm of mounts and unmounts, with callback observers (tasks) too.
        for n in 0..<50 {
            let app = await runtime.mount("storm-\(n)")
            _ = try await app.observe("app:feed")
            _ = try await app.observe(StateKey<Int>(local: "x", default: 0)) { _ in }
            _ = try await app.observe(StateKey<Profile?>(channel: "app:profiles", key: "1", default: nil))
            await app.unmount()
        }
        try await eventually(.seconds(30), "callback tasks ended") { await runtime.counts.tasks == 0 }
        h.clock.advance(by: .seconds(2))
        try await eventually(.seconds(30), "everything released") {
            let counts = await runtime.counts
            return counts.apps == 0 && counts.observers == 0 && counts.channels == 0 && counts.tasks == 0
        }
        #expect(h.api("GET", "/api/channels/app:feed")["subscribers"] == 0)
        _ = streams
    }

    @Test("an expired token: the server closes with 4002 and the runtime reconnects with a fresh token")
    func tokenRefreshOnExpiry() async throws {
        let h = RuntimeHarness()
        let runtime = h.runtime(tokenTTL: 60)
        try await runtime.start()
        #expect(h.tokenRequests.all.count == 1)
        h.serverClock.advance(by: 61)
        h.server.tick()
        try await eventually(.seconds(30), "token callback invoked again") { h.tokenRequests.all.count == 2 }
        try await connected(runtime)
        #expect(h.server.connectionCount == 1)
    }

    @Test("a ban is surfaced to every micro-app and the runtime does not reconnect")
    func terminalBan() async throws {
        let h = RuntimeHarness()
        let runtime = h.runtime(user: "42")
        try await runtime.start()
        let chat = await runtime.mount("chat")
        let profile = await runtime.mount("profile")
        let chatEvents = await chat.events()
        let profileEvents = await profile.events()
        h.api("POST", "/api/ban", ["user": "42", "reason": "spam"])
        for events in [chatEvents, profileEvents] {
            let seen = try await withTimeout(.seconds(5), "ban events") {
                var seen: [RuntimeEvent] = []
                for await event in events {
                    seen.append(event)
                    if case .connectionChanged(.closed) = event { break }
                }
                return seen
            }
            #expect(seen.contains(.banned(Ban(reason: "spam", until: nil))))
            #expect(seen.last == .connectionChanged(.closed(code: .banned, reason: "banned: spam")))
        }
        h.clock.advance(by: .seconds(60))
        #expect(h.tokenRequests.all.count == 1, "no reconnect attempt")
        #expect(h.server.connectionCount == 0)
        _ = (chat, profile)
    }

    @Test("client publishes wait while offline, up to a bound with a clear error")
    func offlineQueue() async throws {
        let h = RuntimeHarness()
        let runtime = h.runtime(offlineQueue: 2)
        try await runtime.start()
        h.api("POST", "/api/disconnect", ["user": "1", "code": 4005])
        try await h.clock.waitForSleeper(dueWithin: .seconds(1))
        let queued = Task { try await runtime.publish("chat:room", data: "while offline") }
        let queued2 = Task { try await runtime.publish("chat:room", data: "also offline") }
        try await eventually(.seconds(30), "two queued") { await runtime.offlineQueueCount == 2 }
        #expect(await runtime.sentCommandCounts["publish"] == nil)
        await #expect(throws: ClientRuntimeError.offlineQueueFull(2)) {
            _ = try await runtime.publish("chat:room", data: "one too many")
        }
        h.clock.advance(by: .seconds(1))
        // Both were sent once connected; which of the two tasks queued first is up to the scheduler.
        let offsets = Set([try await queued.value, try await queued2.value])
        #expect(offsets == [1, 2])
    }
}

extension JSONValue {
    var objectValues: JSONValue? {
        guard case .object(let members) = self else { return nil }
        return .object(members.mapValues { $0["value"] ?? .null })
    }
}
