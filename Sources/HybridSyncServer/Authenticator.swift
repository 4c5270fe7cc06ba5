import HybridSyncCrypto
import HybridSyncProtocol

/// Who a connection belongs to, as proven by its token.
public struct Identity: Sendable, Equatable {
    /// The JWT `sub` claim.
    public var userID: String
    /// The JWT `exp` claim (seconds since 1970), if the token expires.
    public var expiresAt: Double?
}

/// Verifies client JWTs (HS256) and their time claims.
struct Authenticator {
    let secret: [UInt8]
    let leeway: Double
    let clock: any WallClock

    enum Failure: Error, Equatable {
        /// The token can never be valid: a new token is needed.
        case invalid(String)
        /// The token was valid but has expired: refresh it.
        case expired(String)
    }

    func authenticate(_ token: String) -> Result<Identity, Failure> {
        let jwt: JSONWebToken
        do {
            jwt = try JSONWebToken(compact: token)
            try jwt.verifyHS256(secret: secret)
        } catch {
            return .failure(.invalid(error.description))
        }
        guard let subject = jwt.claims["sub"]?.stringValue, !subject.isEmpty else {
            return .failure(.invalid("token has no 'sub' (user id) claim"))
        }
        let now = clock.now()
        var expiresAt: Double?
        if let exp = jwt.claims["exp"] {
            guard let value = Self.number(exp) else { return .failure(.invalid("token 'exp' is not a number")) }
            if now > value + leeway { return .failure(.expired("token expired at \(Int64(value)) (now \(Int64(now)))")) }
            expiresAt = value
        }
        if let nbf = jwt.claims["nbf"] {
            guard let value = Self.number(nbf) else { return .failure(.invalid("token 'nbf' is not a number")) }
            if now + leeway < value { return .failure(.invalid("token is not valid before \(Int64(value))")) }
        }
        return .success(Identity(userID: subject, expiresAt: expiresAt))
    }

    private static func number(_ value: JSONValue) -> Double? {
        switch value {
        case .int(let int): Double(int)
        case .double(let double): double
        default: nil
        }
    }
}
