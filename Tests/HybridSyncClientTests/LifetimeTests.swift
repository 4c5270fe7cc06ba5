import HybridSyncClient
import HybridSyncTesting
import Logging
import Testing

/// A transport whose server is never there.
private struct UnreachableTransport: ClientTransport {
    func connect(to url: String) async throws -> any ClientConnection {
        throw ClientTransportError("connection refused")
    }
}

private func state(_ runtime: ClientRuntime, _ what: String, _ matches: @escaping @Sendable (ConnectionState) -> Bool) async throws {
    try await eventually(.seconds(30), what) { matches(await runtime.connectionState) }
}

private func isConnected(_ state: ConnectionState) -> Bool {
    if case .connected = state { return true }
    return false
}

private func isReconnecting(_ state: ConnectionState) -> Bool {
    if case .reconnecting = state { return true }
    return false
}

@Suite("Client lifetime: bounded, cancellable waits; nothing stale presented as current")
struct LifetimeTests {
    @Test("start() against an unreachable server ends when its task is cancelled, and close() ends the others")
    func startIsCancellable() async throws {
        let runtime = ClientRuntime(url: "memory://", transport: UnreachableTransport(), clock: ManualClock()) { "token" }
        let cancelled = Task { try await runtime.start() }
        try await state(runtime, "retrying", isReconnecting)
        cancelled.cancel()
        await #expect(throws: CancellationError.self) { try await cancelled.value }

        let waiting = Task { try await runtime.start() }
        try await eventually(.seconds(30), "the second start() waits") { await runtime.diagnostics().lastError != nil }
        await runtime.close()
        let error = await #expect(throws: ClientRuntimeError.self) { try await waiting.value }
        #expect(error?.code == .closed)
        await #expect(throws: ClientRuntimeError.closed) { try await runtime.start() }
    }

    @Test("start() throws timeout after its bound (and the runtime keeps trying)")
    func startTimeout() async throws {
        let clock = ManualClock()
        var configuration = ClientRuntime.Configuration()
        configuration.startTimeout = .seconds(5)
        let runtime = ClientRuntime(url: "memory://", configuration: configuration, transport: UnreachableTransport(), clock: clock) { "t" }
        let start = Task { try await runtime.start() }
        try await state(runtime, "retrying", isReconnecting)
        for _ in 0..<10 { clock.advance(by: .seconds(1)); await Task.yield() }
        let error = await #expect(throws: ClientRuntimeError.self) { try await start.value }
        #expect(error?.code == .timeout)
        #expect(await runtime.connectionState != .idle)
        await runtime.close()
    }

