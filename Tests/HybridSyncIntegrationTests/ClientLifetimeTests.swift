import Foundation
import Synchronization
import HybridSyncClient
import HybridSyncDaemonTesting
import Testing

private func until(_ runtime: ClientRuntime, _ what: String, within timeout: Duration = .seconds(30),
                   _ matches: @escaping @Sendable (ConnectionState) -> Bool) async throws {
    try await eventually(timeout, what) { matches(await runtime.connectionState) }
}

private func fastBackoff() -> ClientRuntime.Configuration {
    var configuration = ClientRuntime.Configuration()
    configuration.backoff = BackoffPolicy(initial: .milliseconds(50), maximum: .milliseconds(200))
    return configuration
}

/// The client lifetime failures, against the real `hybridsyncd` over libwebsockets.
@Suite("Client lifetime (real daemon)")
struct ClientLifetimeTests {
    @Test("start() against a closed port ends when the caller's timeout cancels it; close() ends a waiting start()")
    func startAgainstClosedPort() async throws {
        let runtime = ClientRuntime(url: "ws://127.0.0.1:1/", configuration: fastBackoff()) { "token" }
        await #expect(throws: TimeoutError.self) {
            try await withTimeout(.seconds(2), "start() against a closed port") { try await runtime.start() }
        }
        // A start() that its caller cancels ends at once (withTimeout would throw if it did not).
        let cancelled = Task { try await runtime.start() }
        try await until(runtime, "retrying") { if case .reconnecting = $0 { return true } else { return false } }
        cancelled.cancel()
        let outcome = try await withTimeout(.seconds(5), "a cancelled start()") { await cancelled.result }
        #expect(throws: CancellationError.self) { try outcome.get() }
        let waiting = Task { try await runtime.start() }
        try await until(runtime, "retrying") { if case .reconnecting = $0 { return true } else { return false } }
        await runtime.close()
        let error = await #expect(throws: ClientRuntimeError.self) { try await waiting.value }
        #expect(error?.code == .closed)
    }

    @Test("after a restart of the in-memory engine the observer is told it resynced, and backfill brings the missed publication")
    func resyncedAfterRestart() async throws {
        let daemon = try await TestDaemon.start(engine: .memory)
        let runtime = daemon.runtime(user: "7", configuration: fastBackoff())
        try await runtime.start()
        let feed = await runtime.mount("feed")
        let events = try await feed.observe("chat:room-1")
        try await daemon.api.publish(channel: "chat:room-1", data: "before")
        #expect(try await events.first(within: .seconds(10))?.publication?.data == "before")
        let restarted = try await daemon.restart()
        try await restarted.api.publish(channel: "chat:room-1", data: "while offline")  // nobody subscribed yet
        guard case .resynced(let gap)? = try await events.first(within: .seconds(30)) else {
            Issue.record("the observer was not told about the gap")
            return
        }
        #expect(gap.from.offset == 1)
        #expect(gap.from.epoch != gap.to.epoch, "a new epoch after the memory engine restarted")
        let backfill = try await feed.backfill("chat:room-1", after: gap.from)
        #expect(backfill.publications.map(\.data) == ["while offline"])
        #expect(backfill.complete == false, "another epoch: the server cannot prove nothing else is missing")
        await runtime.close()
        #expect(try await restarted.stop() == 0)
    }

    @Test("an oversize publish fails locally with messageTooBig; the connection every micro-app shares stays up")
    func oversizePublish() async throws {
        let daemon = try await TestDaemon.start(engine: .memory)
        let runtime = daemon.runtime(user: "7", configuration: fastBackoff())
        try await runtime.start()
        let chat = await runtime.mount("chat")
        let feed = await runtime.mount("feed")
        let events = try await feed.observe("chat:room")
        let connected = await runtime.connectionState
        let error = await #expect(throws: ClientRuntimeError.self) {
            try await chat.publish("chat:room", data: .string(String(repeating: "x", count: 70_000)))
        }
        #expect(error?.code == .messageTooBig)
        #expect(error?.message.contains("65536") == true)
        #expect(await runtime.connectionState == connected, "the same connection")
        #expect(try await chat.publish("chat:room", data: "small") == 1, "nothing was published before")
        guard case .publication(let publication)? = try await events.first(within: .seconds(5)) else {
            Issue.record("feed saw nothing")
            return
        }
        #expect(publication.data == "small")
        let metrics = try await daemon.api.send(method: "GET", path: "/metrics", authorization: "")
        #expect(!String(decoding: metrics.body, as: UTF8.self).contains(#"code="1009""#), "no 1009 close happened")
        await runtime.close()
        #expect(try await daemon.stop() == 0)
    }

    @Test("after a ban stopped the runtime and start() ran again: ObservedState and callback observers follow their keys again")
    @MainActor
    func observersComeBackAfterRestart() async throws {
        let daemon = try await TestDaemon.start(engine: .memory)
        let runtime = daemon.runtime(user: "42", configuration: fastBackoff())
        try await runtime.start()
        let app = await runtime.mount("profile")
        let key = StateKey<[String: Bool]>(channelMap: "app:flags")
        _ = try await daemon.api.setState(channel: "app:flags", key: "dark", value: true)
        let observed = ObservedState(key, in: app)
        let seen = Mutex<[[String: Bool]]>([])
        let token = try await app.observe(key) { value in seen.withLock { $0.append(value) } }
        try await eventually(.seconds(10), "the first value") {
            await MainActor.run { observed.value == ["dark": true] && !observed.isStale }
        }

        _ = try await daemon.api.ban(user: "42", reason: "spam")
        try await eventually(.seconds(10), "stale, with the ban as error") {
            await MainActor.run { observed.isStale && (observed.error as? ClientRuntimeError)?.code == .banned }
        }
        _ = try await daemon.api.setState(channel: "app:flags", key: "dark", value: false)  // while stopped
        _ = try await daemon.api.unban(user: "42")
        try await runtime.start()
        try await eventually(.seconds(10), "ObservedState follows the key again") {
            await MainActor.run { observed.value == ["dark": false] && !observed.isStale && observed.error == nil }
        }
        try await eventually(.seconds(10), "the callback observer follows the key again") {
            seen.withLock { $0.last } == ["dark": false]
        }
        #expect(seen.withLock { $0 } == [["dark": true], ["dark": false]])
        token.cancel()
        observed.cancel()
        await runtime.close()
        #expect(try await daemon.stop() == 0)
    }

    @Test("a half-open connection (the daemon stopped with SIGSTOP) is noticed by the ping watchdog; the runtime reconnects after SIGCONT")
    func halfOpenConnection() async throws {
        let daemon = try await TestDaemon.start(arguments: ["--ping-interval-seconds", "1", "--ping-pong-timeout-seconds", "1"])
        var configuration = fastBackoff()
        configuration.connectTimeout = .seconds(2)
        let runtime = daemon.runtime(user: "7", configuration: configuration)
        try await runtime.start()
        daemon.pauseProcess()
        do {
            try await until(runtime, "the silence is noticed", within: .seconds(20)) {
                if case .connected = $0 { return false } else { return true }
            }
        } catch {
            daemon.resumeProcess()
            throw error
        }
        daemon.resumeProcess()
        try await until(runtime, "connected again") { if case .connected = $0 { return true } else { return false } }
        #expect(await runtime.diagnostics().reconnects == 1)
        #expect(await runtime.diagnostics().lastError?.contains("no message from the server") == true)
        await runtime.close()
        #expect(try await daemon.stop() == 0)
    }
}
