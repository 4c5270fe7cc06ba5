import Glibc

/// Where and how the libwebsockets server listens.
package struct LWSServerConfiguration: Sendable, Equatable {
    /// Address of the public WebSocket listener.
    /// In hybridsyncd: `server.host` (docs/CONFIGURATION.md).
    package var publicHost: String
    /// Port of the public WebSocket listener; 0 picks a free port.
    /// In hybridsyncd: `server.port` (docs/CONFIGURATION.md).
    package var publicPort: Int
    /// Address of the backend HTTP API listener (loopback by default: it is not for the internet).
    /// In hybridsyncd: `api.host` (docs/CONFIGURATION.md).
    package var apiHost: String
    /// Port of the backend HTTP API listener; 0 picks a free port.
    /// In hybridsyncd: `api.port` (docs/CONFIGURATION.md).
    package var apiPort: Int
    /// Certificate and key (PEM) for `wss://` on the public listener; nil serves plain `ws://`.
    /// In hybridsyncd: `server.tls.certificate`, `server.tls.privateKey` (docs/CONFIGURATION.md).
    package var tls: TLSFiles?
    /// Largest inbound WebSocket message; bigger ones close the connection with 1009.
    /// In hybridsyncd: `limits.maxMessageBytes` (docs/CONFIGURATION.md).
    package var maxMessageBytes: Int
    /// Largest outbound backlog per connection; a client that falls further behind is closed
    /// with 4001 (slow consumer) and its queue is freed.
    /// In hybridsyncd: `limits.maxQueuedBytes` (docs/CONFIGURATION.md).
    package var maxQueuedBytes: Int
    /// Largest HTTP request body on the API listener; bigger ones get 413.
    /// In hybridsyncd: `api.maxBodyBytes` (docs/CONFIGURATION.md).
    package var maxBodyBytes: Int
    /// Browser origins allowed to open WebSockets (exact `scheme://host[:port]`). Empty allows any.
    /// A request without `Origin` (not a browser) is always allowed; a disallowed one gets 403.
    /// In hybridsyncd: `server.allowedOrigins` (docs/CONFIGURATION.md).
    package var allowedOrigins: [String]
    /// How often the server's time-driven work (timeouts, pings, expiry) runs.
    package var tickInterval: Duration
    /// How long a publication may wait so that the ones that follow share its frame and its write
    /// (0: written as soon as the socket can take it). Replies and control messages never wait.
    /// In hybridsyncd: `limits.writeDelayMillis` (docs/CONFIGURATION.md).
    package var writeDelayMillis: Int
    /// Seconds a client has to send a complete HTTP request head (request line and headers), counted
    /// from the connection's start or from the previous response on a keep-alive connection.
    /// In hybridsyncd: `limits.httpHeaderTimeoutSeconds` (docs/CONFIGURATION.md).
    package var httpHeaderTimeoutSeconds: Double
    /// Seconds a client has to send a request body once its head has arrived.
    /// In hybridsyncd: `limits.httpBodyTimeoutSeconds` (docs/CONFIGURATION.md).
    package var httpBodyTimeoutSeconds: Double
    /// Largest HTTP request head (request line plus headers); bigger ones get 431.
    /// In hybridsyncd: `limits.maxHeaderBytes` (docs/CONFIGURATION.md).
    package var maxHeaderBytes: Int
    /// Open sockets on the public listener, WebSockets and unfinished upgrades together; more are
    /// refused at accept. nil: the process's open-file limit less ``fileDescriptorReserve`` and
    /// ``maxAPIConnections``.
    /// In hybridsyncd: `limits.maxConnections` (docs/CONFIGURATION.md).
    package var maxConnections: Int?
    /// Open sockets on the API listener; more are refused at accept.
    /// In hybridsyncd: `limits.maxApiConnections` (docs/CONFIGURATION.md).
    package var maxAPIConnections: Int
    /// Sockets one service thread may have connecting at once (accepted, no request byte read yet:
    /// the TLS handshake); over it the thread stops accepting until one finishes or has taken
    /// half a second, so a connect storm is served in arrival order (``ConnectGate``). 0: no limit.
    /// In hybridsyncd: `limits.maxConnectingPerThread` (docs/CONFIGURATION.md).
    package var maxConnectingPerThread: Int = 256
    /// File descriptors kept free for everything that is not a client socket (logs, files, the
    /// service pipe), so `accept` never fails with EMFILE.
    package var fileDescriptorReserve: Int
    /// A WebSocket path on the public listener that echoes every message, without the HybridSync
    /// protocol or subprotocol: for conformance suites (Autobahn) only. nil (the default) disables it.
    /// In hybridsyncd: `debug.echoPath` (docs/CONFIGURATION.md).
    package var echoPath: String?
    /// Service threads, each with its own lws context and its own SO_REUSEPORT listener on the
    /// public port (the kernel spreads new connections over them). The first thread also runs the
    /// delegate and the API listener; the others hand it what their connections receive and take
    /// its deliveries in one batch per turn. 1: one thread for everything.
    /// In hybridsyncd: `server.threads` (docs/CONFIGURATION.md; its default is the number of cores).
    package var threads: Int = 1

    package init(
        publicHost: String = "127.0.0.1", publicPort: Int = 8080,
        apiHost: String = "127.0.0.1", apiPort: Int = 8081,
        tls: TLSFiles? = nil,
        maxMessageBytes: Int = 64 * 1024, maxQueuedBytes: Int = 1024 * 1024, maxBodyBytes: Int = 1024 * 1024,
        allowedOrigins: [String] = [], tickInterval: Duration = .milliseconds(250),
        httpHeaderTimeoutSeconds: Double = 10, httpBodyTimeoutSeconds: Double = 10, maxHeaderBytes: Int = 8 * 1024,
        maxConnections: Int? = nil, maxAPIConnections: Int = 128, fileDescriptorReserve: Int = 64,
        echoPath: String? = nil, writeDelayMillis: Int = 0
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
        self.httpHeaderTimeoutSeconds = httpHeaderTimeoutSeconds
        self.httpBodyTimeoutSeconds = httpBodyTimeoutSeconds
        self.maxHeaderBytes = maxHeaderBytes
        self.maxConnections = maxConnections
        self.maxAPIConnections = maxAPIConnections
        self.fileDescriptorReserve = fileDescriptorReserve
        self.echoPath = echoPath
        self.writeDelayMillis = writeDelayMillis
    }

    /// The public-listener cap in force: ``maxConnections``, or what the open-file limit leaves.
    package var effectiveMaxConnections: Int {
        if let maxConnections { return maxConnections }
        return max(1, Self.openFileLimit() - fileDescriptorReserve - maxAPIConnections)
    }

    /// The process's soft RLIMIT_NOFILE.
    package static func openFileLimit() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        return Int(clamping: limit.rlim_cur)
    }
}

/// PEM files for TLS. Prefer an ECDSA P-256 key: its handshake costs the server about two thirds of
/// an RSA-2048 one (docs/PERFORMANCE.md, "TLS"); a connection holds about 17.5 KB either way.
package struct TLSFiles: Sendable, Equatable {
    /// The PEM certificate (chain) served to clients.
    package var certificatePath: String
    /// The PEM private key of that certificate.
    package var privateKeyPath: String
    /// Session-ticket keys every service thread shares; nil: one random key for this run.
    package var ticketKeys: TLSTicketKeys?

    /// TLS from these files; `ticketKeys` nil: one random ticket key for this run.
    package init(certificatePath: String, privateKeyPath: String, ticketKeys: TLSTicketKeys? = nil) {
        self.certificatePath = certificatePath
        self.privateKeyPath = privateKeyPath
        self.ticketKeys = ticketKeys
    }
}

/// The addresses a started server listens on (ports resolved when 0 was asked for).
package struct BoundAddresses: Sendable, Equatable {
    package var publicURL: String
    package var apiURL: String
    package var publicPort: Int
    package var apiPort: Int
}

/// Why the server could not start.
package struct LWSServerError: Error, Sendable, CustomStringConvertible {
    package let description: String
}
