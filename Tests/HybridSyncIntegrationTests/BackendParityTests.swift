import HybridSyncClient
import HybridSyncProtocol
import HybridSyncDaemonTesting
import Synchronization
import Testing

/// One body per behaviour, run on both servers of the testing library: what passes in memory must
/// pass against the daemon, and the other way round (time passes on the in-memory server's
/// injected clock, and for real on the daemon).
@Suite("One test body, two servers: the in-memory server and the daemon (SQLite) answer alike")
struct BackendParityTests {
    static let backends: [TestBackend] = [.inMemory, .live(engine: .sqlite())]

    @Test("setState returns the key's version; the state read shows the last value", arguments: backends)
    func setStateVersion(backend: TestBackend) async throws {
        try await backend.withServer { server async throws in
            #expect(try await server.api.setState(channel: "app:flags", key: "dark", value: true)["version"] == 1)
            #expect(try await server.api.setState(channel: "app:flags", key: "dark", value: false)["version"] == 2)
            #expect(try await server.api.state(channel: "app:flags")["state"]?["dark"]?["value"] == false)
        }
    }

    @Test("disconnect closes with 4504 unless told otherwise, and the runtime stays closed", arguments: backends)
    func disconnectDefault(backend: TestBackend) async throws {
        try await backend.withServer { server async throws in
            let runtime = server.runtime(user: "7")
            try await runtime.start()
            #expect(try await server.api.disconnect(user: "7")["sessionsClosed"] == 1)
            try await eventually(.seconds(10), "closed with 4504") { await runtime.connectionState.closeCode == .forceDisconnect }
            await runtime.close()
        }
    }

    @Test("a personal channel (user#42): state and history in both path forms; a user with '#' unbanned through an escaped path", arguments: backends)
    func personalChannel(backend: TestBackend) async throws {
        try await backend.withServer { server async throws in
            try await server.api.setState(channel: "user:user#42", key: "theme", value: "dark")
            try await server.api.setState(channel: "user:user#42", key: "theme", value: "light")
            for path in ["/api/state/user:user%2342", "/api/state/user%3Auser%2342"] {
                let state = try await server.api.request("GET", path)
                #expect(state["channel"] == "user:user#42", "\(path)")
                #expect(state["state"]?["theme"]?["value"] == "light", "\(path)")
            }
            #expect(try await server.api.state(channel: "user:user#42")["offset"] == 2)
            for path in ["/api/history/user:user%2342", "/api/history/user%3Auser%2342"] {
                #expect(try await server.api.request("GET", path)["publications"]?.arrayValue?.count == 2, "\(path)")
            }
            for path in ["/api/ban/a%23b", "/api/ban/%61%23%62"] {
                try await server.api.ban(user: "a#b", reason: "test")
                #expect(try await server.api.request("DELETE", path)["lifted"] == true, "\(path)")
            }
            #expect(try await server.api.bans()["bans"] == [])
            let malformed = await #expect(throws: BackendAPIClient.Failure.self) { try await server.api.request("GET", "/api/state/app:%zz") }
            #expect(malformed?.status == 400)
        }
    }

    @Test("ban: a banned push and 4501 for the user's runtime, listed until unbanned; after the unban the runtime starts again", arguments: backends)
    func banAndUnban(backend: TestBackend) async throws {
        try await backend.withServer { server async throws in
            let runtime = server.runtime(user: "42")
            try await runtime.start()
            #expect(try await server.api.ban(user: "42", reason: "spam")["sessionsClosed"] == 1)
            try await eventually(.seconds(10), "closed with 4501") { await runtime.connectionState.closeCode == .banned }
            #expect(try await server.api.bans()["bans"] == [["user": "42", "reason": "spam", "until": nil]])
            #expect(try await server.api.unban(user: "42")["lifted"] == true)
            #expect(try await server.api.bans()["bans"] == [])
            try await runtime.start()
            await runtime.close()
        }
    }

