public import HybridSyncCrypto
public import HybridSyncProtocol

/// How client tokens are verified: which keys (each bound to one algorithm) and which claims.
public struct TokenPolicy: Sendable {
    /// HS256 secret; nil disables HS256.
    public var hmacSecret: [UInt8]?
    /// RS256 and/or ES256 keys (at most one of each kind).
    public var publicKeys: [PublicKey]
    /// Required `aud` (the claim may be a string or an array containing it); nil: not checked.
    public var audience: String?
    /// Required `iss`; nil: not checked.
    public var issuer: String?
    /// Seconds of clock skew tolerated on `exp` and `nbf`.
    public var leewaySeconds: Double

    /// A token policy; without an HS256 secret and without public keys every token is refused.
    public init(
        hmacSecret: String?, publicKeys: [PublicKey] = [], audience: String? = nil, issuer: String? = nil,
        leewaySeconds: Double = 0
    ) {
        self.hmacSecret = hmacSecret.map { Array($0.utf8) }
        self.publicKeys = publicKeys
        self.audience = audience
        self.issuer = issuer
        self.leewaySeconds = leewaySeconds
    }
}

/// Who a connection belongs to, as proven by its token.
public struct Identity: Sendable, Equatable {
    /// The JWT `sub` claim.
    public var userID: String
    /// The JWT `exp` claim (seconds since 1970), if the token expires.
    public var expiresAt: Double?
    /// The JWT `channels` claim: channel names or `prefix*` patterns this user may subscribe to
    /// in namespaces with the `claim` rule.
    public var channels: [String]
    /// The JWT `info` claim (any JSON but `null`): what presence shows of this user.
    public var info: JSONValue?

    /// Whether the `channels` claim allows `channel`.
    func claims(_ channel: ChannelName) -> Bool {
        channels.contains { pattern in
            pattern.hasSuffix("*") ? channel.rawValue.hasPrefix(pattern.dropLast()) : pattern == channel.rawValue
        }
    }
}

/// Verifies client JWTs and their claims against a ``TokenPolicy``.
struct Authenticator {
    let policy: TokenPolicy
    let clock: any ServerClock
    /// `policy.hmacSecret` as an OpenSSL key set up once (each connect's check only copies it).
    let hmacKey: HMACSHA256Key?

    init(policy: TokenPolicy, clock: any ServerClock) {
        self.policy = policy
        self.clock = clock
        hmacKey = policy.hmacSecret.map { HMACSHA256Key($0) }
    }

    enum Failure: Error, Equatable {
        /// The token can never be valid: a new token is needed.
        case invalid(String)
        /// The token was valid but has expired: refresh it.
        case expired(String)
    }

    /// What a subscription token grants: the subscription until `expiresAt` (wall clock), and the
    /// user's presence info on that channel (its `info` claim), if it has one.
    struct SubscriptionGrant: Equatable {
        let expiresAt: Double
        let info: JSONValue?
    }

    /// Verifies a subscription token: a token as for `connect` (same keys and claims) whose `sub`
    /// is `user`, whose `channel` claim is `channel`, and which has an `exp`.
    func authorizeSubscription(_ token: String, user: String, channel: ChannelName) -> Result<SubscriptionGrant, Failure> {
        verify(token).flatMap { identity, claims in
            guard identity.userID == user else {
                return .failure(.invalid("the subscription token is for user '\(identity.userID)', this connection is '\(user)'"))
            }
            let claimed = claims["channel"]?.stringValue
            guard claimed == channel.rawValue else {
                return .failure(.invalid("the subscription token is for channel '\(claimed ?? "none")', not '\(channel)'"))
            }
            guard let expiresAt = identity.expiresAt else { return .failure(.invalid("a subscription token needs an 'exp' claim")) }
            return .success(SubscriptionGrant(expiresAt: expiresAt, info: identity.info))
        }
    }