    @Test("a URL the transport can never open fails start() at once with invalidURL")
    func invalidURL() async throws {
        let runtime = ClientRuntime(url: "http://127.0.0.1:1/") { "token" }
        let error = await #expect(throws: ClientRuntimeError.self) {
            try await withTimeout(.seconds(30), "start() with an http:// URL") { try await runtime.start() }
        }
        #expect(error?.code == .invalidURL)
        guard case .closed(nil, let reason) = await runtime.connectionState else {
            Issue.record("closed expected, got \(await runtime.connectionState)")
            return
        }
        #expect(reason.contains("is not a ws:// or wss:// URL"))
    }

    @Test("a cancelled offline publish is dropped from the queue and never sent after the reconnect")
    func offlinePublishCancelled() async throws {
        let h = RuntimeHarness()
        let runtime = h.runtime()
        try await runtime.start()
        try await h.bounce(runtime) {
            let publish = Task { try await runtime.publish("chat:room", data: "never") }
            try await eventually(.seconds(30), "queued") { await runtime.offlineQueueCount == 1 }
            publish.cancel()
            await #expect(throws: CancellationError.self) { try await publish.value }
            #expect(await runtime.offlineQueueCount == 0)
        }
        #expect(await runtime.sentCommandCounts["publish"] == nil)
        #expect(h.api("GET", "/api/channels/chat:room")["offset"] == 0)
    }

    @Test("one malformed entry in a channel map is reported with its app and key; the other entries stay live")
    func malformedMapEntry() async throws {
        let h = RuntimeHarness()
        let runtime = h.runtime()
        try await runtime.start()
        let chat = await runtime.mount("chat")
        let key = StateKey<[String: BanInfo]>(channelMap: "moderation:users")
        let bans = try await chat.observe(key)
        h.setState("moderation:users", "7", ["banned": true, "reason": "spam"])
        h.setState("moderation:users", "bad", "not a ban")
        h.setState("moderation:users", "9", ["banned": true, "reason": "abuse"])
        try await eventually(.seconds(30), "the valid entries arrive") { (try? await runtime.get(key))?.count == 2 }
        var latest: [String: BanInfo] = [:]
        for try await value in bans {
            latest = value
            if value.count == 2 { break }
        }
        #expect(Set(latest.keys) == ["7", "9"])
        #expect(h.errors.all.contains { $0.hasPrefix("chat: decoding 'moderation:users' state entry 'bad'") }, "\(h.errors.all)")
        _ = chat
    }

    @Test("a gap after recovered:false is signalled with resynced(from:to:), and backfill returns what history still holds")
    func resyncedSignal() async throws {
        let h = RuntimeHarness(history: 2)
        let runtime = h.runtime()
        try await runtime.start()
        let app = await runtime.mount("feed")
        let events = try await app.observe("app:feed")
        h.api("POST", "/api/publish", ["channel": "app:feed", "data": 1])
        #expect(try await events.first(within: .seconds(5))?.publication?.offset == 1)
        try await h.bounce(runtime) {
            for n in 2...5 { h.api("POST", "/api/publish", ["channel": "app:feed", "data": .int(Int64(n))]) }
        }
        guard case .resynced(let resync)? = try await events.first(within: .seconds(5)) else {
            Issue.record("a resynced event expected")
            return
        }
        #expect(resync.from.offset == 1)
        #expect(resync.to.offset == 5)
        let backfill = try await app.backfill("app:feed", after: resync.from)
        #expect(backfill.publications.map(\.offset) == [4, 5], "history keeps 2")
        #expect(backfill.complete == false, "2 and 3 are gone")
        let full = try await app.backfill("app:feed", after: StreamPosition(epoch: resync.to.epoch, offset: 3))
        #expect(full.publications.map(\.data) == [4, 5])
        #expect(full.complete)
        h.api("POST", "/api/publish", ["channel": "app:feed", "data": 6])
        #expect(try await events.first(within: .seconds(5))?.publication?.offset == 6, "live again after the signal")
    }

    @Test("silence past the server's ping interval + pong timeout is a dead connection: the runtime reconnects")
    func pingWatchdog() async throws {
        let h = RuntimeHarness()
        let runtime = h.runtime()
        try await runtime.start()
        #expect(await runtime.sentCommandCounts["connect"] == 1)
        h.clock.advance(by: .seconds(20))  // within ping (25 s) + pong (10 s): still fine
        try await h.clock.waitForSleeper(dueWithin: .seconds(15))  // the watchdog, due at 35 s
        #expect(await runtime.sentCommandCounts["connect"] == 1)
        #expect(await runtime.connectionState != .connecting)
        h.clock.advance(by: .seconds(16))  // 36 s without a message
        try await state(runtime, "reconnecting after the silence", isReconnecting)
        h.clock.advance(by: .seconds(1))
        try await state(runtime, "connected again", isConnected)
        #expect(await runtime.sentCommandCounts["connect"] == 2)
        #expect(await runtime.diagnostics().reconnects == 1)
    }

    @Test("a routine reconnect logs nothing at info (the default swift-log handler prints info on stdout); a stop for good does")
    func quietReconnects() async throws {
        let h = RuntimeHarness()
        let lines = Recorder<String>()
        let runtime = h.runtime(user: "7", logger: Logger(label: "test") { _ in RecordingLogHandler(lines: lines) })
        try await runtime.start()
        h.api("POST", "/api/disconnect", ["user": "7", "code": 4005])
        try await state(runtime, "reconnecting", isReconnecting)
        h.clock.advance(by: .seconds(30))
        try await state(runtime, "connected again", isConnected)
        #expect(lines.all.filter { !$0.hasPrefix("debug") && !$0.hasPrefix("trace") } == [], "\(lines.all)")
        #expect(lines.all.contains { $0.hasPrefix("debug: connection closed") }, "the close is still there at debug")
        h.api("POST", "/api/disconnect", ["user": "7", "code": 4504])
        try await state(runtime, "stopped") { if case .closed = $0 { return true } else { return false } }
        #expect(lines.all.contains { $0.hasPrefix("info: connection closed for good") })
    }

    @Test("a token that expired while suspended: resume asks for exactly one fresh token, never reuses the old one, and every subscription comes back")
    func tokenExpiredWhileSuspended() async throws {
        let h = RuntimeHarness()
        let runtime = h.runtime(user: "7", tokenTTL: 60)
        try await runtime.start()
        let app = await runtime.mount("profiles")
        let key = StateKey<Profile?>(channel: "app:profiles", key: "1", default: nil)
        let values = try await app.observe(key)
        #expect(try await values.first(within: .seconds(5)) == .some(nil))
        let events = try await app.observe("chat:room")
        await runtime.suspend()
        try await eventually(.seconds(30), "socket closed") { h.server.connectionCount == 0 }
        h.serverClock.advance(by: 3600)  // the first token expired long ago
        h.setState("app:profiles", "1", ["name": "while away"])
        #expect(h.tokenRequests.all.count == 1)
        await runtime.resume()
        try await state(runtime, "connected again", isConnected)
        #expect(h.tokenRequests.all.count == 2, "one fresh token for the one attempt")
        #expect(await runtime.sentCommandCounts["connect"] == 2, "no refused connect with the old token, no loop")
        #expect(try await values.first(within: .seconds(5)) == Profile(name: "while away"))
        h.api("POST", "/api/publish", ["channel": "chat:room", "data": "back"])
        #expect(try await events.first(within: .seconds(5))?.publication?.data == "back", "the channel subscription came back too")
        h.clock.advance(by: .seconds(60))
        #expect(h.tokenRequests.all.count == 2, "no reconnect loop")
        _ = app
    }

    @Test("suspend keeps subscriptions and closes the socket; resume reconnects at once and recovers")
    func suspendResume() async throws {
        let h = RuntimeHarness()
        let runtime = h.runtime()
        try await runtime.start()
        let app = await runtime.mount("profiles")
        let key = StateKey<Profile?>(channel: "app:profiles", key: "1", default: nil)
        let values = try await app.observe(key)
        #expect(try await values.first(within: .seconds(5)) == .some(nil))
        await runtime.suspend()
        #expect(await runtime.connectionState == .suspended)
        try await eventually(.seconds(30), "socket closed") { h.server.connectionCount == 0 }
        h.setState("app:profiles", "1", ["name": "while away"])
        await runtime.resume()
        #expect(try await values.first(within: .seconds(5)) == Profile(name: "while away"))
        let diagnostics = await runtime.diagnostics()
        #expect(diagnostics.channels.map(\.name) == ["app:profiles"])
        #expect(diagnostics.channels.first?.position?.offset == 1)
        #expect(diagnostics.apps.map(\.name) == ["profiles"])
        #expect(diagnostics.apps.first?.channels == ["app:profiles"])
        #expect(await runtime.sentCommandCounts["subscribe"] == 2, "resubscribed once, from its position")
    }

    @Test("run() returns when its task is cancelled, closing the runtime; withClientRuntime closes on exit")
    func structuredLifetime() async throws {
        let h = RuntimeHarness()
        let runtime = h.runtime()
        let running = Task { try await runtime.run() }
        try await state(runtime, "connected", isConnected)
        running.cancel()
        try await running.value
        #expect(await runtime.connectionState == .closed(code: nil, reason: "closed by the client"))
        try await eventually(.seconds(30), "socket closed") { h.server.connectionCount == 0 }

        let scoped = h.runtime()
        let client = try await withClientRuntime(scoped) { runtime in
            guard case .connected(let client) = await runtime.connectionState else { return "" }
            return client
        }
        #expect(!client.isEmpty)
        await #expect(throws: ClientRuntimeError.closed) { try await scoped.start() }
    }

    @Test("a server key observed before the runtime connects yields nothing until the snapshot, then the server's value")
    func noDefaultBeforeSnapshot() async throws {
        let h = RuntimeHarness()
        h.setState("moderation:users", "42", ["banned": true, "reason": "spam"])
        let runtime = h.runtime()
        let app = await runtime.mount("profile")
        let values = try await app.observe(StateKey<BanInfo?>(channel: "moderation:users", key: "42", default: nil))
        let seen = Recorder<BanInfo?>()
        let reader = Task { for try await value in values { seen.append(value) } }
        try await runtime.start()
        try await eventually(.seconds(5), "the first value") { !seen.all.isEmpty }
        #expect(seen.all == [BanInfo(banned: true, reason: "spam")], "never 'in good standing' first")
        reader.cancel()
        _ = app
    }

    @Test("an equal value after a snapshot is not emitted twice")
    func noDuplicateAfterSnapshot() async throws {
        let h = RuntimeHarness(history: 1)
        let runtime = h.runtime()
        try await runtime.start()
        h.setState("app:profiles", "1", ["name": "same"])
        let app = await runtime.mount("p")
        let values = try await app.observe(StateKey<Profile?>(channel: "app:profiles", key: "1", default: nil))
        let seen = Recorder<Profile?>()
        let reader = Task { for try await value in values { seen.append(value) } }
        try await eventually(.seconds(5), "first value") { seen.all.count == 1 }
        try await h.bounce(runtime) {
            for n in 1...3 { h.setState("app:profiles", "other\(n)", ["name": "x"]) }  // beyond history: a snapshot follows
        }
        h.setState("app:profiles", "1", ["name": "changed"])
        try await eventually(.seconds(5), "the change") { seen.all.count >= 2 }
        #expect(seen.all == [Profile(name: "same"), Profile(name: "changed")])
        reader.cancel()
    }
}
