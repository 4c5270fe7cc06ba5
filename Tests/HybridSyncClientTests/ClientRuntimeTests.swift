import HybridSyncHTTP
import HybridSyncClient
import HybridSyncProtocol
import HybridSyncServer
import HybridSyncTesting
import Testing

/// The runtime against a real SyncServer over the in-memory transport.
@Suite("Client runtime")
struct ClientRuntimeTests {
    let clock = ManualServerClock()
    let server: InMemoryServer
    let tokens = TokenMinter(secret: "s")

    init() {
        server = InMemoryServer(configuration: ServerConfiguration(apiKey: "k", tokenSecret: "s"), clock: clock)
    }

    private func startedRuntime(user: String = "1") async throws -> ClientRuntime {
        let minted = tokens.token(user: user, now: clock.now())
        var configuration = ClientRuntime.Configuration()
        configuration.subscriptionLinger = .zero  // linger is tested with a manual clock elsewhere
        let runtime = ClientRuntime(url: "memory://", configuration: configuration, transport: server.clientTransport) { minted }
        try await runtime.start()
        return runtime
    }

    private func publish(_ channel: String, _ data: JSONValue) -> Int64? {
        let body = JSONValue.object(["channel": .string(channel), "data": data]).jsonBytes
        let response = server.handle(HTTPRequest(method: "POST", path: "/api/publish", headers: [("authorization", "Bearer k")], body: body))
        return (try? JSONValue.parse(response.body))?["subscribers"]?.intValue
    }

    private func subscribers(_ channel: String) -> Int64? {
        let response = server.handle(HTTPRequest(method: "GET", path: "/api/channels/\(channel)", headers: [("authorization", "Bearer k")]))
        return (try? JSONValue.parse(response.body))?["subscribers"]?.intValue
    }

    @Test("two micro-apps on one channel share one server subscription and both receive")
    func sharedSubscription() async throws {
        let runtime = try await startedRuntime()
        let chat = await runtime.mount("chat")
        let profile = await runtime.mount("profile")
        let chatBans = try await chat.observe("moderation:bans")
        let profileBans = try await profile.observe("moderation:bans")

        #expect(await runtime.sentCommandCounts["subscribe"] == 1)
        #expect(server.connectionCount == 1)
        #expect(publish("moderation:bans", ["user": "42", "banned": true]) == 1, "one server-side subscriber")

        let seenByChat = try await chatBans.first(within: .seconds(5))
        let seenByProfile = try await profileBans.first(within: .seconds(5))
        #expect(seenByChat?.publication?.data == ["user": "42", "banned": true])
        #expect(seenByProfile?.publication?.data == seenByChat?.publication?.data)
    }

    @Test("the last unmount releases the server subscription; a later mount subscribes again")
    func refCounting() async throws {
        let runtime = try await startedRuntime()
        for cycle in 1...3 {
            let a = await runtime.mount("a")
            let b = await runtime.mount("b")
            // Keep the streams: dropping one ends that observation (tested below).
            let streamA = try await a.observe("moderation:bans")
            let streamB = try await b.observe("moderation:bans")
            #expect(subscribers("moderation:bans") == 1)
            await a.unmount()
            #expect(subscribers("moderation:bans") == 1, "b still observes")
            await b.unmount()
            #expect(subscribers("moderation:bans") == 0, "cycle \(cycle): released")
            #expect(await runtime.sentCommandCounts["subscribe"] == cycle)
            #expect(await runtime.sentCommandCounts["unsubscribe"] == cycle)
            _ = (streamA, streamB)
        }
        let late = await runtime.mount("late")
        let stream = try await late.observe("moderation:bans")
        _ = publish("moderation:bans", ["user": "9"])
        #expect(try await stream.first(within: .seconds(5))?.publication?.data == ["user": "9"])
        let counts = await runtime.counts
        #expect(counts.apps == 1 && counts.observers == 1 && counts.channels == 1 && counts.tasks == 0)
        await late.unmount()
        let after = await runtime.counts
        #expect(after.apps == 0 && after.observers == 0 && after.channels == 0 && after.tasks == 0)
    }

    @Test("dropping the last reference to a stream releases that observation")
    func droppedStreamReleases() async throws {
        let runtime = try await startedRuntime()
        let app = await runtime.mount("a")
        _ = try await app.observe("app:b")  // dropped at once
        try await eventually(.seconds(5), "observation released") { await runtime.counts.observers == 0 }
        try await eventually(.seconds(5), "server subscription released") { subscribers("app:b") == 0 }
        _ = app
    }

    @Test("observing an invalid channel fails with a clear error")
    func invalidChannel() async throws {
        let runtime = try await startedRuntime()
        let app = await runtime.mount("a")
        await #expect(throws: ClientRuntimeError.self) { _ = try await app.observe("no-namespace") }
        #expect(await runtime.sentCommandCounts["subscribe"] == nil, "nothing sent for a name that cannot be valid")
    }

    @Test("an unmounted micro-app cannot observe")
    func unmountedApp() async throws {
        let runtime = try await startedRuntime()
        let app = await runtime.mount("a")
        await app.unmount()
        await #expect(throws: ClientRuntimeError.unmounted) { _ = try await app.observe("app:b") }
    }

    @Test("a refused token fails start() with the server's reason")
    func refusedToken() async throws {
        let runtime = ClientRuntime(url: "memory://", transport: server.clientTransport) { "garbage" }
        do {
            try await runtime.start()
            Issue.record("start succeeded with a garbage token")
        } catch let error as ClientRuntimeError {
            #expect(error.serverError?.code == .unauthorized)
        }
    }
}

