import Crypto

/// HMAC-SHA256, constant-time comparison and random bytes (swift-crypto: CryptoKit on Apple
/// platforms, its own BoringSSL elsewhere; no system library).
package enum CryptoPrimitives {
    /// HMAC-SHA256 of `message` under `key`.
    package static func hmacSHA256(key: some Collection<UInt8>, message: some Collection<UInt8>) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: Array(message), using: SymmetricKey(data: Array(key))))
    }

    /// Compares two byte strings in time that depends only on their lengths, never their contents.
    package static func constantTimeEquals(_ lhs: some Collection<UInt8>, _ rhs: some Collection<UInt8>) -> Bool {
        guard lhs.count == rhs.count else { return false }
        var difference: UInt8 = 0
        for (left, right) in zip(lhs, rhs) { difference |= left ^ right }
        return difference == 0
    }

    /// `count` cryptographically random bytes (the standard library's generator is the system's
    /// cryptographically secure one on every platform).
    package static func randomBytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    }
}

/// A secret compared in constant time, whatever the candidate's length.
///
/// Both sides are first reduced to an HMAC under a random per-process key, so the comparison
/// neither leaks the secret's length nor its contents.
package struct SecretMatcher: Sendable {
    private let key: [UInt8]
    private let expectedDigest: [UInt8]

    /// A matcher for `secret` (kept only as a digest under a random key).
    package init(secret: String) {
        key = CryptoPrimitives.randomBytes(32)
        expectedDigest = CryptoPrimitives.hmacSHA256(key: key, message: Array(secret.utf8))
    }

    /// Whether `candidate` equals the secret.
    package func matches(_ candidate: String) -> Bool {
        CryptoPrimitives.constantTimeEquals(
            CryptoPrimitives.hmacSHA256(key: key, message: Array(candidate.utf8)), expectedDigest
        )
    }
}
