// docs/TESTING.md's in-memory Swift block, verbatim, with only the in-memory product imported (what
// an app's tests on iOS or macOS have). It runs.
import HybridSyncClient
import HybridSyncTesting
import Testing

@Test func chatHidesBannedUsers() async throws {
    let server: any TestServer = InMemoryServer()        // or: try await TestDaemon.start()
    let runtime = server.runtime(user: "1")
    try await runtime.start()
    let chat = await runtime.mount("chat")               // keep the micro-app while observing
    let bans = try await chat.observe("moderation:bans")
    try await server.api.publish(channel: "moderation:bans", data: ["user": "42"])
    #expect(try await bans.first(within: .seconds(5))?.publication?.data == ["user": "42"])
    await runtime.close()
}
