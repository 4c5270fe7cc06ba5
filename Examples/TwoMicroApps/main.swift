// Two micro-apps in one client process share one connection, see a ban arrive, stay consistent
// across a daemon restart, and see the unban.
//
//   make demo     (scripts/demo.sh: hybridsyncd, this program, a ban with curl, a restart, the unban)
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

var configuration = ClientRuntime.Configuration()
configuration.backoff = BackoffPolicy(initial: .milliseconds(200), maximum: .seconds(2))
let runtime = ClientRuntime(url: url, configuration: configuration) { minter.token(user: "moderator-1") }
do {
    try await runtime.start()  // bounded by Configuration.startTimeout (30 s)
} catch {
    say("demo: cannot connect to \(url): \(error)")
    exit(1)
}

let chat = await runtime.mount("chat")
let profile = await runtime.mount("profile")
/// What each micro-app last saw about user 42.
let (seen, report) = AsyncStream.makeStream(of: (app: String, banned: Bool).self)

// The chat micro-app hides messages of every banned user: it watches the whole ban map.
let chatToken = try await chat.observe(StateKey<[String: BanInfo]>(channelMap: "moderation:users")) { bans in
    say("[chat]    banned users: \(bans.keys.sorted())")
    report.yield(("chat", bans["42"] != nil))
}
// The profile micro-app shows user 42's page: it watches one key.
let profileToken = try await profile.observe(StateKey<BanInfo?>(channel: "moderation:users", key: "42", default: nil)) { ban in
    say("[profile] user 42: \(ban.map { "banned (\($0.reason))" } ?? "in good standing")")
    report.yield(("profile", ban != nil))
}
// Both micro-apps learn about the connection from the same runtime.
let events = await profile.events()
let watcher = Task {
    var wasDown = false
    for await event in events {
        guard case .connectionChanged(let state) = event else { continue }
        if case .connected = state {
            if wasDown { say("[runtime] reconnected: both micro-apps recover from their positions") }
        } else if case .reconnecting = state {
            if !wasDown { say("[runtime] connection lost, reconnecting") }
            wasDown = true
        }
    }
}
say("demo ready: two micro-apps, one connection; waiting for user 42 to be banned")

/// Waits until both micro-apps' latest view of user 42 is `banned`.
func bothSee(banned: Bool, within timeout: Duration) async -> Bool {
    (try? await withTimeout(timeout, "both micro-apps") {
        var latest: [String: Bool] = [:]
        for await (app, state) in seen {
            latest[app] = state
            if latest["chat"] == banned, latest["profile"] == banned { return true }
        }
        return false
    }) == true
}

guard await bothSee(banned: true, within: .seconds(120)) else {
    say("demo: no ban arrived within 2 minutes")
    exit(1)
}
say("demo: both micro-apps saw the ban")
guard await bothSee(banned: false, within: .seconds(120)) else {
    say("demo: no unban arrived within 2 minutes")
    exit(1)
}
say("demo: both micro-apps saw the unban")
chatToken.cancel()
profileToken.cancel()
watcher.cancel()
await runtime.close()
exit(0)
