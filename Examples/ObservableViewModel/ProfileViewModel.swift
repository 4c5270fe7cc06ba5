import HybridSyncClient
import Observation

struct BanInfo: Codable, Sendable, Equatable {
    var banned: Bool
    var reason: String
}

/// A view model a SwiftUI (or any Observation-based) view binds to: it reads `status`
/// synchronously and re-renders when the ban of its user changes.
@MainActor @Observable
final class ProfileViewModel {
    let ban: ObservedState<BanInfo?>

    init(app: MicroApp, user: String) {
        ban = ObservedState(StateKey(channel: "moderation:users", key: user, default: nil), in: app)
    }

    var status: String {
        if ban.isLoading { return "loading…" }
        if let error = ban.error { return "unavailable: \(error)" }
        let standing = ban.value.map { "banned (\($0.reason))" } ?? "in good standing"
        return ban.isStale ? "\(standing), reconnecting…" : standing
    }
}
