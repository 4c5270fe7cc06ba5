import CLibWebSockets
import DequeModule
import Foundation
public import HybridSyncProtocol
import Synchronization

/// WebSocket client connections on libwebsockets: ONE lws context and service thread for the whole
/// process, shared by every client runtime in it (use ``LWSConnector`` to open connections).
///
/// Why one per process: lws 4.1 keeps the OpenSSL ex-data index it uses to find a connection during
/// certificate verification in a process-global variable that every new context overwrites, so a
/// context created while another one is in a TLS handshake breaks that handshake (seen in tests as
/// "OpenSSL_client_verify_callback: can't get wsi from ssl privdata").
final class LWSClientTransport: @unchecked Sendable {
    let loop = ServiceLoop(name: "hybridsync-lws-client")

    // Service-thread state.
    var connections: [UInt64: ClientSocket] = [:]
    var nextID: UInt64 = 1
    private var context: OpaquePointer?
    private var strings: [CStringBox] = []

    private static let sharedInstance = PThreadLock<LWSClientTransport?>(nil)

    /// The process-wide transport, created on first use.
    static func shared() throws(ClientTransportError) -> LWSClientTransport {
        let result: Result<LWSClientTransport, ClientTransportError> = sharedInstance.withLock { instance in
            if let instance { return .success(instance) }
            do throws(ClientTransportError) {
                LWSLog.installDefaultIfNeeded()
                let created = try LWSClientTransport()
                instance = created
                return .success(created)
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// ``shared()``, but the first call (which creates the lws context: OpenSSL set-up, the CA
    /// bundle) runs on a thread of its own, so it never blocks a thread of the cooperative pool.
    static func sharedCreatedOffThePool() async throws -> LWSClientTransport {
        if let existing = sharedInstance.withLock({ $0 }) { return existing }
        return try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread { continuation.resume(with: Result { () throws(ClientTransportError) in try shared() }) }
        }
    }

    /// Creates the context and its service thread.
    private init() throws(ClientTransportError) {
        let protocols = UnsafeMutablePointer<lws_protocols>.allocate(capacity: 2)
        var proto = hs_lws_protocol_terminator()
        let name = CStringBox(HybridSyncWire.subprotocol)
        strings.append(name)
        proto.name = UnsafePointer(name.pointer)
        proto.callback = lwsClientCallback
        proto.rx_buffer_size = 16 * 1024
        protocols[0] = proto
        protocols[1] = hs_lws_protocol_terminator()

        var info = lws_context_creation_info()
        info.port = CONTEXT_PORT_NO_LISTEN
        info.protocols = UnsafePointer(protocols)
        info.options = UInt64(LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT)
        info.user = Unmanaged.passUnretained(self).toOpaque()
        // Each phase of an attempt (TCP connect, TLS, the upgrade's answer) ends after this long, so
        // a socket the runtime gave up on (its connect timeout, 10 s) is gone before it retries
        // (lws's default, 20 s, let every client of a reconnect storm hold several at once).
        info.timeout_secs = Self.phaseTimeoutSeconds
        guard let context = lws_create_context(&info) else {
            protocols.deallocate()
            throw ClientTransportError("libwebsockets could not create a client context")
        }
        self.context = context
        // The exit hook must not capture `self`: the loop would keep the transport alive forever.
        let borrowedStrings = strings
        loop.start(context: context) {
            protocols.deallocate()
            _ = borrowedStrings
        }
    }

    /// Taken on the service thread before it hands a new socket over, and by the task after: a
    /// happens-before edge ThreadSanitizer can see. The continuation carries the same edge, but
    /// when it is resumed from the lws thread before the task suspends, the runtime's fast path
    /// tells TSan nothing, and TSan reported the socket's `let`s (set on the service thread) as
    /// raced on the task's first `send`. One uncontended lock per connect.
    private static let handover = NSLock()
    static func synchronizeHandover() {
        handover.lock()
        handover.unlock()
    }

    func connect(to url: String, allowSelfSignedCertificates: Bool, sourceAddress: String?) async throws -> any ClientConnection {
        let target = try WebSocketURL(url)
        defer { Self.synchronizeHandover() }  // acquire what the service thread wrote into the socket
        return try await withCheckedThrowingContinuation { continuation in
            loop.execute { [weak self] in
                guard let self else {
                    return continuation.resume(throwing: ClientTransportError("client transport was released"))
                }
                open(target, allowSelfSigned: allowSelfSignedCertificates, sourceAddress: sourceAddress, continuation: continuation)
            }
        }
    }

    private func open(
        _ target: WebSocketURL, allowSelfSigned: Bool, sourceAddress: String?,
        continuation: CheckedContinuation<any ClientConnection, any Error>
    ) {
        guard let context else {
            continuation.resume(throwing: ClientTransportError("client transport is shut down"))
            return
        }
        let id = nextID
        nextID += 1
        let socket = ClientSocket(id: id, loop: loop, url: target.description)
        socket.pendingOpen = continuation
        connections[id] = socket

        let host = CStringBox(target.host)
        let path = CStringBox(target.path)
        let proto = CStringBox(HybridSyncWire.subprotocol)
        var info = lws_client_connect_info()
        info.context = context
        info.address = UnsafePointer(host.pointer)
        info.host = UnsafePointer(host.pointer)
        info.port = Int32(target.port)
        info.path = UnsafePointer(path.pointer)
        info.protocol = UnsafePointer(proto.pointer)
        info.ssl_connection = hs_lws_client_ssl_flags(target.secure ? 1 : 0, allowSelfSigned ? 1 : 0)
        info.opaque_user_data = UnsafeMutableRawPointer(bitPattern: UInt(id))
        // lws copies these strings during the call when it cannot connect at once, and keeps them on
        // the wsi otherwise; keep them for the socket's lifetime to be safe.
        socket.borrowed = [host, path, proto]
        if let sourceAddress {
            let address = CStringBox(sourceAddress)
            info.iface = UnsafePointer(address.pointer)  // lws binds the socket to it before connect()
            socket.borrowed.append(address)
        }
        if lws_client_connect_via_info(&info) == nil, connections[id] != nil {
            // lws may already have reported CONNECTION_ERROR synchronously (which resumed the continuation).
            fail(socket, "cannot start a connection to \(target)")
        }
    }

    /// Seconds each phase of a connection attempt may take (lws's `timeout_secs`).
    static let phaseTimeoutSeconds: UInt32 = 5

    func fail(_ socket: ClientSocket, _ message: String) {
        connections[socket.id] = nil
        if let pending = socket.pendingOpen {
            socket.pendingOpen = nil
            pending.resume(throwing: ClientTransportError(message))
        } else {
            socket.finish(code: nil, reason: message)
        }
    }
}

/// Opens WebSocket connections on libwebsockets (the process-wide client context).
public struct LWSConnector: ClientTransport {
    /// Accept self-signed server certificates for `wss://` (development and tests only).
    public var allowSelfSignedCertificates: Bool
    /// A local IP address to connect from (nil: the system's choice). A load generator uses several,
    /// such as 127.0.0.1…127.0.0.K, because each has its own ~28,000 ephemeral ports toward one server port.
    public var sourceAddress: String?

    /// A connector for `wss://` with or without self-signed certificates, from `sourceAddress` if given.
    public init(allowSelfSignedCertificates: Bool = false, sourceAddress: String? = nil) {
        self.allowSelfSignedCertificates = allowSelfSignedCertificates
        self.sourceAddress = sourceAddress
    }

    /// Opens a WebSocket to `url` (subprotocol `hybridsync.v1`) on the process-wide client context.
    public func connect(to url: String) async throws -> any ClientConnection {
        try await LWSClientTransport.sharedCreatedOffThePool().connect(
            to: url, allowSelfSignedCertificates: allowSelfSignedCertificates, sourceAddress: sourceAddress)
    }
}

/// One client connection: a Sendable handle whose state lives on the service thread.
final class ClientSocket: ClientConnection, @unchecked Sendable {
    let id: UInt64
    let url: String
    let events: AsyncStream<ClientConnectionEvent>
    private let continuation: AsyncStream<ClientConnectionEvent>.Continuation
    private let loop: ServiceLoop

    // Service-thread state.
    var wsi: OpaquePointer?
    var pendingOpen: CheckedContinuation<any ClientConnection, any Error>?
    var borrowed: [CStringBox] = []
    var outbound: Deque<LWSFrame> = []
    var inbound: [UInt8] = []
    var closing: (code: CloseCode, reason: String)?
    var peerClose: (code: CloseCode, reason: String)?

    init(id: UInt64, loop: ServiceLoop, url: String) {
        self.id = id
        self.loop = loop
        self.url = url
        (events, continuation) = AsyncStream.makeStream(bufferingPolicy: .unbounded)
    }

    func send(_ frame: [UInt8]) {
        loop.execute { [self] in
            guard let wsi, closing == nil else { return }
            outbound.append(LWSFrame(frame))
            lws_callback_on_writable(wsi)
        }
    }

    func close(code: CloseCode, reason: String) {
        loop.execute { [self] in
            guard let wsi, closing == nil else { return }
            closing = (code, reason)
            lws_callback_on_writable(wsi)
        }
    }

    func yield(_ event: ClientConnectionEvent) { continuation.yield(event) }

    func finish(code: CloseCode?, reason: String) {
        continuation.yield(.closed(code: code, reason: reason))
        continuation.finish()
    }
}
