import Foundation
import HybridSyncDaemonTesting
import HybridSyncProtocol
import Testing

/// The connect and subscribe proxies against a real daemon and a real (Python) app backend.
@Suite("App backend hooks (real daemon, Python backend)", .offTheCooperativePool)
struct BackendHookTests {
    @Test("a backend that sleeps past the timeout: that connect gets 118 (temporary) while other clients are served meanwhile; refused is 119 + 4503; allowed carries the backend's info")
    func connectProxy() async throws {
        let backend = try PythonScript("hook_backend.py", [])
        let port = try #require(try await backend.readLine().flatMap { Int($0) })
        let daemon = try await TestDaemon.start(arguments: [
            "--hooks-connect-url", "http://127.0.0.1:\(port)/hybridsync/connect", "--hooks-timeout-millis", "500",
            "--hooks-secret", "hook-secret", "--namespaces-chat-presence", "true",
        ], engine: .memory)

        let fast = try await RawClient.open(daemon.webSocketURL)
        #expect(try await fast.connect(token: daemon.tokens.token(user: "7")).isSuccess)
        let asked = try #require(try await backend.readLine())
        let request = try JSONValue.parse(Array(asked.utf8))
        #expect(request["hook"] == "connect" && request["user"] == "7" && request["authorization"] == "Bearer hook-secret")
        #expect(request["path"] == "/hybridsync/connect")
        fast.send(#"{"id":2,"op":"subscribe","channel":"chat:lobby"}"#)
        #expect(try await fast.next().isSuccess)
        let members = try await daemon.api.request("GET", "/api/presence/chat:lobby")
        #expect(members["members"] == [["user": "7", "contexts": 1, "info": ["via": "hook"]]], "the backend's info is the presence info")

        // The slow backend holds one connect; meanwhile the service loop serves everyone else.
        let slow = try await RawClient.open(daemon.webSocketURL)
        slow.send(#"{"id":1,"op":"connect","token":"\#(daemon.tokens.token(user: "slow"))"}"#)
        _ = try await backend.readLine()  // the daemon is asking
        try await daemon.api.publish(channel: "chat:lobby", data: "served meanwhile")
        let meanwhile = try await fast.next()
        #expect(meanwhile == .message(.push(.publication(Publication(channel: try ChannelName("chat:lobby"), offset: 1, data: "served meanwhile")))),
                "the fast client is served while the hook is pending")
        let timedOut = try await slow.next()
        #expect(timedOut.errorCode == .backendUnavailable)
        if case .message(.reply(1, .failure(let error))) = timedOut { #expect(error.temporary) }

        let refused = try await RawClient.open(daemon.webSocketURL)
        #expect(try await refused.connect(token: daemon.tokens.token(user: "refused")).errorCode == .refusedByBackend)
        #expect(try await refused.closeCode() == .permissionDenied)
        #expect(try await daemon.stop() == 0)
    }
}
