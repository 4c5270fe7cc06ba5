// README.md's Swift block, verbatim (compiled, not run: it needs a daemon on 8080).
import HybridSyncClient

func readmeQuickStart() async throws {
let runtime = ClientRuntime(url: "ws://127.0.0.1:8080/") { try await myBackend.token() }
try await runtime.start()
let chat = await runtime.mount("chat")
let profile = await runtime.mount("profile")        // same connection, same server subscription

// Typed shared state: the current value first, then every change.
struct BanInfo: Codable, Sendable { var banned: Bool; var reason: String }
let bans = StateKey<[String: BanInfo]>(channelMap: "moderation:users")
let hiding = Task { for try await banned in try await profile.observe(bans) { hide(banned.keys) } }

// Events: publications in order (and `.resynced` when some could not be recovered).
for try await event in try await chat.observe("moderation:bans") {
    if case .publication(let ban) = event { print("banned:", ban.data) }   // banned: {"banned":true,"user":"42"}
}
_ = hiding
}
