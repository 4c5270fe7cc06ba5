/// Where and how the libwebsockets server listens.
public struct LWSServerConfiguration: Sendable {
    /// Address of the public WebSocket listener.
    public var publicHost: String
    /// Port of the public WebSocket listener; 0 picks a free port.
    public var publicPort: Int
    /// Address of the backend HTTP API listener (loopback by default: it is not for the internet).
    public var apiHost: String
    /// Port of the backend HTTP API listener; 0 picks a free port.
    public var apiPort: Int
    /// Certificate and key (PEM) for `wss://` on the public listener; nil serves plain `ws://`.
    public var tls: TLSFiles?
    /// Largest inbound WebSocket message; bigger ones close the connection with 1009.
    public var maxMessageBytes: Int
    /// Largest outbound backlog per connection; a client that falls further behind is closed
    /// with 4001 (slow consumer) and its queue is freed.
    public var maxQueuedBytes: Int
    /// Largest HTTP request body on the API listener; bigger ones get 413.
    public var maxBodyBytes: Int
    /// Browser origins allowed to open WebSockets (exact `scheme://host[:port]`). Empty allows any.
    /// A request without `Origin` (not a browser) is always allowed; a disallowed one gets 403.
    public var allowedOrigins: [String]
    /// How often the server's time-driven work (timeouts, pings, expiry) runs.
    public var tickInterval: Duration

    public init(
        publicHost: String = "127.0.0.1", publicPort: Int = 8080,
        apiHost: String = "127.0.0.1", apiPort: Int = 8081,
        tls: TLSFiles? = nil,
        maxMessageBytes: Int = 64 * 1024, maxQueuedBytes: Int = 1024 * 1024, maxBodyBytes: Int = 1024 * 1024,
        allowedOrigins: [String] = [], tickInterval: Duration = .milliseconds(250)
    ) {
        self.publicHost = publicHost
        self.publicPort = publicPort
        self.apiHost = apiHost
        self.apiPort = apiPort
        self.tls = tls
        self.maxMessageBytes = maxMessageBytes
        self.maxQueuedBytes = maxQueuedBytes
        self.maxBodyBytes = maxBodyBytes
        self.allowedOrigins = allowedOrigins
        self.tickInterval = tickInterval
    }
}

/// PEM files for TLS. Prefer an ECDSA P-256 key: about 38 KB per connection against 50 KB for RSA-2048.
public struct TLSFiles: Sendable, Equatable {
    public var certificatePath: String
    public var privateKeyPath: String

    public init(certificatePath: String, privateKeyPath: String) {
        self.certificatePath = certificatePath
        self.privateKeyPath = privateKeyPath
    }
}

/// The addresses a started server listens on (ports resolved when 0 was asked for).
public struct BoundAddresses: Sendable, Equatable {
    public var publicURL: String
    public var apiURL: String
    public var publicPort: Int
    public var apiPort: Int
}

/// Why the server could not start.
public struct LWSServerError: Error, Sendable, CustomStringConvertible {
    public let description: String
}
