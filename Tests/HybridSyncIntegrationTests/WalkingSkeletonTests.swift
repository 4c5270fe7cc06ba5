import Foundation
import HybridSyncClient
import HybridSyncProtocol
import HybridSyncDaemonTesting
import Testing

/// End to end on the real `hybridsyncd` binary, 127.0.0.1, ephemeral ports.
@Suite("Walking skeleton (real daemon)")
struct WalkingSkeletonTests {
    @Test("two micro-apps in one runtime both see a ban, over exactly one WebSocket")
    func banReachesTwoMicroAppsOverOneSocket() async throws {
        let daemon = try await TestDaemon.start()
        let token = daemon.tokens.token(user: "moderator-1")
        var configuration = ClientRuntime.Configuration()
        configuration.clientName = "skeleton-test"
        let runtime = ClientRuntime(url: daemon.webSocketURL, configuration: configuration) { token }
        try await runtime.start()

        let chat = await runtime.mount("chat")
        let profile = await runtime.mount("profile")
        let chatBans = try await chat.observe("moderation:bans")
        let profileBans = try await profile.observe("moderation:bans")

        let published = try await daemon.api.publish(channel: "moderation:bans", data: ["user": "42", "banned": true])
        #expect(published["subscribers"]?.intValue == 1, "two micro-apps, one server subscription")

        let seenByChat = try await chatBans.first(within: .seconds(10))
        let seenByProfile = try await profileBans.first(within: .seconds(10))
        #expect(seenByChat?.publication?.data == ["user": "42", "banned": true])
        #expect(seenByProfile?.publication?.data == ["user": "42", "banned": true])
        #expect(seenByChat?.publication?.offset == 1)

        let health = try await daemon.api.health()
        #expect(health["connections"]?.intValue == 1, "one WebSocket for the whole client context")

        await runtime.close()
        #expect(try await daemon.stop() == 0)
    }

    @Test("a micro-app mounted after unmount/remount cycles still receives; the last unmount releases the subscription")
    func lateMountAndRelease() async throws {
        let daemon = try await TestDaemon.start()
        let token = daemon.tokens.token(user: "u1")
        let runtime = ClientRuntime(url: daemon.webSocketURL) { token }
        try await runtime.start()
        let channel = "moderation:bans"

        let chat = await runtime.mount("chat")
        let chatBans = try await chat.observe(channel)
        for _ in 1...3 {
            let profile = await runtime.mount("profile")
            let stream = try await profile.observe(channel)
            await profile.unmount()
            _ = stream
        }
        let late = await runtime.mount("late")
        let lateBans = try await late.observe(channel)
        try await daemon.api.publish(channel: channel, data: ["user": "7", "banned": true])
        #expect(try await lateBans.first(within: .seconds(10))?.publication?.data == ["user": "7", "banned": true])
        #expect(try await chatBans.first(within: .seconds(10))?.publication?.data == ["user": "7", "banned": true])
        #expect(try await daemon.api.channelInfo(channel)["subscribers"]?.intValue == 1)

        await chat.unmount()
        await late.unmount()
        try await eventually(.seconds(10), "server subscription released") {
            try await daemon.api.channelInfo(channel)["subscribers"]?.intValue == 0
        }
        let counts = await runtime.counts
        #expect(counts.apps == 0 && counts.observers == 0 && counts.channels == 0)
        try await daemon.stop()
    }

    @Test("SIGTERM closes client sockets with 4000 (reconnect) and the daemon exits 0 within 5 s")
    func gracefulShutdown() async throws {
        let daemon = try await TestDaemon.start()
        let raw = try await RawClient.open(daemon.webSocketURL)
        #expect(try await raw.connect(token: daemon.tokens.token(user: "1")).isSuccess)
        let token = daemon.tokens.token(user: "2")
        let runtime = ClientRuntime(url: daemon.webSocketURL) { token }
        try await runtime.start()
        let watcher = await runtime.mount("watcher")
        let events = await watcher.events()

        let start = ContinuousClock.now
        if daemon.processIdentifier > 0 { kill(daemon.processIdentifier, SIGTERM) }
        #expect(try await raw.closeCode() == .shutdown)
        let status = try await daemon.waitForExit(timeout: .seconds(5))
        #expect(status == 0)
        #expect(ContinuousClock.now - start < .seconds(5))

        let closeCode = try await withTimeout(.seconds(10), "runtime sees the close") {
            for await event in events {
                if case .connectionChanged(.reconnecting(_, let code)) = event { return code }
            }
            return nil
        }
        #expect(closeCode == .shutdown, "4000 means: reconnect")
        await runtime.close()
        _ = watcher
    }

    @Test("an independent Python client written from docs/PROTOCOL.md connects, subscribes and receives")
    func independentPythonClient() async throws {
        let daemon = try await TestDaemon.start()
        let script = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Interop/independent_client.py")
        let run = try await runProcess("python3", [script.path, daemon.webSocketURL, daemon.apiURL, daemon.api.apiKey,
                                                   daemon.tokens.token(user: "python")], timeout: .seconds(60))
        #expect(run.status == 0, "\(run.output)\(run.errors)")
        try await daemon.stop()
    }
}
