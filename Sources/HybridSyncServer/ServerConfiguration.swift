import HybridSyncBroker
import HybridSyncProtocol

/// What the HybridSync server needs to know, independent of where the values came from.
public struct ServerConfiguration: Sendable {
    /// The backend API key, sent as `Authorization: Bearer <key>`.
    /// In hybridsyncd: `api.key` (docs/CONFIGURATION.md).
    public var apiKey: String
    /// How client tokens are verified.
    /// In hybridsyncd: `auth.*` (docs/CONFIGURATION.md).
    public var auth: TokenPolicy
    /// Namespaces by name; a channel whose namespace is not here is refused.
    /// In hybridsyncd: `namespaces.enabled`, `namespaces.<ns>.*` (docs/CONFIGURATION.md).
    public var namespaces: [String: NamespacePolicy]
    /// Channels one connection may subscribe to at once.
    /// In hybridsyncd: `limits.maxChannelsPerConnection` (docs/CONFIGURATION.md).
    public var maxChannelsPerConnection: Int
    /// Seconds a socket may stay open without a successful `connect`.
    /// In hybridsyncd: `limits.connectTimeoutSeconds` (docs/CONFIGURATION.md).
    public var connectTimeoutSeconds: Double
    /// Seconds between `ping` pushes to each authenticated connection.
    /// In hybridsyncd: `ping.intervalSeconds` (docs/CONFIGURATION.md).
    public var pingIntervalSeconds: Double
    /// Seconds after a `ping` push by which any command must arrive, or the connection is dropped.
    /// In hybridsyncd: `ping.pongTimeoutSeconds` (docs/CONFIGURATION.md).
    public var pongTimeoutSeconds: Double
    /// Sustained commands per second per connection, and the burst allowed above it.
    /// In hybridsyncd: `limits.commandsPerSecond` (docs/CONFIGURATION.md).
    public var commandsPerSecond: Double
    /// In hybridsyncd: `limits.commandBurst` (docs/CONFIGURATION.md).
    public var commandBurst: Double
    /// The largest inbound WebSocket message, advertised to clients in the `connect` result (the
    /// transport enforces it with 1009; give both the same value).
    /// In hybridsyncd: `limits.maxMessageBytes` (docs/CONFIGURATION.md).
    public var maxMessageBytes: Int = 64 * 1024
    /// Backend API requests per second (all callers together) before 429; the burst is the same.
    /// In hybridsyncd: `api.maxRequestsPerSecond` (docs/CONFIGURATION.md).
    public var apiRequestsPerSecond: Double
    /// How long the API remembers idempotency keys.
    /// In hybridsyncd: `api.idempotencyWindowSeconds` (docs/CONFIGURATION.md).
    public var idempotencyWindowSeconds: Double
    /// How many idempotency keys the API remembers at most (the oldest go first).
    /// In hybridsyncd: `api.idempotencyMaxKeys` (docs/CONFIGURATION.md).
    public var idempotencyMaxKeys: Int

    /// The channel (and namespace) that carries ban state: key `<user>` in `moderation:users`.
    public static let moderationUsersChannel = "moderation:users"

    /// A configuration with an HS256 `tokenSecret` and the defaults of docs/CONFIGURATION.md for the rest.
    public init(
        apiKey: String, tokenSecret: String, tokenLeewaySeconds: Double = 0,
        namespaces: [String: NamespacePolicy] = ServerConfiguration.defaultNamespaces,
        maxChannelsPerConnection: Int = 128, connectTimeoutSeconds: Double = 10,
        pingIntervalSeconds: Double = 25, pongTimeoutSeconds: Double = 10,
        commandsPerSecond: Double = 50, commandBurst: Double = 100,
        idempotencyWindowSeconds: Double = 300, idempotencyMaxKeys: Int = 10_000, apiRequestsPerSecond: Double = 5000
    ) {
        self.init(
            apiKey: apiKey, auth: TokenPolicy(hmacSecret: tokenSecret, leewaySeconds: tokenLeewaySeconds),
            namespaces: namespaces, maxChannelsPerConnection: maxChannelsPerConnection,
            connectTimeoutSeconds: connectTimeoutSeconds, pingIntervalSeconds: pingIntervalSeconds,
            pongTimeoutSeconds: pongTimeoutSeconds, commandsPerSecond: commandsPerSecond, commandBurst: commandBurst,
            idempotencyWindowSeconds: idempotencyWindowSeconds, idempotencyMaxKeys: idempotencyMaxKeys,
            apiRequestsPerSecond: apiRequestsPerSecond
        )
    }

