// Two micro-apps in one client process share one connection and see a ban arrive.
//
//   make demo     (starts hybridsyncd, this program, then bans user 42 with curl)
//
// Or by hand: `make run` in one shell, `swift run hybridsync-demo` in another, then
//   curl -H 'Authorization: Bearer dev-api-key' -d '{"user":"42","reason":"spam"}' http://127.0.0.1:8081/api/ban
import Foundation
import HybridSyncClient
import HybridSyncTesting

struct BanInfo: Codable, Sendable {
    var banned: Bool
    var reason: String
}

/// Prints a line at once (stdout may be a pipe, which would buffer `print`).
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

let url = ProcessInfo.processInfo.environment["HYBRIDSYNC_URL"] ?? "ws://127.0.0.1:8080/"
let secret = ProcessInfo.processInfo.environment["HYBRIDSYNC_AUTH_TOKEN_SECRET"] ?? "dev-token-secret-change-me"
let minter = TokenMinter(secret: secret)  // a real app gets its token from its backend

let runtime = ClientRuntime(url: url) { minter.token(user: "moderator-1") }
do {
    try await withTimeout(.seconds(30), "connecting to \(url)") { try await runtime.start() }
} catch {
    say("demo: cannot connect to \(url): \(error)")
    exit(1)
}

let chat = await runtime.mount("chat")
let profile = await runtime.mount("profile")
let (done, finish) = AsyncStream.makeStream(of: String.self)

// The chat micro-app hides messages of every banned user: it watches the whole ban map.
let chatToken = try await chat.observe(StateKey<[String: BanInfo]>(channelMap: "moderation:users")) { bans in
    say("[chat]    banned users: \(bans.keys.sorted())")
    if bans["42"] != nil { finish.yield("chat") }
}
// The profile micro-app shows user 42's page: it watches one key.
let profileToken = try await profile.observe(StateKey<BanInfo?>(channel: "moderation:users", key: "42", default: nil)) { ban in
    say("[profile] user 42: \(ban.map { "banned (\($0.reason))" } ?? "in good standing")")
    if ban != nil { finish.yield("profile") }
}
say("demo ready: two micro-apps, one connection; waiting for user 42 to be banned")

let outcome = try? await withTimeout(.seconds(120), "the ban") {
    var seen = Set<String>()
    for await app in done {
        seen.insert(app)
        if seen.count == 2 { return true }
    }
    return false
}
chatToken.cancel()
profileToken.cancel()
await runtime.close()
say(outcome == true ? "demo: both micro-apps saw the ban" : "demo: no ban arrived within 2 minutes")
exit(outcome == true ? 0 : 1)
