public import HybridSyncClient

/// A test server as a backend service and a client app see it: the typed backend API
/// (``BackendAPIClient``, docs/API.md), tokens it accepts, client connections to it and its clock.
/// ``InMemoryServer`` and `TestDaemon` both conform, so one test body runs against either
/// (`TestBackend` in `HybridSyncDaemonTesting` starts one of each kind):
///
/// ```swift
/// let server: any TestServer = InMemoryServer()   // or: try await TestDaemon.start()
/// let runtime = server.runtime(user: "7")
/// try await server.api.ban(user: "42", reason: "spam")
/// ```
public protocol TestServer: Sendable {
    /// The backend API of this server, one typed method per route.
    var api: BackendAPIClient { get }
    /// Mints client tokens this server accepts.
    var tokens: TokenMinter { get }
    /// The URL client runtimes connect to, with ``clientTransport``.
    var webSocketURL: String { get }
    /// A client transport whose connections reach this server.
    var clientTransport: any ClientTransport { get }
    /// The server's wall-clock time, seconds since 1970 (what token `exp` and a ban's `until`
    /// are compared with).
    func now() -> Double
    /// Lets `seconds` of the server's time pass and its timed work (token expiry, ban expiry,
    /// pings) run: at once in memory, where the injected clock moves; in real time for a daemon.
    func passTime(_ seconds: Double) async throws
}

extension TestServer {
    /// A client runtime for `user` whose tokens last `tokenLifetime` seconds of the server's time,
    /// not started yet.
    public func runtime(
        user: String, tokenLifetime: Double = 3600, configuration: ClientRuntime.Configuration = ClientRuntime.Configuration()
    ) -> ClientRuntime {
        ClientRuntime(url: webSocketURL, configuration: configuration, transport: clientTransport) { [self] in
            tokens.token(user: user, expiresIn: tokenLifetime, now: now())
        }
    }

    /// A raw protocol connection (no runtime), for tests of frames and close codes.
    public func connect() async throws -> any ClientConnection {
        try await clientTransport.connect(to: webSocketURL)
    }
}
