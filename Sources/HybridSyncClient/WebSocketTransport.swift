public import HybridSyncProtocol
import NIOCore
import NIOHTTP1
import NIOPosix
public import NIOSSL
import NIOWebSocket

/// The SDK's default transport: WebSocket (RFC 6455) on SwiftNIO, `ws://` and `wss://`, on every
/// platform the SDK builds for, with nothing to install (NIOSSL carries its own TLS).
///
/// - Requests the subprotocol `hybridsync.v1` and refuses a server that does not answer with it.
/// - `wss://` verifies the server's certificate and host name against the system's trust store;
///   ``Configuration/tls`` takes a custom CA (`trustRoots`) or other NIOSSL settings, and
///   ``Configuration/allowingSelfSignedCertificates()`` turns verification off, for development.
/// - **Back-pressure:** it reads from the socket only while the runtime keeps up (at most
///   ``Configuration/readAhead`` frames wait for it); a runtime that falls behind stops the reads,
///   the server's queue for it grows, and the server closes it with 4001 (slow consumer) instead of
///   the app buffering without bound. The runtime then reconnects and recovers.
/// - A frame over ``Configuration/maxFrameBytes``, a binary frame, text that is not UTF-8 or any
///   other RFC 6455 violation by the server closes the connection (1009, 1003, 1007, 1002); the
///   runtime sees a closed connection and reconnects. Close codes and reasons from the server are
///   passed on exactly.
public struct WebSocketTransport: ClientTransport {
    /// How connections are opened.
    public struct Configuration: Sendable {
        /// TCP connect, TLS handshake and the WebSocket upgrade together must finish within this.
        public var connectTimeout: Duration = .seconds(10)
        /// The largest message accepted from the server (a snapshot of a large channel is one
        /// message); a larger one closes the connection with 1009.
        public var maxFrameBytes = 16 * 1024 * 1024
        /// Messages read ahead of the runtime before the transport stops reading.
        public var readAhead = 16
        /// TLS for `wss://`: full verification against the system trust store by default.
        public var tls: TLSConfiguration = .makeClientConfiguration()
        /// The subprotocol requested and required; nil only for the conformance driver
        /// (`hybridsync-autobahn-client`), whose peer is a generic echo server.
        package var subprotocol: String? = HybridSyncWire.subprotocol
        /// The local IP address connections are made from; nil: the system's choice. For the load
        /// tool (`hybridsync bench --source-addresses`: each loopback address has its own ephemeral
        /// ports) and tests that tell clients apart by address.
        package var sourceAddress: String?

        /// The defaults: verified TLS, 10 s to connect.
        public init() {}

        /// Development only: `wss://` accepts any certificate (a self-signed test daemon's).
        public static func allowingSelfSignedCertificates() -> Configuration {
            var configuration = Configuration()
            configuration.tls.certificateVerification = .none
            return configuration
        }
    }

    /// How connections are opened.
    public let configuration: Configuration
    private let tlsContext: Result<NIOSSLContext, any Error>

