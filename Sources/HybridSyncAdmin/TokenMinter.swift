public import Foundation
import HybridSyncCrypto
public import HybridSyncProtocol

/// Mints HS256 client tokens the way a backend would, for tests and development.
public struct TokenMinter: Sendable {
    /// The HS256 secret tokens are signed with (`auth.tokenSecret` of the daemon).
    public let secret: String

    /// A minter signing with `secret`.
    public init(secret: String) { self.secret = secret }

    /// A token for `user`; `expiresIn` seconds from `now` (nil: no `exp`), plus any extra claims.
    public func token(
        user: String, expiresIn: Double? = 3600, now: Double = Date().timeIntervalSince1970,
        extraClaims: [String: JSONValue] = [:]
    ) -> String {
        var claims = extraClaims
        claims["sub"] = .string(user)
        claims["iat"] = .int(Int64(now))
        if let expiresIn { claims["exp"] = .int(Int64(now + expiresIn)) }
        return JSONWebToken.signHS256(claims: .object(claims), secret: Array(secret.utf8))
    }
}