    /// A configuration with a whole token policy (HS256 and/or RS256/ES256 keys) and the defaults of docs/CONFIGURATION.md for the rest.
    public init(
        apiKey: String, auth: TokenPolicy, namespaces: [String: NamespacePolicy] = ServerConfiguration.defaultNamespaces,
        maxChannelsPerConnection: Int = 128, connectTimeoutSeconds: Double = 10,
        pingIntervalSeconds: Double = 25, pongTimeoutSeconds: Double = 10,
        commandsPerSecond: Double = 50, commandBurst: Double = 100,
        idempotencyWindowSeconds: Double = 300, idempotencyMaxKeys: Int = 10_000, apiRequestsPerSecond: Double = 5000
    ) {
        self.apiKey = apiKey
        self.apiRequestsPerSecond = apiRequestsPerSecond
        self.auth = auth
        self.namespaces = namespaces
        self.maxChannelsPerConnection = maxChannelsPerConnection
        self.connectTimeoutSeconds = connectTimeoutSeconds
        self.pingIntervalSeconds = pingIntervalSeconds
        self.pongTimeoutSeconds = pongTimeoutSeconds
        self.commandsPerSecond = commandsPerSecond
        self.commandBurst = commandBurst
        self.idempotencyWindowSeconds = idempotencyWindowSeconds
        self.idempotencyMaxKeys = idempotencyMaxKeys
        ensureModerationNamespace()
    }

    /// Bans always have somewhere to live: a `moderation` namespace that retains state (the
    /// default one when it is missing). The initializers and ``SyncServer`` apply it, since
    /// ``namespaces`` may be replaced after initialization.
    public mutating func ensureModerationNamespace() {
        namespaces["moderation"] = moderationPolicy
    }

    /// The `moderation` namespace's policy as bans use it: the configured one, or the default when
    /// it is missing, retaining state either way (so no configuration can leave a ban nowhere to live).
    public var moderationPolicy: NamespacePolicy {
        var policy = namespaces["moderation"] ?? Self.defaultModeration
        policy.retainState = true
        return policy
    }

    private static let defaultModeration = NamespacePolicy(
        subscribe: .authenticated, historySize: 100, historyTTLSeconds: 600, retainState: true
    )

    /// `moderation` (bans, retained), `app` (shared app state, retained), `chat` (events, client
    /// publish), `user` (personal channels `user:user#<sub>`).
    public static let defaultNamespaces: [String: NamespacePolicy] = [
        "moderation": defaultModeration,
        "app": NamespacePolicy(subscribe: .authenticated, historySize: 100, historyTTLSeconds: 300, retainState: true),
        "chat": NamespacePolicy(subscribe: .authenticated, clientPublish: true, historySize: 100, historyTTLSeconds: 300),
        "user": NamespacePolicy(subscribe: .personal, historySize: 50, historyTTLSeconds: 300, retainState: true),
    ]
}

/// Who may do what in one namespace, and what the server keeps for its channels.
public struct NamespacePolicy: Sendable, Equatable {
    /// Who may subscribe.
    public enum Access: String, Sendable, CaseIterable {
        /// Any authenticated connection.
        case authenticated
        /// Only channels matched by the token's `channels` claim (exact names, or `prefix*`).
        case claim
        /// Only the channel `<namespace>:user#<sub>` of the token's own user.
        case personal
    }

    /// Who may subscribe.
    /// In hybridsyncd: `namespaces.<ns>.subscribe` (docs/CONFIGURATION.md).
    public var subscribe: Access
    /// Whether clients may `publish` (only where they may also subscribe).
    /// In hybridsyncd: `namespaces.<ns>.clientPublish` (docs/CONFIGURATION.md).
    public var clientPublish: Bool
    /// Publications kept for recovery (0: none, so every resubscribe gets `recovered: false`).
    /// In hybridsyncd: `namespaces.<ns>.historySize` (docs/CONFIGURATION.md).
    public var historySize: Int
    /// Seconds a publication stays in history.
    /// In hybridsyncd: `namespaces.<ns>.historyTTLSeconds` (docs/CONFIGURATION.md).
    public var historyTTLSeconds: Double
    /// Whether publications with a `key` maintain a retained key/value state sent on subscribe.
    /// In hybridsyncd: `namespaces.<ns>.retainState` (docs/CONFIGURATION.md).
    public var retainState: Bool
    /// Whether subscribers are present (per user, across their contexts and nodes) and may ask
    /// `presence` and `presence_stats`; joins and leaves are pushed to the channel's subscribers.
    /// In hybridsyncd: `namespaces.<ns>.presence` (docs/CONFIGURATION.md).
    public var presence: Bool
    /// Present users per channel at most; a subscribe of one more is refused (error 115).
    /// In hybridsyncd: `namespaces.<ns>.presenceMaxUsers` (docs/CONFIGURATION.md).
    public var presenceMaxUsers: Int
    /// Whether a `subscribe` must carry a subscription token (a JWT for the user and the channel,
    /// with `exp`), refreshed with `sub_refresh`; past its expiry the subscription ends (117).
    /// In hybridsyncd: `namespaces.<ns>.subscriptionToken` (docs/CONFIGURATION.md).
    public var subscriptionToken: Bool
    /// Whether a `subscribe` asks the app backend first (the subscribe proxy, `hooks.subscribeURL`).
    /// In hybridsyncd: `namespaces.<ns>.subscribeProxy` (docs/CONFIGURATION.md).
    public var subscribeProxy: Bool

