import Crypto
import CryptoExtras

/// A PEM public key (RSA or EC P-256) for verifying RS256 or ES256 signatures.
public struct PublicKey: Sendable {
    /// The kind of key, which fixes the one JWS algorithm it verifies.
    public enum Kind: Sendable, Equatable {
        /// RSASSA-PKCS1-v1_5 with SHA-256 (JWS `RS256`).
        case rsa
        /// ECDSA P-256 with SHA-256 (JWS `ES256`).
        case ecP256
    }

    private enum Key: Sendable {
        case rsa(_RSA.Signing.PublicKey)
        case ecP256(P256.Signing.PublicKey)
    }

    private let key: Key

    /// Why a key could not be loaded.
    public struct LoadError: Error, Sendable, CustomStringConvertible {
        /// What the PEM held instead of a usable key.
        public let description: String
    }

    /// Loads a `-----BEGIN PUBLIC KEY-----` PEM: RSA of at least 2048 bits, or EC on P-256.
    public init(pem: String) throws(LoadError) {
        guard pem.contains("-----BEGIN PUBLIC KEY-----") else {
            throw LoadError(description: "not a PEM public key (expected -----BEGIN PUBLIC KEY-----)")
        }
        if let ec = try? P256.Signing.PublicKey(pemRepresentation: pem) {
            key = .ecP256(ec)
        } else if let rsa = try? _RSA.Signing.PublicKey(unsafePEMRepresentation: pem) {
            guard rsa.keySizeInBits >= 2048 else {
                throw LoadError(description: "RSA keys must have at least 2048 bits (this one has \(rsa.keySizeInBits))")
            }
            key = .rsa(rsa)
        } else {
            throw LoadError(description: "only RSA (RS256) and EC P-256 (ES256) public keys are supported")
        }
    }

    /// The kind of key.
    public var kind: Kind {
        switch key {
        case .rsa: .rsa
        case .ecP256: .ecP256
        }
    }

    /// The JWS algorithm this key verifies.
    public var algorithm: String {
        switch kind {
        case .rsa: "RS256"
        case .ecP256: "ES256"
        }
    }

    /// Verifies a JWS signature over `message` (for ES256, `signature` is the 64-byte R||S form).
    public func verify(signature: [UInt8], message: [UInt8]) -> Bool {
        switch key {
        case .rsa(let key):
            return key.isValidSignature(
                _RSA.Signing.RSASignature(rawRepresentation: signature), for: message, padding: .insecurePKCS1v1_5
            )
        case .ecP256(let key):
            guard let signature = try? P256.Signing.ECDSASignature(rawRepresentation: signature) else { return false }
            return key.isValidSignature(signature, for: message)
        }
    }
}
