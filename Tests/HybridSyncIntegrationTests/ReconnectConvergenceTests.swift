import Foundation
import HybridSyncClient
import HybridSyncProtocol
import HybridSyncDaemonTesting
import Synchronization
import Testing

/// Every micro-app's state converges to the server's after the connection dies or the daemon
/// restarts while the backend keeps publishing (real daemon, real sockets).
@Suite("Reconnect convergence (real daemon)")
struct ReconnectConvergenceTests {
    struct Value: Codable, Sendable, Equatable {
        var n: Int
    }

    final class DaemonBox: Sendable {
        let current: Mutex<TestDaemon>
        init(_ daemon: TestDaemon) { current = Mutex(daemon) }
        var daemon: TestDaemon { current.withLock { $0 } }
    }

    private func serverState(_ daemon: TestDaemon, _ channel: String) async throws -> [String: Value] {
        let state = try await daemon.api.send(method: "GET", path: "/api/state/\(channel)").json?["state"]
        guard case .object(let entries)? = state else { return [:] }
        return entries.compactMapValues { entry in entry["value"]?["n"]?.intValue.map { Value(n: Int($0)) } }
    }

    private func publishBurst(_ daemon: TestDaemon, _ channel: String, from: Int, count: Int) async throws {
        for n in from..<(from + count) {
            try await daemon.api.publish(channel: channel, data: ["n": .int(Int64(n))])  // event without key
            _ = try await daemon.api.send(method: "POST", path: "/api/state/set",
                                          body: (["channel": .string(channel), "key": .string("k\(n % 7)"), "value": ["n": .int(Int64(n))]] as JSONValue).jsonBytes)
        }
    }

    private func converge(_ runtime: ClientRuntime, apps: [MicroApp], key: StateKey<[String: Value]>, server: [String: Value]) async throws {
        try await eventually(.seconds(20), "every micro-app's state equals the server's") {
            (try? await runtime.get(key)) == server
        }
    }

    @Test("connection killed while the server publishes: recovered from history")
    func killedConnectionRecovers() async throws {
        let daemon = try await TestDaemon.start()
        let channel = "app:scores"
        let token = daemon.tokens.token(user: "viewer")
        var configuration = ClientRuntime.Configuration()
        configuration.backoff = BackoffPolicy(initial: .milliseconds(50), maximum: .milliseconds(200))
        let runtime = ClientRuntime(url: daemon.webSocketURL, configuration: configuration) { token }
        try await runtime.start()
        let key = StateKey<[String: Value]>(channelMap: channel)
        let apps = [await runtime.mount("board"), await runtime.mount("ticker")]
        var streams: [AsyncThrowingStream<[String: Value], any Error>] = []
        for app in apps { streams.append(try await app.observe(key)) }

        try await publishBurst(daemon, channel, from: 0, count: 20)
        let killer = Task {
            _ = try await daemon.api.send(method: "POST", path: "/api/disconnect",
                                          body: (["user": "viewer", "code": 4005] as JSONValue).jsonBytes)
        }
        try await publishBurst(daemon, channel, from: 20, count: 30)
        try await killer.value
        try await publishBurst(daemon, channel, from: 50, count: 10)

        try await converge(runtime, apps: apps, key: key, server: try await serverState(daemon, channel))
        for stream in streams {
            var iterator = stream.makeAsyncIterator()
            #expect(try await iterator.next() == (try await serverState(daemon, channel)), "each micro-app's latest value")
        }
        await runtime.close()
        try await daemon.stop()
    }

    @Test("memory engine: daemon restarted while the backend publishes: new epoch, snapshot, converged")
    func restartedDaemonSnapshot() async throws {
        let box = DaemonBox(try await TestDaemon.start(engine: .memory))
        let channel = "app:scores"
        var configuration = ClientRuntime.Configuration()
        configuration.backoff = BackoffPolicy(initial: .milliseconds(50), maximum: .milliseconds(300))
        let runtime = ClientRuntime(url: box.daemon.webSocketURL, configuration: configuration) {
            box.daemon.tokens.token(user: "viewer")
        }
        try await runtime.start()
        let key = StateKey<[String: Value]>(channelMap: channel)
        let app = await runtime.mount("board")
        let events = await app.events()
        let stream = try await app.observe(key)
        try await publishBurst(box.daemon, channel, from: 0, count: 20)
        try await converge(runtime, apps: [app], key: key, server: try await serverState(box.daemon, channel))

        let restarted = try await box.daemon.restart()
        box.current.withLock { $0 = restarted }
        try await publishBurst(restarted, channel, from: 100, count: 5)

        try await converge(runtime, apps: [app], key: key, server: try await serverState(restarted, channel))
        let after = try await runtime.get(key)
        #expect(after.values.allSatisfy { $0.n >= 100 }, "nothing from before the restart survives in the client")
        let sawReconnect = try await withTimeout(.seconds(5), "reconnect event") {
            for await event in events { if case .connectionChanged(.reconnecting(_, .shutdown)) = event { return true } }
            return false
        }
        #expect(sawReconnect)
        _ = stream
        await runtime.close()
        try await restarted.stop()
    }

    @Test("presence followed live converges after kill -9 and a restart: the user who never came back is gone, one who joined after is there")
    func presenceAfterRestart() async throws {
        let daemon = try await TestDaemon.start(arguments: ["--namespaces-chat-presence", "true"], engine: .memory)
        var configuration = ClientRuntime.Configuration()
        configuration.backoff = BackoffPolicy(initial: .milliseconds(50), maximum: .milliseconds(200))
        let watcher = daemon.runtime(user: "1", configuration: configuration)
        let leaver = daemon.runtime(user: "2", configuration: configuration)
        try await watcher.start()
        try await leaver.start()
        // Each micro-app is held to the end: a dropped one unmounts and its observations end.
        let rosterApp = await watcher.mount("roster")
        let roster = try await rosterApp.observePresence("chat:lobby")
        let leaverApp = await leaver.mount("chat")
        let leaverEvents = try await leaverApp.observe("chat:lobby")
        func expect(_ users: [String], _ what: String) async throws {
            let seen = try await withTimeout(.seconds(20), what) {
                for try await list in roster where list.map(\.user) == users { return true }
                return false
            }
            #expect(seen, "the stream ended before \(what)")
        }
        try await expect(["1", "2"], "both present")

        daemon.kill()
        await leaver.close()  // gone while the daemon was down: no leave push will ever say so
        _ = (leaverApp, leaverEvents)
        let restarted = try await daemon.restart()
        let joiner = restarted.runtime(user: "3", configuration: configuration)
        try await joiner.start()
        let joinerApp = await joiner.mount("chat")
        let joinerEvents = try await joinerApp.observe("chat:lobby")
        try await expect(["1", "3"], "the list read again after the reconnect")
        _ = (rosterApp, joinerApp, joinerEvents)
        await joiner.close()
        await watcher.close()
        try await restarted.stop()
    }
}
