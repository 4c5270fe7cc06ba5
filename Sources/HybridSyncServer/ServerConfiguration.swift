/// What the HybridSync server needs to know, independent of where the values came from.
public struct ServerConfiguration: Sendable {
    /// The backend API key, sent as `Authorization: Bearer <key>`.
    public var apiKey: String
    /// The HS256 secret client tokens are signed with.
    public var tokenSecret: [UInt8]
    /// Seconds of clock skew tolerated on `exp` and `nbf`.
    public var tokenLeewaySeconds: Double
    /// Channels one connection may subscribe to at once.
    public var maxChannelsPerConnection: Int

    public init(apiKey: String, tokenSecret: String, tokenLeewaySeconds: Double = 0, maxChannelsPerConnection: Int = 128) {
        self.apiKey = apiKey
        self.tokenSecret = Array(tokenSecret.utf8)
        self.tokenLeewaySeconds = tokenLeewaySeconds
        self.maxChannelsPerConnection = maxChannelsPerConnection
    }
}
