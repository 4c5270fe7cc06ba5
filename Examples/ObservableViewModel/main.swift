// A view model on `ObservedState`, driven by an in-memory server: it prints its status each time
// Observation says it changed, while a backend call bans the user.
//
//   swift run hybridsync-viewmodel-example
import Foundation
import HybridSyncClient
import HybridSyncTesting
import Observation

/// Calls `body` now and again after every change of what it read (Observation's tracking).
@MainActor func track(_ body: @escaping @MainActor () -> Void) {
    withObservationTracking { body() } onChange: { Task { @MainActor in track(body) } }
}

let server = InMemoryServer()
let runtime = server.runtime(user: "moderator")
try await runtime.start()
let profile = await runtime.mount("profile")
let model = ProfileViewModel(app: profile, user: "42")
var printed: [String] = []
track {
    printed.append(model.status)
    print("[profile] user 42:", model.status)
}

_ = try await withTimeout(.seconds(10), "the first value") { await MainActor.run { !model.ban.isLoading } }
try await server.api.ban(user: "42", reason: "spam")
_ = try await withTimeout(.seconds(10), "the ban") { await MainActor.run { model.ban.value != nil } }
await runtime.close()
_ = try await withTimeout(.seconds(10), "the closed state") { await MainActor.run { model.ban.error != nil } }
print(printed.contains("banned (spam)") ? "view model saw the ban" : "view model missed the ban")
exit(printed.contains("banned (spam)") ? 0 : 1)
