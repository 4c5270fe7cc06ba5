// The in-memory example of docs/TESTING.md, verbatim: if it stops compiling or passing, the doc is wrong.
import HybridSyncClient
import HybridSyncProtocol
import HybridSyncServer
import HybridSyncTesting
import Testing

@Test func chatHidesBannedUsers() async throws {
    let clock = ManualWallClock()
    let server = InMemoryServer(configuration: ServerConfiguration(apiKey: "k", tokenSecret: "s"), clock: clock)
    let token = TokenMinter(secret: "s").token(user: "1", now: clock.now())
    let runtime = ClientRuntime(url: "memory://", transport: server.clientTransport) { token }
    try await runtime.start()
    let chat = await runtime.mount("chat")               // keep the micro-app while observing
    let bans = try await chat.observe("moderation:bans")
    _ = server.handle(HTTPRequest(method: "POST", path: "/api/publish", authorization: "Bearer k",
                                  body: Array(#"{"channel":"moderation:bans","data":{"user":"42"}}"#.utf8)))
    #expect(try await bans.first(within: .seconds(5))?.publication?.data == ["user": "42"])
    await chat.unmount()
}
