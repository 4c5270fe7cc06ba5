import CLibWebSockets
import DequeModule
import Foundation
package import HybridSyncHTTP
package import HybridSyncProtocol
package import HybridSyncServerTransport
import HybridSyncWebSocket
package import Logging
import Synchronization

/// The HybridSync server transport on libwebsockets: a public WebSocket listener (subprotocol
/// `hybridsync.v1`) and a backend HTTP API listener, both serviced by one dedicated thread.
///
/// lws provides the event loop, the sockets and TLS; both listeners take accepted sockets in lws's
/// raw mode, and HTTP/1.1 and RFC 6455 framing are HybridSync's own (``HTTPRequestParser``,
/// ``WebSocketFrameDecoder``). That is what gives each request exactly one response, refuses
/// unmasked frames and invalid UTF-8, and leaves lws's HTTP/2 code unreachable (docs/SECURITY.md).
///
/// The delegate is called on the service thread, and the ``ServerTransport`` methods must be called
/// on it too (which is where the delegate runs), so the server's state needs no locks. With
/// ``LWSServerConfiguration/threads`` above 1 that is the first of several service threads (the
/// hub thread); the threading model is in `LWSServerTransport+Threads.swift` and ARCHITECTURE.md.
package final class LWSServerTransport: ServerTransport, @unchecked Sendable {
    let configuration: LWSServerConfiguration
    let logger: Logger
    let loop: ServiceLoop
    /// This transport's thread: 0 for the hub (the public one), 1… for the others it starts.
    let index: Int
    let threadCount: Int
    /// The hub's transport, nil on the hub itself (which owns the others, so it outlives them).
    unowned let hub: LWSServerTransport?
    /// The hub's: the transports of threads 1…N-1.
    var others: [LWSServerTransport] = []
    /// The hub's, hub thread only: what each other thread gets at the end of this turn.
    var outboxes: [[EdgeOperation]]
    /// Sockets on the public listener over all threads.
    let publicSockets: SharedCounter
    /// This thread's SO_REUSEPORT listening socket on the public port, or -1 before `start`.
    var sharedListener: Int32 = -1
    /// The peer address `accept` gave the socket being adopted (the adoption callback takes it).
    var acceptedPeerAddress: String?
    /// Open WebSocket connections, readable from any thread (for shutdown).
    let openWebSockets = Atomic<Int>(0)

    // Service-thread state.
    var delegate: (any ServerTransportDelegate)?
    /// Answers the API listener's requests after `apiPages` (the backend API's router).
    var api: HTTPHandler?
    var connections: [UInt64: EdgeConnection] = [:]
    /// Sockets on the API listener (which exists on the hub thread only).
    var apiSockets = 0
    /// The API listener's connections (at most `maxAPIConnections` and those being evicted).
    var apiConnections: [EdgeConnection] = []
    /// API connections closed to make room for new ones since the start.
    var evictedAPIConnections = 0
    var deadlines = DeadlineQueue<Double, UInt64>()
    var nextID: UInt64 = 1
    var draining = false
    var publicVhost: OpaquePointer?
    var apiVhost: OpaquePointer?
    var refusalLog = RateLimitedLog()
    var originLog = RateLimitedLog()
    var closedSinceTrim = 0
    /// When this thread last closed a socket (monotonic seconds).
    var lastCloseAt = 0.0
    let maxConnections: Int
    private var tickTask: Task<Void, Never>?
    /// When this thread last ticked, for its timer.
    let lastTick = SharedTime()
    /// When its next tick has work (monotonic seconds), for its timer.
    let tickDue = SharedTime()
    /// Connections whose publications wait for the end of the current write-delay window.
    private var delayedWrites: [EdgeConnection] = []
    /// Connections with output to write at the end of this turn, in order (`+Writes.swift`).
    var writeQueue = Deque<EdgeConnection>()
    /// API connections with an answer to write, ahead of ``writeQueue``.
    var answerQueue = Deque<EdgeConnection>()
    /// The API connections' sockets, polled between write batches (hub thread).
    var apiPollSet: [pollfd] = []
    /// The sockets about to be written, polled to warm the caches (`+Writes.swift`).
    var warmingPollSet: [pollfd] = []
    let coalescing = FramePacker(capacity: 32 * 1024, headroom: LWSFrame.headroom)

    // Memory lws borrows for the context's lifetime.
    private var protocolArrays: [UnsafeMutablePointer<lws_protocols>] = []
    private var strings: [CStringBox] = []

    /// Pages the public listener serves besides WebSocket upgrades (the browser module, a demo).
    let publicPages: HTTPPages?
    /// Pages the API listener serves before the delegate sees a request (the web console).
    let apiPages: HTTPPages?

    /// `publicPages` answer non-upgrade requests on the public listener (else 426); `apiPages`
    /// answer API-listener requests before the delegate (nil from them: the delegate's request).
    package convenience init(configuration: LWSServerConfiguration, logger: Logger, publicPages: HTTPPages? = nil, apiPages: HTTPPages? = nil) {
        self.init(configuration: configuration, logger: logger, publicPages: publicPages, apiPages: apiPages,
                  index: 0, hub: nil, publicSockets: SharedCounter())
    }

    private init(
        configuration: LWSServerConfiguration, logger: Logger, publicPages: HTTPPages?, apiPages: HTTPPages?,
        index: Int, hub: LWSServerTransport?, publicSockets: SharedCounter
    ) {
        self.configuration = configuration
        self.logger = logger
        self.publicPages = publicPages
        self.apiPages = apiPages
        self.maxConnections = configuration.effectiveMaxConnections
        self.index = index
        self.threadCount = max(1, configuration.threads)
        self.hub = hub
        self.publicSockets = publicSockets
        self.outboxes = Array(repeating: [], count: max(1, configuration.threads))
        self.loop = ServiceLoop(name: index == 0 ? "hybridsync-lws" : "hybridsync-lws-\(index)")
    }

    /// All service threads' transports, the hub's first.
    var everyThread: [LWSServerTransport] { [self] + others }

    /// Creates the listeners and starts the service threads. `delegate` and `api` (the API
    /// listener's requests that are not pages) are called on the first.
    package func start(delegate: any ServerTransportDelegate, api: @escaping HTTPHandler) throws(LWSServerError) -> BoundAddresses {
        self.delegate = delegate
        self.api = api
        // Before any thread's TLS context exists: they all take these keys as lws sets them up.
        if let tls = configuration.tls { TLSSessionTickets.install(tls.ticketKeys ?? .random()) }
        let context = try makeContext()
        let publicVhost: OpaquePointer
        do {
            // No listener of lws's: each thread, the first too, accepts on an SO_REUSEPORT socket
            // of ours (`listenShared`), where `accept4` hands over the peer's address and the
            // socket flags; lws's accept loop costs a poll, two more fcntl and a later getpeername
            // per connection.
            publicVhost = try makePublicVhost(context, port: Int(CONTEXT_PORT_NO_LISTEN_SERVER))
        } catch {
            loop.destroy(context)
            freeBorrowedMemory()
            throw error
        }
        var apiInfo = vhostInfo(name: "api", host: configuration.apiHost, port: configuration.apiPort)
        apiInfo.options &= ~UInt64(LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT)
        guard let apiVhost = lws_create_vhost(context, &apiInfo) else {
            loop.destroy(context)
            freeBorrowedMemory()
            throw LWSServerError(description:
                "cannot listen on \(configuration.apiHost):\(configuration.apiPort) for the HTTP API "
                + "(port in use or address not on this host)")
        }
        self.publicVhost = publicVhost
        self.apiVhost = apiVhost
        let publicPort: Int
        let apiPort = Int(lws_get_vhost_listen_port(apiVhost))
        do {
            publicPort = try listenShared(in: context, port: configuration.publicPort)
            for index in 1..<threadCount {
                let other = LWSServerTransport(configuration: configuration, logger: logger, publicPages: publicPages,
                                               apiPages: nil, index: index, hub: self, publicSockets: publicSockets)
                try other.startOther(port: publicPort)
                others.append(other)
            }
        } catch {
            for other in others { other.loop.stopAndWait() }
            loop.destroy(context)
            freeBorrowedMemory()
            throw error
        }
        logger.info("service threads starting", metadata: [
            "threads": "\(threadCount)", "event_loop": "\(loop.usesEpoll ? "epoll (libev)" : "poll (lws)")",
        ])
        loop.start(context: context, afterTurn: { [self] serviceSeconds in
            tickIfDue()
            self.delegate?.endOfTurn()
            if threadCount > 1 { flushOutboxes() }
            return flushWriteQueue(serviceSeconds: serviceSeconds)
        }) { [self] in
            freeBorrowedMemory()
            dropConnections()
            self.delegate = nil
            self.api = nil
        }
        startTicking()
        let scheme = configuration.tls != nil ? "wss" : "ws"
        return BoundAddresses(
            publicURL: "\(scheme)://\(Self.urlHost(configuration.publicHost)):\(publicPort)/",
            apiURL: "http://\(Self.urlHost(configuration.apiHost)):\(apiPort)",
            publicPort: publicPort,
            apiPort: apiPort
        )
    }

    /// Threads 1…N-1: a context with the public vhost and a listening socket of its own on `port`.
    private func startOther(port: Int) throws(LWSServerError) {
        let context = try makeContext()
        do {
            publicVhost = try makePublicVhost(context, port: Int(CONTEXT_PORT_NO_LISTEN_SERVER))
            _ = try listenShared(in: context, port: port)
        } catch {
            loop.destroy(context)
            freeBorrowedMemory()
            throw error
        }
        loop.start(context: context, afterTurn: { [self] in
            tickIfDue()
            return flushWriteQueue(serviceSeconds: $0)
        }) { [self] in
            freeBorrowedMemory()
            dropConnections()
        }
        startTicking()
    }

    private func makeContext() throws(LWSServerError) -> OpaquePointer {
        var contextInfo = lws_context_creation_info()
        contextInfo.options = hs_lws_server_options(configuration.tls != nil ? 1 : 0)
        contextInfo.port = CONTEXT_PORT_NO_LISTEN
        contextInfo.user = Unmanaged.passUnretained(self).toOpaque()
        // lws's own timeouts only cover the TLS handshake here; HybridSync times everything else.
        contextInfo.timeout_secs = UInt32(max(1, configuration.httpHeaderTimeoutSeconds.rounded(.up)))
        // fd_limit_per_thread stays unset on purpose: below the open-file limit, lws 4.1 looks every
        // fd up by a linear scan (15k sockets: 3.5 ms per close). The caps in `admit` keep sockets
        // below the limit less the reserve instead, so accept() never meets EMFILE.
        contextInfo.pt_serv_buf_size = 16 * 1024
        // On libev's epoll loop (lws's libev plugin): a turn then costs what is ready instead of a
        // poll of every socket. Where the plugin is missing, lws's own poll loop.
        if let eventLoop = loop.makeEventLoop() {
            var loops: [UnsafeMutableRawPointer?] = [eventLoop]
            let options = contextInfo.options
            contextInfo.options |= UInt64(LWS_SERVER_OPTION_LIBEV)
            let context = loops.withUnsafeMutableBufferPointer { foreign in
                contextInfo.foreign_loops = foreign.baseAddress
                defer { contextInfo.foreign_loops = nil }
                return lws_create_context(&contextInfo)
            }
            if let context { return context }
            loop.destroy(nil)
            contextInfo.options = options
            logger.warning("libwebsockets' libev plugin is not usable (Debian: libwebsockets-evlib-ev); polling every socket on every turn instead")
        }
        guard let context = lws_create_context(&contextInfo) else {
            throw LWSServerError(description: "libwebsockets could not create its context (see the lws error above)")
        }
        return context
    }

    private func makePublicVhost(_ context: OpaquePointer, port: Int) throws(LWSServerError) -> OpaquePointer {
        var publicInfo = vhostInfo(name: "public", host: configuration.publicHost, port: port)
        if let files = configuration.tls {
            publicInfo.ssl_cert_filepath = UnsafePointer(cString(files.certificatePath))
            publicInfo.ssl_private_key_filepath = UnsafePointer(cString(files.privateKeyPath))
            publicInfo.ssl_options_set = hs_lws_tls12_min_options()
            publicInfo.alpn = UnsafePointer(cString("http/1.1"))
        }
        guard let publicVhost = lws_create_vhost(context, &publicInfo) else {
            throw LWSServerError(description:
                "cannot listen on \(configuration.publicHost):\(configuration.publicPort) for WebSockets "
                + "(port in use, address not on this host, or unreadable TLS files)")
        }
        return publicVhost
    }

    /// Ticks ride on the turns the thread makes anyway (``tickIfDue()`` after each); this timer wakes
    /// an idle thread only when an interval passed without a tick and something is due (a socket's
    /// deadline, or the delegate's ``ServerTransportDelegate/secondsUntilTickDue()``, noted after
    /// every turn in ``tickDue``). A wake-up is not free: lws 4.1 polls every socket on each turn
    /// (about 5 ms at 10,000 sockets on the 2-core VM).
    private func startTicking() {
        let interval = configuration.tickInterval
        let seconds = tickSeconds
        tickTask = Task { [loop, lastTick, tickDue] in
            while !Task.isCancelled {
                let now = Self.monotonicSeconds()
                let idle = now - lastTick.seconds
                let due = tickDue.seconds
                if idle < seconds {
                    try? await Task.sleep(for: .seconds(seconds - idle))
                } else if now < due {
                    try? await Task.sleep(for: .seconds(min(seconds, due - now)))
                } else {
                    loop.execute { [weak self] in self?.tickIfDue() }
                    try? await Task.sleep(for: interval)
                }
            }
        }
    }

    /// Runs ``tick()`` when an interval has passed since the last one; then notes when the next is due.
    func tickIfDue() {
        if Self.monotonicSeconds() - lastTick.seconds >= tickSeconds { tick() }
        var due = deadlines.nextDeadline ?? .infinity
        if closedSinceTrim > 0 { due = min(due, lastCloseAt + Self.trimQuietSeconds) }  // the end-of-wave trim
        if hub == nil {  // this thread runs the delegate's tick too
            if let seconds = delegate?.secondsUntilTickDue() {
                due = min(due, Self.monotonicSeconds() + seconds)
            } else {
                due = 0
            }
        }
        tickDue.seconds = due
    }

    private var tickSeconds: Double {
        let parts = configuration.tickInterval.components
        return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
    }

    /// Graceful stop: refuses new WebSockets (503), lets the delegate say goodbye to its clients
    /// (``ServerTransportDelegate/shuttingDown(code:reason:)``), closes every open WebSocket with
    /// `code`, waits up to `grace` for the clients to complete the close handshake, then stops the
    /// service thread.
    package func shutdown(code: CloseCode = .shutdown, reason: String = "server shutting down", grace: Duration = .seconds(3)) async {
        let threads = everyThread
        for thread in threads { thread.tickTask?.cancel() }
        loop.execute { [self] in
            draining = true
            delegate?.shuttingDown(code: code, reason: reason)
            for (id, connection) in connections where connection.isWebSocket {
                closeHere(id, code: code, reason: reason)
            }
            // After the goodbyes just queued for them, at the end of this turn.
            for other in others { outboxes[other.index].append(.shutdown(code, reason)) }
        }
        let open = { threads.reduce(0) { $0 + $1.openWebSockets.load(ordering: .relaxed) } }
        let deadline = ContinuousClock.now + grace
        while open() > 0, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        let remaining = open()
        if remaining > 0 {
            logger.info("shutdown grace period over, dropping remaining connections", metadata: ["connections": "\(remaining)"])
        }
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            Thread.detachNewThread {
                for thread in threads.reversed() { thread.loop.stopAndWait() }
                done.resume()
            }
        }
    }

    // MARK: ServerTransport (service thread)

    /// Runs `work` on the service thread, where the delegate runs (for example a reconfiguration).
    package func onServiceThread(_ work: @escaping @Sendable () -> Void) {
        loop.execute(work)
    }

    package func send(_ message: OutboundMessage, to connections: some Sequence<ConnectionID>) {
        assertOnServiceThread()
        // In id order, which is each thread's accept order, not the hub's hash order: the kernel's
        // socket structures are then visited about in the order they were allocated (S2L: a fifth
        // less server CPU per delivery, docs/PERFORMANCE.md).
        guard threadCount > 1 else {
            var ids = connections.map(\.rawValue)
            ids.sort()
            return deliver(message, to: ids)
        }
        var byThread = [[UInt64]](repeating: [], count: threadCount)
        for connection in connections { byThread[thread(of: connection.rawValue)].append(connection.rawValue) }
        for index in 0..<threadCount { byThread[index].sort() }
        deliver(message, to: byThread[0])
        for index in 1..<threadCount where !byThread[index].isEmpty {
            outboxes[index].append(.send(message, byThread[index]))
        }
    }

    /// Queues `message` for one connection: a command's reply, without the generic sequence form.
    package func send(_ message: OutboundMessage, to connection: ConnectionID) {
        assertOnServiceThread()
        let index = thread(of: connection.rawValue)
        guard index == 0 else { return outboxes[index].append(.send(message, [connection.rawValue])) }
        deliver(message, to: CollectionOfOne(connection.rawValue))
    }

    /// Queues `message` for this thread's `connections` (one frame of it for all of them).
    func deliver(_ message: OutboundMessage, to connections: some Sequence<UInt64>) {
        var frame: LWSFrame?
        for id in connections {
            guard let edge = self.connections[id], edge.isWebSocket else { continue }
            let shared = frame ?? LWSFrame(message.bytes)
            frame = shared
            switch edge.offer(shared, mayCoalesce: message.mayCoalesce) {
            case .drop:
                continue  // closing: nothing after the close frame
            case .overflow:
                let connection = ConnectionID(id)
                logger.info("slow consumer: outbound queue over limit, closing", metadata: [
                    "connection": "\(connection)", "queued_bytes": "\(edge.outbox.queuedBytes)",
                ])
                // It is not reading: drop its backlog, and do not wait for a close reply.
                edge.dropBacklog()
                toHub { $0.outboundQueueOverflowed(connection) }
                fail(edge, code: CloseCode.slowConsumer.rawValue, reason: CloseCode.slowConsumer.name)
            case .writeLater:
                delayWrite(edge)
            case .writeNow:
                edge.writeDelayed = false  // a reply does not wait: it takes the waiting publications along
                scheduleWrite(edge)
            }
        }
    }

    /// Holds `edge`'s write until the current window ends, so what is published
    /// meanwhile goes out in the same frames (one window for every connection: one timer).
    private func delayWrite(_ edge: EdgeConnection) {
        // Already waiting, or its window is over and its write is queued (this one joins it).
        guard !edge.writeDelayed, !edge.writeScheduled else { return }
        edge.writeDelayed = true
        if delayedWrites.isEmpty {
            let delay = Duration.milliseconds(configuration.writeDelayMillis)
            Task { [loop] in
                try? await Task.sleep(for: delay)
                loop.execute { [weak self] in self?.flushDelayedWrites() }
            }
        }
        delayedWrites.append(edge)
    }

    private func flushDelayedWrites() {
        let due = delayedWrites
        delayedWrites.removeAll(keepingCapacity: true)
        for edge in due where edge.writeDelayed {
            edge.writeDelayed = false
            if edge.isOpen { scheduleWrite(edge) }
        }
    }

    package func close(_ connection: ConnectionID, code: CloseCode, reason: String) {
        assertOnServiceThread()
        let owner = thread(of: connection.rawValue)
        if owner == index {
            closeHere(connection.rawValue, code: code, reason: reason)
        } else {
            outboxes[owner].append(.close(connection.rawValue, code, reason))
        }
    }

    func closeHere(_ connection: UInt64, code: CloseCode, reason: String) {
        guard let edge = connections[connection], edge.isWebSocket else { return }
        startClose(edge, code: code.rawValue, reason: reason)
    }

    // MARK: Time

    /// Drops the sockets whose deadline passed (a bounded batch), then runs the server's time-driven
    /// work; asks to run again at once while either has more due, so a mass expiry is spread over
    /// several service rounds instead of stalling the thread.
    func tick() {
        let now = Self.monotonicSeconds()
        lastTick.seconds = now
        let due = deadlines.popDue(now: now, limit: Self.expiriesPerRound) { time, id in
            connections[id]?.deadline == time  // not replaced since, not closed
        }
        var more = due.count == Self.expiriesPerRound
        for entry in due {
            guard let edge = connections[entry.key] else { continue }
            edge.deadline = nil
            logger.debug("deadline passed, dropping socket", metadata: ["connection": "c\(edge.id)"])
            lws_set_timeout(edge.wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC)
        }
        if hub == nil, delegate?.tick() == true { more = true }
        // After a wave of closes, hand the freed heap back to the system (glibc keeps it otherwise):
        // every closesPerTrim closes, and once the closes stop, for the rest of the wave.
        if closedSinceTrim >= Self.closesPerTrim || (closedSinceTrim > 0 && now - lastCloseAt >= Self.trimQuietSeconds) {
            closedSinceTrim = 0
            hs_malloc_trim()
        }
        if more { loop.execute { [weak self] in self?.tick() } }
    }

    /// Closed sockets after which freed memory is returned to the system.
    static let closesPerTrim = 1024

    /// Seconds without a close after which the closes not yet trimmed are (the end of a wave).
    static let trimQuietSeconds = 1.0

    /// Sockets dropped per service round at most (a mass expiry is spread over rounds).
    static let expiriesPerRound = 32

    func setDeadline(_ edge: EdgeConnection, in seconds: Double) {
        let time = Self.monotonicSeconds() + seconds
        edge.deadline = time
        deadlines.schedule(edge.id, at: time)
    }

    static func monotonicSeconds() -> Double { ServiceLoop.monotonicSeconds() }

    /// Seconds a requested close (or a queued answer) may take before the socket is dropped.
    static let closeDeadlineSeconds = 10.0

    // MARK: Helpers

    private func cString(_ string: String) -> UnsafeMutablePointer<CChar> {
        let box = CStringBox(string)
        strings.append(box)
        return box.pointer
    }

    private func makeProtocols() -> UnsafeMutablePointer<lws_protocols> {
        let array = UnsafeMutablePointer<lws_protocols>.allocate(capacity: 2)
        var proto = hs_lws_protocol_terminator()
        proto.name = UnsafePointer(cString(Self.protocolName))
        proto.callback = lwsServerCallback
        proto.per_session_data_size = MemoryLayout<UInt64>.size
        proto.rx_buffer_size = 16 * 1024
        proto.tx_packet_size = 64 * 1024
        array[0] = proto
        array[1] = hs_lws_protocol_terminator()
        protocolArrays.append(array)
        return array
    }

    static let protocolName = "hybridsync-edge"

    /// A vhost whose accepted sockets are bound to lws's raw role and our one protocol.
    func vhostInfo(name: String, host: String, port: Int) -> lws_context_creation_info {
        var info = lws_context_creation_info()
        info.vhost_name = UnsafePointer(cString(name))
        info.port = Int32(port)
        info.iface = UnsafePointer(cString(host))
        info.protocols = UnsafePointer(makeProtocols())
        info.options = hs_lws_server_options(configuration.tls != nil ? 1 : 0) | UInt64(LWS_SERVER_OPTION_ADOPT_APPLY_LISTEN_ACCEPT_CONFIG)
        info.listen_accept_role = UnsafePointer(cString("raw-skt"))
        info.listen_accept_protocol = UnsafePointer(cString(Self.protocolName))
        return info
    }

    /// After the context is gone (its sockets closed): what was still queued for them goes too.
    /// A close frame queued during shutdown for a peer that never answered outlived the service
    /// thread, and LeakSanitizer reported it at exit: presumably it finds no pointer to the frame
    /// because an enum with several class payloads (``EdgeConnection/Chunk``) keeps its case in
    /// the pointer's spare bits.
    private func dropConnections() {
        writeQueue.removeAll()
        answerQueue.removeAll()
        delayedWrites.removeAll()
        connections.removeAll()
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

/// A time (monotonic seconds) one thread writes and another reads.
final class SharedTime: Sendable {
    private let bits = Atomic<UInt64>(0)

    var seconds: Double {
        get { Double(bitPattern: bits.load(ordering: .relaxed)) }
        set { bits.store(newValue.bitPattern, ordering: .relaxed) }
    }
}
