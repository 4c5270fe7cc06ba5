import CLibWebSockets
import DequeModule
import Foundation
public import HybridSyncProtocol
public import Logging
import Synchronization

/// The HybridSync server transport on libwebsockets: a public WebSocket listener (subprotocol
/// `hybridsync.v1`) and a backend HTTP API listener, both serviced by one dedicated thread.
///
/// The delegate is called on that thread, and the ``ServerTransport`` methods must be called on it
/// too (which is where the delegate runs), so the server's state needs no locks.
public final class LWSServerTransport: ServerTransport, @unchecked Sendable {
    let configuration: LWSServerConfiguration
    let logger: Logger
    let loop = ServiceLoop(name: "hybridsync-lws")
    /// Open WebSocket connections, readable from any thread (for shutdown).
    let openWebSockets = Atomic<Int>(0)

    // Service-thread state.
    var delegate: (any ServerTransportDelegate)?
    var webSockets: [UInt64: WebSocketState] = [:]
    var exchanges: [UInt64: HTTPExchange] = [:]
    var nextID: UInt64 = 1
    var draining: (code: CloseCode, reason: String)?
    var apiVhost: OpaquePointer?
    private var tickTask: Task<Void, Never>?
    let coalescing = CoalescingBuffer(capacity: 32 * 1024)

    // Memory lws borrows for the context's lifetime.
    private var protocolArrays: [UnsafeMutablePointer<lws_protocols>] = []
    private var strings: [CStringBox] = []

    public init(configuration: LWSServerConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// Creates the listeners and starts the service thread. `delegate` is called on that thread.
    public func start(delegate: any ServerTransportDelegate) throws(LWSServerError) -> BoundAddresses {
        self.delegate = delegate
        let tls = configuration.tls != nil
        var contextInfo = lws_context_creation_info()
        contextInfo.options = hs_lws_server_options(tls ? 1 : 0)
        contextInfo.port = CONTEXT_PORT_NO_LISTEN
        contextInfo.user = Unmanaged.passUnretained(self).toOpaque()
        contextInfo.timeout_secs = 20
        contextInfo.server_string = UnsafePointer(cString("hybridsyncd"))
        guard let context = lws_create_context(&contextInfo) else {
            throw LWSServerError(description: "libwebsockets could not create its context (see the lws error above)")
        }

        let publicProtocols = makeProtocols([("http", 0), (HybridSyncWire.subprotocol, webSocketProtocolID)])
        var publicInfo = vhostInfo(name: "public", host: configuration.publicHost, port: configuration.publicPort)
        publicInfo.protocols = UnsafePointer(publicProtocols)
        if let files = configuration.tls {
            publicInfo.ssl_cert_filepath = UnsafePointer(cString(files.certificatePath))
            publicInfo.ssl_private_key_filepath = UnsafePointer(cString(files.privateKeyPath))
            publicInfo.ssl_options_set = hs_lws_tls12_min_options()
            publicInfo.alpn = UnsafePointer(cString("http/1.1"))
        }
        guard let publicVhost = lws_create_vhost(context, &publicInfo) else {
            lws_context_destroy(context)
            freeBorrowedMemory()
            throw LWSServerError(description:
                "cannot listen on \(configuration.publicHost):\(configuration.publicPort) for WebSockets "
                + "(port in use, address not on this host, or unreadable TLS files)")
        }
        let apiProtocols = makeProtocols([("http", 0)])
        var apiInfo = vhostInfo(name: "api", host: configuration.apiHost, port: configuration.apiPort)
        apiInfo.protocols = UnsafePointer(apiProtocols)
        guard let apiVhost = lws_create_vhost(context, &apiInfo) else {
            lws_context_destroy(context)
            freeBorrowedMemory()
            throw LWSServerError(description:
                "cannot listen on \(configuration.apiHost):\(configuration.apiPort) for the HTTP API "
                + "(port in use or address not on this host)")
        }
        self.apiVhost = apiVhost
        let publicPort = Int(lws_get_vhost_listen_port(publicVhost))
        let apiPort = Int(lws_get_vhost_listen_port(apiVhost))
        loop.start(context: context) { [self] in
            freeBorrowedMemory()
            self.delegate = nil
        }
        let interval = configuration.tickInterval
        tickTask = Task { [loop] in
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                loop.execute { [weak self] in self?.delegate?.tick() }
            }
        }
        let scheme = tls ? "wss" : "ws"
        return BoundAddresses(
            publicURL: "\(scheme)://\(Self.urlHost(configuration.publicHost)):\(publicPort)/",
            apiURL: "http://\(Self.urlHost(configuration.apiHost)):\(apiPort)",
            publicPort: publicPort,
            apiPort: apiPort
        )
    }