    /// A `subscribe`'s or `sub_refresh`'s token as the reply sees it: nil where none was sent and
    /// none is `required`; 116 when one is missing or cannot be valid, 117 when it expired.
    func subscriptionGrant(_ token: String?, user: String, channel: ChannelName, required: Bool) -> Result<SubscriptionGrant?, ReplyError> {
        guard let token else {
            guard required else { return .success(nil) }
            return .failure(ReplyError(.subscriptionTokenInvalid, "namespace '\(channel.namespace)' needs a subscription token for '\(channel)': ask your backend for one and send it as 'token'"))
        }
        switch authorizeSubscription(token, user: user, channel: channel) {
        case .success(let grant): return .success(grant)
        case .failure(.invalid(let why)): return .failure(ReplyError(.subscriptionTokenInvalid, why))
        case .failure(.expired(let why)): return .failure(ReplyError(.subscriptionTokenExpired, "\(why): ask your backend for a fresh subscription token"))
        }
    }

    func authenticate(_ token: String) -> Result<Identity, Failure> {
        verify(token).map(\.identity)
    }

    /// Verifies `token`: its identity, and its claims for what only some tokens carry (a
    /// subscription token's `channel`), so the connection's identity does not keep them.
    private func verify(_ token: String) -> Result<(identity: Identity, claims: JSONValue), Failure> {
        let jwt: JSONWebToken
        do {
            jwt = try JSONWebToken(compact: token)
            try jwt.verify(hmacKey: hmacKey, publicKeys: policy.publicKeys)
        } catch {
            return .failure(.invalid(error.description))
        }
        guard let subject = jwt.claims["sub"]?.stringValue, !subject.isEmpty else {
            return .failure(.invalid("token has no 'sub' (user id) claim"))
        }
        if let audience = policy.audience {
            let matches: Bool
            switch jwt.claims["aud"] {
            case .string(let value)?: matches = value == audience
            case .array(let values)?: matches = values.contains(.string(audience))
            default: matches = false
            }
            guard matches else { return .failure(.invalid("token 'aud' does not include '\(audience)'")) }
        }
        if let issuer = policy.issuer, jwt.claims["iss"]?.stringValue != issuer {
            return .failure(.invalid("token 'iss' is not '\(issuer)'"))
        }
        let now = clock.now()
        var expiresAt: Double?
        if let exp = jwt.claims["exp"] {
            guard let value = exp.doubleValue else { return .failure(.invalid("token 'exp' is not a number")) }
            if now > value + policy.leewaySeconds {
                return .failure(.expired("token expired at \(Int64(value)) (now \(Int64(now)))"))
            }
            expiresAt = value
        }
        if let nbf = jwt.claims["nbf"] {
            guard let value = nbf.doubleValue else { return .failure(.invalid("token 'nbf' is not a number")) }
            if now + policy.leewaySeconds < value { return .failure(.invalid("token is not valid before \(Int64(value))")) }
        }
        var channels: [String] = []
        if let claim = jwt.claims["channels"] {
            guard case .array(let values) = claim, let names = Optional(values.compactMap(\.stringValue)),
                  names.count == values.count
            else { return .failure(.invalid("token 'channels' must be an array of strings")) }
            channels = names
        }
        let info = jwt.claims["info"].flatMap { $0 == .null ? JSONValue?.none : $0 }
        return .success((Identity(userID: subject, expiresAt: expiresAt, channels: channels, info: info), jwt.claims))
    }
}

extension TokenPolicy: CustomStringConvertible, CustomDebugStringConvertible {
    /// Names what is configured, never the secret itself: configurations end up in logs.
    public var description: String {
        "TokenPolicy(hmacSecret: \(hmacSecret == nil ? "none" : "<redacted>"), publicKeys: \(publicKeys.count), "
            + "audience: \(audience ?? "none"), issuer: \(issuer ?? "none"), leewaySeconds: \(leewaySeconds))"
    }

    /// The same redacted text as ``description``.
    public var debugDescription: String { description }
}
