import COpenSSLCrypto

/// An HMAC-SHA256 key whose OpenSSL context is set up once: every ``authenticationCode(for:)``
/// copies that keyed context instead of fetching the algorithm and hashing the key again, which
/// OpenSSL 3's one-shot `HMAC()` does on every call (the HS256 check of every client connect).
public final class HMACSHA256Key: @unchecked Sendable {
    // Only read after init (EVP_MAC_CTX_dup reads it), so sharing it between threads is safe.
    private let keyed: OpaquePointer?
    private let key: [UInt8]

    /// A key of any length (the JWT secret's bytes).
    public init(_ key: [UInt8]) {
        self.key = key
        keyed = Self.makeKeyedContext(key)
    }

    deinit { if let keyed { EVP_MAC_CTX_free(keyed) } }

    /// HMAC-SHA256 of `message` under this key (32 bytes).
    public func authenticationCode(for message: [UInt8]) -> [UInt8] {
        guard let keyed, let context = EVP_MAC_CTX_dup(keyed) else {
            return CryptoPrimitives.hmacSHA256(key: key, message: message)  // OpenSSL refused the set-up
        }
        defer { EVP_MAC_CTX_free(context) }
        var out = [UInt8](repeating: 0, count: 32)
        var length = 0
        let ok = message.withUnsafeBufferPointer { EVP_MAC_update(context, $0.baseAddress, $0.count) } == 1
            && EVP_MAC_final(context, &out, &length, out.count) == 1
        guard ok, length == 32 else { return CryptoPrimitives.hmacSHA256(key: key, message: message) }
        return out
    }

    private static func makeKeyedContext(_ key: [UInt8]) -> OpaquePointer? {
        guard !key.isEmpty, let mac = EVP_MAC_fetch(nil, "HMAC", nil) else { return nil }
        defer { EVP_MAC_free(mac) }
        guard let context = EVP_MAC_CTX_new(mac) else { return nil }
        let ok = "digest".withCString { name in
            "SHA256".withCString { digest in
                var parameters = [
                    OSSL_PARAM_construct_utf8_string(name, UnsafeMutablePointer(mutating: digest), 0),
                    OSSL_PARAM_construct_end(),
                ]
                return key.withUnsafeBufferPointer { EVP_MAC_init(context, $0.baseAddress, $0.count, &parameters) } == 1
            }
        }
        guard ok else {
            EVP_MAC_CTX_free(context)
            return nil
        }
        return context
    }
}
