import COpenSSLCrypto

/// A PEM public key (RSA or EC P-256) for verifying RS256 or ES256 signatures.
public final class PublicKey: @unchecked Sendable {
    /// The kind of key, which fixes the one JWS algorithm it verifies.
    public enum Kind: Sendable, Equatable {
        /// RSASSA-PKCS1-v1_5 with SHA-256 (JWS `RS256`).
        case rsa
        /// ECDSA P-256 with SHA-256 (JWS `ES256`).
        case ecP256
    }

    public let kind: Kind
    // Immutable after init; OpenSSL allows concurrent verification with one EVP_PKEY.
    private let key: OpaquePointer

    /// Why a key could not be loaded.
    public struct LoadError: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    /// Loads a `-----BEGIN PUBLIC KEY-----` PEM.
    public init(pem: String) throws(LoadError) {
        let bytes = Array(pem.utf8)
        let loaded: OpaquePointer? = bytes.withUnsafeBytes { buffer in
            guard let bio = BIO_new_mem_buf(buffer.baseAddress, Int32(buffer.count)) else { return nil }
            defer { BIO_free(bio) }
            return PEM_read_bio_PUBKEY(bio, nil, nil, nil)
        }
        guard let loaded else { throw LoadError(description: "not a PEM public key (expected -----BEGIN PUBLIC KEY-----)") }
        let type = EVP_PKEY_get_base_id(loaded)
        if type == hs_pkey_rsa() {
            guard EVP_PKEY_get_bits(loaded) >= 2048 else {
                EVP_PKEY_free(loaded)
                throw LoadError(description: "RSA keys must have at least 2048 bits")
            }
            kind = .rsa
        } else if type == hs_pkey_ec(), EVP_PKEY_get_bits(loaded) == 256 {
            kind = .ecP256
        } else {
            EVP_PKEY_free(loaded)
            throw LoadError(description: "only RSA (RS256) and EC P-256 (ES256) public keys are supported")
        }
        key = loaded
    }

    deinit { EVP_PKEY_free(key) }

    /// The JWS algorithm this key verifies.
    public var algorithm: String {
        switch kind {
        case .rsa: "RS256"
        case .ecP256: "ES256"
        }
    }

    /// Verifies a JWS signature over `message` (for ES256, `signature` is the 64-byte R||S form).
    public func verify(signature: [UInt8], message: [UInt8]) -> Bool {
        var der = signature
        if kind == .ecP256 {
            guard let converted = Self.derFromRawECDSA(signature) else { return false }
            der = converted
        }
        guard let context = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(context) }
        guard EVP_DigestVerifyInit(context, nil, EVP_sha256(), nil, key) == 1 else { return false }
        return der.withUnsafeBufferPointer { sig in
            message.withUnsafeBufferPointer { msg in
                EVP_DigestVerify(context, sig.baseAddress, sig.count, msg.baseAddress, msg.count) == 1
            }
        }
    }

    /// JWS carries ECDSA signatures as R||S (32 bytes each); OpenSSL wants DER.
    private static func derFromRawECDSA(_ raw: [UInt8]) -> [UInt8]? {
        guard raw.count == 64, let sig = ECDSA_SIG_new() else { return nil }
        defer { ECDSA_SIG_free(sig) }
        let r = raw.withUnsafeBufferPointer { BN_bin2bn($0.baseAddress, 32, nil) }
        let s = raw.withUnsafeBufferPointer { BN_bin2bn($0.baseAddress! + 32, 32, nil) }
        guard let r, let s else {
            BN_free(r)
            BN_free(s)
            return nil
        }
        guard ECDSA_SIG_set0(sig, r, s) == 1 else {
            BN_free(r)
            BN_free(s)
            return nil
        }
        let length = i2d_ECDSA_SIG(sig, nil)
        guard length > 0 else { return nil }
        var out = [UInt8](repeating: 0, count: Int(length))
        let written = out.withUnsafeMutableBufferPointer { buffer -> Int32 in
            var cursor = buffer.baseAddress
            return i2d_ECDSA_SIG(sig, &cursor)
        }
        return written == length ? out : nil
    }
}