    /// A namespace's rules; the defaults are docs/CONFIGURATION.md's.
    public init(
        subscribe: Access = .authenticated, clientPublish: Bool = false, historySize: Int = 100,
        historyTTLSeconds: Double = 300, retainState: Bool = false, presence: Bool = false, presenceMaxUsers: Int = 1000,
        subscriptionToken: Bool = false, subscribeProxy: Bool = false
    ) {
        self.subscribe = subscribe
        self.clientPublish = clientPublish
        self.historySize = historySize
        self.historyTTLSeconds = historyTTLSeconds
        self.retainState = retainState
        self.presence = presence
        self.presenceMaxUsers = presenceMaxUsers
        self.subscriptionToken = subscriptionToken
        self.subscribeProxy = subscribeProxy
    }
}

extension NamespacePolicy {
    /// What the broker keeps for this namespace's channels.
    var stream: StreamPolicy {
        StreamPolicy(historySize: historySize, historyTTLSeconds: historyTTLSeconds, retainState: retainState)
    }
}

extension ServerConfiguration: CustomStringConvertible, CustomDebugStringConvertible {
    /// Everything but the secrets (the API key and the token secret are redacted): configurations end up in logs.
    public var description: String {
        "ServerConfiguration(apiKey: <redacted>, auth: \(auth), namespaces: \(namespaces.keys.sorted()), "
            + "connectTimeoutSeconds: \(connectTimeoutSeconds), pingIntervalSeconds: \(pingIntervalSeconds))"
    }

    /// The same redacted text as ``description``.
    public var debugDescription: String { description }
}

extension ServerConfiguration {
    /// The error for a channel whose namespace is not configured, naming the ones that are.
    func unknownNamespace(_ name: ChannelName) -> ReplyError {
        let known = namespaces.keys.sorted().joined(separator: ", ")
        return ReplyError(.invalidChannel, "namespace '\(name.namespace)' is not configured on this server (configured: \(known))")
    }

    /// The names of the settings that differ from `old`, as a reload logs them (`auth` whenever
    /// public keys are configured, since keys are not compared).
    func settingsChanged(from old: ServerConfiguration) -> [String] {
        var changed: [String] = []
        if namespaces != old.namespaces { changed.append("namespaces") }
        if apiKey != old.apiKey { changed.append("api.key") }
        if auth.hmacSecret != old.auth.hmacSecret || auth.audience != old.auth.audience || auth.issuer != old.auth.issuer
            || auth.leewaySeconds != old.auth.leewaySeconds || !auth.publicKeys.isEmpty || !old.auth.publicKeys.isEmpty {
            changed.append("auth")
        }
        if maxChannelsPerConnection != old.maxChannelsPerConnection { changed.append("limits.maxChannelsPerConnection") }
        if connectTimeoutSeconds != old.connectTimeoutSeconds { changed.append("limits.connectTimeoutSeconds") }
        if pingIntervalSeconds != old.pingIntervalSeconds || pongTimeoutSeconds != old.pongTimeoutSeconds { changed.append("ping") }
        if commandsPerSecond != old.commandsPerSecond || commandBurst != old.commandBurst { changed.append("limits.commands") }
        if apiRequestsPerSecond != old.apiRequestsPerSecond { changed.append("api.maxRequestsPerSecond") }
        if idempotencyWindowSeconds != old.idempotencyWindowSeconds { changed.append("api.idempotencyWindowSeconds") }
        return changed
    }
}