    /// A transport with `configuration`.
    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
        tlsContext = Result { try NIOSSLContext(configuration: configuration.tls) }
    }

    /// Opens a connection to a `ws://` or `wss://` URL; throws ``ClientTransportError`` (permanent
    /// for a URL that can never work).
    public func connect(to url: String) async throws -> any ClientConnection {
        let target = try WebSocketURL(url)
        let tls: NIOSSLContext?
        if target.secure {
            do {
                tls = try tlsContext.get()
            } catch {
                throw ClientTransportError("TLS configuration unusable: \(error)", isPermanent: true)
            }
        } else {
            tls = nil
        }
        let timeout = TimeAmount.nanoseconds(Int64(configuration.connectTimeout.components.seconds) * 1_000_000_000
            + configuration.connectTimeout.components.attoseconds / 1_000_000_000)
        let settings = Settings(timeout: timeout, maxFrameBytes: configuration.maxFrameBytes, readAhead: configuration.readAhead,
                                subprotocol: configuration.subprotocol)
        let upgraded: EventLoopFuture<UpgradeResult>
        do {
            var bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            if let source = configuration.sourceAddress {
                bootstrap = bootstrap.bind(to: try SocketAddress(ipAddress: source, port: 0))
            }
            upgraded = try await bootstrap
                .connectTimeout(timeout)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .connect(host: target.host, port: target.port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try Self.configure(channel, target: target, tls: tls, settings: settings)
                    }
                }
        } catch {
            throw ClientTransportError("cannot connect to \(url): \(error)")
        }
        // `configure` bounds the TLS handshake and the upgrade too: at the timeout it closes the
        // channel, which fails this future (a server that accepts and says nothing).
        let result: UpgradeResult
        do {
            result = try await upgraded.get()
        } catch {
            throw ClientTransportError("cannot open a WebSocket to \(url): \(error)")
        }
        switch result {
        case .upgraded(let connection):
            return connection
        case .refused(let why):
            throw ClientTransportError("\(url) did not open a WebSocket: \(why)")
        }
    }

    /// What a channel's configuration needs of ``Configuration``.
    struct Settings: Sendable {
        let timeout: TimeAmount
        let maxFrameBytes: Int
        let readAhead: Int
        let subprotocol: String?
    }

    enum UpgradeResult: Sendable {
        case upgraded(WebSocketConnection)
        case refused(String)
    }

    /// TLS (for wss), HTTP/1.1 and the WebSocket upgrade for one new channel.
    private static func configure(
        _ channel: any Channel, target: WebSocketURL, tls: NIOSSLContext?, settings: Settings
    ) throws -> EventLoopFuture<UpgradeResult> {
        let operations = channel.pipeline.syncOperations
        if let tls {
            try operations.addHandler(NIOSSLClientHandler(context: tls, serverHostname: target.isIPAddress ? nil : target.host))
        }
        let upgrader = NIOTypedWebSocketClientUpgrader<UpgradeResult>(
            maxFrameSize: settings.maxFrameBytes,
            upgradePipelineHandler: { channel, response in
                channel.eventLoop.makeCompletedFuture {
                    let offered = response.headers[canonicalForm: "sec-websocket-protocol"].map(String.init)
                    if let subprotocol = settings.subprotocol, offered != [subprotocol] {
                        channel.close(promise: nil)
                        return .refused("the server did not accept the subprotocol \(subprotocol)")
                    }
                    let connection = WebSocketConnection(channel: channel, readAhead: settings.readAhead)
                    try channel.pipeline.syncOperations.addHandler(
                        NIOWebSocketFrameAggregator(
                            // The size bound is the real one; the count only stops a flood of empty fragments.
                            minNonFinalFragmentSize: 0, maxAccumulatedFrameCount: max(1 << 16, settings.maxFrameBytes / 16),
                            maxAccumulatedFrameSize: settings.maxFrameBytes
                        )
                    )
                    try channel.pipeline.syncOperations.addHandler(WebSocketFrameHandler(connection: connection))
                    return .upgraded(connection)
                }
            }
        )
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: target.hostHeader)
        if let subprotocol = settings.subprotocol { headers.add(name: "Sec-WebSocket-Protocol", value: subprotocol) }
        headers.add(name: "Content-Length", value: "0")
        let request = HTTPRequestHead(version: .http1_1, method: .GET, uri: target.path, headers: headers)
        let upgrade = NIOTypedHTTPClientUpgradeConfiguration<UpgradeResult>(
            upgradeRequestHead: request, upgraders: [upgrader],
            notUpgradingCompletionHandler: { channel in
                channel.eventLoop.makeCompletedFuture {
                    channel.close(promise: nil)
                    return .refused("the server answered without upgrading (wrong port or path, or an HTTP error)")
                }
            }
        )
        var pipeline = NIOUpgradableHTTPClientPipelineConfiguration(upgradeConfiguration: upgrade)
        // Frames the server sends right behind its 101 (in the same read) belong to the WebSocket:
        // NIO's default drops them.
        pipeline.leftOverBytesStrategy = .forwardBytes
        let upgraded = try operations.configureUpgradableHTTPClientPipeline(configuration: pipeline)
        // TCP, TLS and the upgrade within the connect timeout, or the socket is closed (a server that
        // accepts and never answers must not keep it).
        let deadline = channel.eventLoop.scheduleTask(in: settings.timeout) { channel.close(promise: nil) }
        upgraded.whenComplete { _ in deadline.cancel() }
        return upgraded
    }
}