    /// Graceful stop: refuses new WebSockets, flushes and closes every open one with `code`, waits up
    /// to `grace` for them to go, then stops the service thread.
    public func shutdown(code: CloseCode = .shutdown, reason: String = "server shutting down", grace: Duration = .seconds(3)) async {
        tickTask?.cancel()
        loop.execute { [self] in
            draining = (code, reason)
            for id in webSockets.keys { close(ConnectionID(id), code: code, reason: reason) }
        }
        let deadline = ContinuousClock.now + grace
        while openWebSockets.load(ordering: .relaxed) > 0, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        let remaining = openWebSockets.load(ordering: .relaxed)
        if remaining > 0 {
            logger.warning("shutdown grace period over, dropping remaining connections", metadata: ["connections": "\(remaining)"])
        }
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            Thread.detachNewThread { [loop] in
                loop.stopAndWait()
                done.resume()
            }
        }
    }

    // MARK: ServerTransport (service thread)

    public func send(_ message: OutboundMessage, to connections: some Sequence<ConnectionID>) {
        var frame: LWSFrame?
        for connection in connections {
            guard let state = webSockets[connection.rawValue], state.closing == nil else { continue }
            let shared = frame ?? LWSFrame(message.bytes)
            frame = shared
            state.queue.append(shared)
            state.queuedBytes += shared.count
            if state.queuedBytes > configuration.maxQueuedBytes {
                logger.warning("slow consumer: outbound queue over limit, closing", metadata: [
                    "connection": "\(connection)", "queued_bytes": "\(state.queuedBytes)",
                ])
                state.queue.removeAll()
                state.queuedBytes = 0
                close(connection, code: .slowConsumer, reason: CloseCode.slowConsumer.name)
                continue
            }
            lws_callback_on_writable(state.wsi)
        }
    }

    public func close(_ connection: ConnectionID, code: CloseCode, reason: String) {
        guard let state = webSockets[connection.rawValue], state.closing == nil else { return }
        state.closing = (code, reason)
        // A peer that never reads would keep the close frame (and the socket) pending forever.
        lws_set_timeout(state.wsi, PENDING_TIMEOUT_USER_OK, Self.closeDeadlineSeconds)
        lws_callback_on_writable(state.wsi)
    }

    /// Seconds a requested close may take before the connection is dropped without a close frame.
    static let closeDeadlineSeconds: Int32 = 10

    // MARK: Helpers

    let webSocketProtocolID: UInt32 = 1

    private func cString(_ string: String) -> UnsafeMutablePointer<CChar> {
        let box = CStringBox(string)
        strings.append(box)
        return box.pointer
    }

    private func makeProtocols(_ entries: [(name: String, id: UInt32)]) -> UnsafeMutablePointer<lws_protocols> {
        let array = UnsafeMutablePointer<lws_protocols>.allocate(capacity: entries.count + 1)
        for (index, entry) in entries.enumerated() {
            var proto = hs_lws_protocol_terminator()
            proto.name = UnsafePointer(cString(entry.name))
            proto.callback = lwsServerCallback
            proto.per_session_data_size = MemoryLayout<UInt64>.size
            proto.rx_buffer_size = 16 * 1024
            proto.id = entry.id
            array[index] = proto
        }
        array[entries.count] = hs_lws_protocol_terminator()
        protocolArrays.append(array)
        return array
    }

    private func vhostInfo(name: String, host: String, port: Int) -> lws_context_creation_info {
        var info = lws_context_creation_info()
        info.vhost_name = UnsafePointer(cString(name))
        info.port = Int32(port)
        info.iface = UnsafePointer(cString(host))
        info.options = hs_lws_server_options(configuration.tls != nil ? 1 : 0)
        return info
    }

    private func freeBorrowedMemory() {
        for array in protocolArrays { array.deallocate() }
        protocolArrays.removeAll()
        strings.removeAll()
    }

    private static func urlHost(_ host: String) -> String {
        host.contains(":") ? "[\(host)]" : host
    }
}

/// Per-WebSocket state, owned by the service thread.
final class WebSocketState {
    let wsi: OpaquePointer
    var queue: Deque<LWSFrame> = []
    var queuedBytes = 0
    var inbound: [UInt8] = []
    var closing: (code: CloseCode, reason: String)?

    init(wsi: OpaquePointer) { self.wsi = wsi }
}

/// One HTTP request/response on a keep-alive connection, owned by the service thread.
struct HTTPExchange {
    var method = ""
    var path = ""
    var authorization: String?
    var body: [UInt8] = []
    var response: LWSFrame?
    /// Close the connection after the response (the request body was refused unread).
    var closeAfterResponse = false
}
