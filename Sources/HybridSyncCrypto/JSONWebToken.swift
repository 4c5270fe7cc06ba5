public import HybridSyncProtocol

/// A compact JWS token (`header.payload.signature`), split and decoded but not yet trusted.
package struct JSONWebToken: Sendable {
    /// The decoded header object.
    package let header: JSONValue
    /// The decoded claims object.
    package let claims: JSONValue
    /// `header.payload`, the bytes the signature covers.
    package let signingInput: [UInt8]
    /// The decoded third part.
    package let signature: [UInt8]

    /// Why a token was refused. The message is safe to send to the client.
    package struct Failure: Error, Sendable, Equatable, CustomStringConvertible {
        package let description: String
        package init(_ description: String) { self.description = description }
    }

    /// Splits and decodes a compact token. Throws when it is not three base64url parts of JSON objects.
    package init(compact token: String) throws(Failure) {
        // On the UTF-8 bytes: String's Character-wise split stood out in profiles of the connect phase.
        let bytes = Array(token.utf8)
        let dot = UInt8(ascii: ".")
        guard let firstDot = bytes.firstIndex(of: dot), let secondDot = bytes[(firstDot + 1)...].firstIndex(of: dot),
              !bytes[(secondDot + 1)...].contains(dot)
        else { throw Failure("token is not a compact JWS (header.payload.signature)") }
        guard let headerBytes = Base64URL.decode(bytes: bytes[..<firstDot]), let header = try? JSONValue.parse(headerBytes),
              case .object = header
        else { throw Failure("token header is not base64url JSON") }
        guard let claimBytes = Base64URL.decode(bytes: bytes[(firstDot + 1)..<secondDot]),
              let claims = try? JSONValue.parse(claimBytes), case .object = claims
        else { throw Failure("token payload is not base64url JSON") }
        guard let signature = Base64URL.decode(bytes: bytes[(secondDot + 1)...]) else {
            throw Failure("token signature is not base64url")
        }
        self.header = header
        self.claims = claims
        self.signingInput = Array(bytes[..<secondDot])
        self.signature = signature
    }

    /// The `alg` header exactly as sent (case preserved, so `None` is not mistaken for a known name).
    package var algorithm: String? { header["alg"]?.stringValue }

    /// Verifies the signature with the one key configured for the token's `alg`.
    ///
    /// Each key serves exactly one algorithm: HS256 uses only `hmacSecret`, RS256 only an RSA key,
    /// ES256 only an EC P-256 key. `none` (in any spelling) and every other algorithm are refused,
    /// and header fields that point at keys (`jwk`, `jku`, `x5u`, `kid`) are ignored.
    package func verify(hmacSecret: [UInt8]?, publicKeys: [PublicKey]) throws(Failure) {
        try verify(hmacKey: hmacSecret.map { HMACSHA256Key($0) }, publicKeys: publicKeys)
    }

    /// ``verify(hmacSecret:publicKeys:)`` with the HS256 secret as a key set up once.
    package func verify(hmacKey: HMACSHA256Key?, publicKeys: [PublicKey]) throws(Failure) {
        guard let algorithm else { throw Failure("token header has no 'alg'") }
        switch algorithm {
        case "HS256" where hmacKey != nil:
            guard let hmacKey else { throw Failure("token is signed with HS256, and no HS256 secret is configured") }
            let expected = hmacKey.authenticationCode(for: signingInput)
            guard CryptoPrimitives.constantTimeEquals(expected, signature) else {
                throw Failure("token signature does not verify")
            }
        case "RS256", "ES256":
            guard let key = publicKeys.first(where: { $0.algorithm == algorithm }) else { fallthrough }
            guard key.verify(signature: signature, message: signingInput) else {
                throw Failure("token signature does not verify")
            }
        default:
            let accepted = (hmacKey == nil ? [] : ["HS256"]) + publicKeys.map(\.algorithm)
            throw Failure("token algorithm '\(algorithm.prefix(20))' is not accepted: this server accepts \(accepted.joined(separator: ", "))")
        }
    }

    /// Mints an HS256 token for `claims` (for development tools and tests).
    package static func signHS256(claims: JSONValue, secret: some Collection<UInt8>) -> String {
        let header = JSONValue.object(["alg": .string("HS256"), "typ": .string("JWT")])
        let signingInput = Base64URL.encode(header.jsonBytes) + "." + Base64URL.encode(claims.jsonBytes)
        let signature = CryptoPrimitives.hmacSHA256(key: secret, message: Array(signingInput.utf8))
        return signingInput + "." + Base64URL.encode(signature)
    }
}
