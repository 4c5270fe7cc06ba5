import HybridSyncProtocol

/// Asks a micro-app's backend for a subscription token for `channel` (a JWT for this user and that
/// channel, with `exp`; docs/PROTOCOL.md "Subscription tokens"). Return nil for a channel that
/// needs none. Called before each subscribe of a channel the micro-app holds, and again before
/// the token expires.
public typealias SubscriptionTokenProvider = @Sendable (_ channel: String) async throws -> String?

/// Which micro-app's provider serves each channel, and when a token is refreshed. Pure: the
/// runtime fetches and sends. A channel shared by several micro-apps uses the provider of the
/// first one that held it with a provider, for as long as the channel is held.
struct SubscriptionTokens {
    private var providers: [ChannelName: SubscriptionTokenProvider] = [:]

    /// `provider` serves `name` unless one already does.
    mutating func adopt(_ name: ChannelName, _ provider: SubscriptionTokenProvider?) {
        if providers[name] == nil { providers[name] = provider }
    }

    func provider(for name: ChannelName) -> SubscriptionTokenProvider? { providers[name] }

    /// The channel is no longer held.
    mutating func forget(_ name: ChannelName) { providers[name] = nil }

    /// Seconds until a token that expires in `ttl` seconds is refreshed: at 90 % of its life, and
    /// at least 5 s before it expires (at once when less is left).
    static func refreshDelay(ttl: Double) -> Double {
        max(0, min(ttl * 0.9, ttl - 5))
    }
}
