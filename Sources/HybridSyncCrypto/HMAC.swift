import COpenSSLCrypto

/// HMAC-SHA256 and friends from OpenSSL's libcrypto.
public enum CryptoPrimitives {
    /// HMAC-SHA256 of `message` under `key`.
    public static func hmacSHA256(key: some Collection<UInt8>, message: some Collection<UInt8>) -> [UInt8] {
        let key = Array(key)
        let message = Array(message)
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        key.withUnsafeBufferPointer { keyBuffer in
            message.withUnsafeBufferPointer { messageBuffer in
                _ = HMAC(
                    EVP_sha256(), keyBuffer.baseAddress, Int32(keyBuffer.count),
                    messageBuffer.baseAddress, messageBuffer.count, &out, &length
                )
            }
        }
        return Array(out.prefix(Int(length)))
    }

    /// Compares two byte strings in time that depends only on their lengths, never their contents.
    public static func constantTimeEquals(_ lhs: some Collection<UInt8>, _ rhs: some Collection<UInt8>) -> Bool {
        let lhs = Array(lhs)
        let rhs = Array(rhs)
        guard lhs.count == rhs.count else { return false }
        if lhs.isEmpty { return true }
        return lhs.withUnsafeBytes { l in rhs.withUnsafeBytes { r in CRYPTO_memcmp(l.baseAddress, r.baseAddress, l.count) == 0 } }
    }

    /// `count` cryptographically random bytes.
    public static func randomBytes(_ count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        let ok = RAND_bytes(&out, Int32(count))
        precondition(ok == 1, "OpenSSL RAND_bytes failed: the system has no entropy source")
        return out
    }
}

/// A secret compared in constant time, whatever the candidate's length.
///
/// Both sides are first reduced to an HMAC under a random per-process key, so the comparison
/// neither leaks the secret's length nor its contents.
public struct SecretMatcher: Sendable {
    private let key: [UInt8]
    private let expectedDigest: [UInt8]

    public init(secret: String) {
        key = CryptoPrimitives.randomBytes(32)
        expectedDigest = CryptoPrimitives.hmacSHA256(key: key, message: Array(secret.utf8))
    }

    /// Whether `candidate` equals the secret.
    public func matches(_ candidate: String) -> Bool {
        CryptoPrimitives.constantTimeEquals(
            CryptoPrimitives.hmacSHA256(key: key, message: Array(candidate.utf8)), expectedDigest
        )
    }
}
