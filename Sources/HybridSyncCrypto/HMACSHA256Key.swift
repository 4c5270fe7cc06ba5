import Crypto

/// An HMAC-SHA256 key set up once (the key hashed into the inner and outer states): every
/// ``authenticationCode(for:)`` copies that state instead of hashing the key again (the HS256
/// check of every client connect).
public final class HMACSHA256Key: @unchecked Sendable {
    // Only copied after init (a copy reads it), so sharing it between threads is safe.
    private let keyed: HMAC<SHA256>

    /// A key of any length (the JWT secret's bytes).
    public init(_ key: [UInt8]) {
        keyed = HMAC(key: SymmetricKey(data: key))
    }

    /// HMAC-SHA256 of `message` under this key (32 bytes).
    public func authenticationCode(for message: [UInt8]) -> [UInt8] {
        var context = keyed
        context.update(data: message)
        return Array(context.finalize())
    }
}