    @Test("an oversize client message: the runtime refuses it before sending (connection kept); a raw one is closed with 1009", arguments: backends)
    func oversizePublish(backend: TestBackend) async throws {
        try await backend.withServer { server async throws in
            let runtime = server.runtime(user: "7")
            try await runtime.start()
            let big = JSONValue.string(String(repeating: "x", count: 70_000))
            let refused = await #expect(throws: ClientRuntimeError.self) { try await runtime.publish("chat:room", data: big) }
            #expect(refused?.code == .messageTooBig)
            #expect(await runtime.connectionState.isConnected)
            await runtime.close()

            let connection = try await server.connect()
            connection.send(Array(#"{"id":1,"op":"publish","channel":"chat:room","data":\#(big.jsonString)}"#.utf8))
            let closed = try await withTimeout(.seconds(10), "the close") { () async -> CloseCode? in
                for await event in connection.events {
                    if case .closed(let code, _) = event { return code }
                }
                return nil
            }
            #expect(closed == .messageTooBig)
        }
    }

    @Test("a token expiring: the server closes with 4002 when the server's time passes its exp; the runtime asks a fresh token and reconnects", arguments: backends)
    func tokenExpiring(backend: TestBackend) async throws {
        try await backend.withServer { server async throws in
            let asked = Mutex(0)
            let runtime = ClientRuntime(url: server.webSocketURL, transport: server.clientTransport) {
                let first = asked.withLock { count in count += 1; return count == 1 }
                return server.tokens.token(user: "7", expiresIn: first ? 2 : 3600, now: server.now())
            }
            try await runtime.start()
            try await server.passTime(3)
            try await eventually(.seconds(15), "a fresh token asked") { asked.withLock { $0 } >= 2 }
            try await eventually(.seconds(15), "connected again") { await runtime.connectionState.isConnected }
            await runtime.close()
        }
    }

    @Test("a timed ban ends when the server's time passes its until: it leaves the list and the user is admitted", arguments: backends)
    func timedBanEnding(backend: TestBackend) async throws {
        try await backend.withServer { server async throws in
            let runtime = server.runtime(user: "42")
            try await runtime.start()
            try await server.api.ban(user: "42", reason: "cool down", until: server.now() + 2)
            try await eventually(.seconds(10), "closed with 4501") { await runtime.connectionState.closeCode == .banned }
            #expect(try await server.api.bans()["bans"]?.arrayValue?.count == 1)
            try await server.passTime(3)
            try await eventually(.seconds(10), "the ban ended") { try await server.api.bans()["bans"] == [] }
            try await runtime.start()
            await runtime.close()
        }
    }
}

/// The client lifetime scenarios that were written twice (in memory and against the daemon), now
/// one body each on both servers.
extension BackendParityTests {
    private static func fastBackoff() -> ClientRuntime.Configuration {
        var configuration = ClientRuntime.Configuration()
        configuration.backoff = BackoffPolicy(initial: .milliseconds(50), maximum: .milliseconds(200))
        return configuration
    }

    @Test("a token the server always finds expired: three connects with backoff, then start() fails with unauthorized and no socket is left", arguments: backends)
    func alwaysExpiredToken(backend: TestBackend) async throws {
        try await backend.withServer { server async throws in
            let asked = Mutex(0)
            let runtime = ClientRuntime(url: server.webSocketURL, configuration: Self.fastBackoff(), transport: server.clientTransport) {
                asked.withLock { $0 += 1 }
                return server.tokens.token(user: "7", expiresIn: -3600, now: server.now())
            }
            let error = await #expect(throws: ClientRuntimeError.self) {
                try await withTimeout(.seconds(30), "start() with expired tokens") { try await runtime.start() }
            }
            #expect(error?.code == .unauthorized)
            #expect(error?.serverError?.code == .tokenExpired)
            #expect(await runtime.sentCommandCounts["connect"] == ConnectionStateMachine.maxExpiredTokenRefusals)
            #expect(asked.withLock { $0 } == ConnectionStateMachine.maxExpiredTokenRefusals, "a fresh token each time")
            try await eventually(.seconds(10), "no socket left") { try await server.api.health()["connections"] == 0 }
        }
    }

    @Test("banned while running: live observers end with banned, a late micro-app and reads get an error instead of a default; after the unban start() works and the map is current", arguments: backends)
    func banClosesTheRuntime(backend: TestBackend) async throws {
        try await backend.withServer { server async throws in
            let runtime = server.runtime(user: "42", configuration: Self.fastBackoff())
            try await runtime.start()
            let key = StateKey<[String: JSONValue]>(channelMap: "moderation:users")
            let early = await runtime.mount("early")
            let live = try await early.observe(key)
            try await server.api.ban(user: "42", reason: "spam")
            try await eventually(.seconds(10), "closed by the ban") { await runtime.connectionState.closeCode == .banned }
            let ended = await #expect(throws: ClientRuntimeError.self) { for try await _ in live {} }
            #expect(ended?.code == .banned, "the live observer ends with the ban, not silently")
            let late = await runtime.mount("late")
            let refused = await #expect(throws: ClientRuntimeError.self) {
                _ = try await late.observe(StateKey<JSONValue?>(channel: "moderation:users", key: "42", default: nil))
            }
            #expect(refused?.code == .banned, "not 'in good standing'")
            #expect(refused?.ban?.reason == "spam")
            let read = await #expect(throws: ClientRuntimeError.self) { _ = try await runtime.get(key) }
            #expect(read?.code == .banned, "no default shown as 'nobody is banned'")
            await #expect(throws: ClientRuntimeError.self) { try await runtime.start() }

            try await server.api.unban(user: "42")
            try await runtime.start()
            let again = try await late.observe(key).first(within: .seconds(10))
            #expect(again == [:], "after the unban the map is current again, and empty")
            _ = early
            await runtime.close()
        }
    }
}

extension ConnectionState {
    /// The close code, when closed.
    fileprivate var closeCode: CloseCode? {
        if case .closed(let code, _) = self { code } else { nil }
    }

    fileprivate var isConnected: Bool {
        if case .connected = self { true } else { false }
    }
}
