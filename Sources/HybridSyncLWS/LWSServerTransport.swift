import CLibWebSockets
import Foundation
package import HybridSyncHTTP
package import HybridSyncProtocol
package import HybridSyncServerTransport
package import Logging
import Synchronization

/// The HybridSync server transport on libwebsockets: a public WebSocket listener (subprotocol
/// `hybridsync.v1`) and a backend HTTP API listener, serviced by one or more threads.
///
/// lws provides the event loops, the sockets and TLS; both listeners take accepted sockets in lws's
/// raw mode, and HTTP/1.1 and RFC 6455 framing are HybridSync's own (``HTTPRequestParser``,
/// ``WebSocketFrameDecoder``). That is what gives each request exactly one response, refuses
/// unmasked frames and invalid UTF-8, and leaves lws's HTTP/2 code unreachable (docs/SECURITY.md).
///
/// This type is the coordinator: it starts and stops the service threads, each an ``EdgeWorker``
/// with its own sockets, and routes the server's sends and closes to the thread that owns the
/// connection. The delegate (the server) and the API's handler run on the first worker's thread,
/// the hub, and the ``ServerTransport`` methods must be called there too, so the server's state
/// needs no locks. The threading model is in `EdgeWorker+Threads.swift` and ARCHITECTURE.md.
package final class LWSServerTransport: ServerTransport, @unchecked Sendable {
    let configuration: LWSServerConfiguration
    let logger: Logger
    /// The service threads' workers, the hub's first.
    private(set) var workers: [EdgeWorker] = []
    /// Pages the public listener serves besides WebSocket upgrades (the browser module, a demo).
    let publicPages: HTTPPages?
    /// Pages the API listener serves before the delegate sees a request (the web console).
    let apiPages: HTTPPages?
    /// Sockets on the public listener over all threads (the connection cap is for the process).
    let publicSockets = SharedCounter()

    // Hub-thread state.
    var delegate: (any ServerTransportDelegate)?
    /// Answers the API listener's requests after `apiPages` (the backend API's router).
    var api: HTTPHandler?
    /// What each other thread gets at the end of the hub's turn.
    private var outboxes: [[EdgeOperation]]

    /// `publicPages` answer non-upgrade requests on the public listener (else 426); `apiPages`
    /// answer API-listener requests before the delegate (nil from them: the delegate's request).
    package init(configuration: LWSServerConfiguration, logger: Logger, publicPages: HTTPPages? = nil, apiPages: HTTPPages? = nil) {
        self.configuration = configuration
        self.logger = logger
        self.publicPages = publicPages
        self.apiPages = apiPages
        let threads = max(1, configuration.threads)
        self.outboxes = Array(repeating: [], count: threads)
        workers = (0..<threads).map { EdgeWorker(configuration: configuration, logger: logger, index: $0, transport: self) }
    }

    /// Service threads, one worker each.
    var threadCount: Int { workers.count }

    /// The first worker: it runs the delegate and the API listener.
    var hub: EdgeWorker { workers[0] }

    /// Creates the listeners and starts the service threads. `delegate` and `api` (the API
    /// listener's requests that are not pages) are called on the hub's.
    package func start(delegate: any ServerTransportDelegate, api: @escaping HTTPHandler) throws(LWSServerError) -> BoundAddresses {
        self.delegate = delegate
        self.api = api
        // Before any thread's TLS context exists: they all take these keys as lws sets them up.
        if let tls = configuration.tls { TLSSessionTickets.install(tls.ticketKeys ?? .random()) }
        let (context, publicPort, apiPort) = try hub.startHub()
        var started: [EdgeWorker] = []
        do {
            for worker in workers.dropFirst() {
                try worker.startOther(port: publicPort)
                started.append(worker)
            }
        } catch {
            for worker in started { worker.loop.stopAndWait() }
            hub.abandon(context)
            throw error
        }
        logger.info("service threads starting", metadata: [
            "threads": "\(threadCount)", "event_loop": "\(hub.loop.usesEpoll ? "epoll (libev)" : "poll (lws)")",
        ])
        hub.runHub(context)
        let scheme = configuration.tls != nil ? "wss" : "ws"
        return BoundAddresses(
            publicURL: "\(scheme)://\(Self.urlHost(configuration.publicHost)):\(publicPort)/",
            apiURL: "http://\(Self.urlHost(configuration.apiHost)):\(apiPort)",
            publicPort: publicPort,
            apiPort: apiPort
        )
    }

    /// Graceful stop: refuses new WebSockets (503), lets the delegate say goodbye to its clients
    /// (``ServerTransportDelegate/shuttingDown(code:reason:)``), closes every open WebSocket with
    /// `code`, waits up to `grace` for the clients to complete the close handshake, then stops the
    /// service threads.
    package func shutdown(code: CloseCode = .shutdown, reason: String = "server shutting down", grace: Duration = .seconds(3)) async {
        let workers = workers
        for worker in workers { worker.stopTicking() }
        hub.loop.execute { [self] in
            hub.draining = true
            delegate?.shuttingDown(code: code, reason: reason)
            for (id, connection) in hub.connections where connection.isWebSocket {
                hub.closeHere(id, code: code, reason: reason)
            }
            // After the goodbyes just queued for them, at the end of this turn.
            for index in 1..<threadCount { outboxes[index].append(.shutdown(code, reason)) }
        }
        let open = { workers.reduce(0) { $0 + $1.openWebSockets.load(ordering: .relaxed) } }
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
                for worker in workers.reversed() { worker.loop.stopAndWait() }
                done.resume()
            }
        }
    }

    /// Runs `work` on the hub's thread, where the delegate runs (for example a reconfiguration).
    package func onServiceThread(_ work: @escaping @Sendable () -> Void) {
        hub.loop.execute(work)
    }

    // MARK: ServerTransport (hub thread)

    /// Queues `message` for each connection, on the thread that owns it.
    package func send(_ message: OutboundMessage, to connections: some Sequence<ConnectionID>) {
        hub.assertOnServiceThread()
        // In id order, which is each thread's accept order, not the hub's hash order: the kernel's
        // socket structures are then visited about in the order they were allocated (S2L: a fifth
        // less server CPU per delivery, docs/PERFORMANCE.md).
        guard threadCount > 1 else {
            var ids = connections.map(\.rawValue)
            ids.sort()
            return hub.deliver(message, to: ids)
        }
        var byThread = [[UInt64]](repeating: [], count: threadCount)
        for connection in connections { byThread[thread(of: connection.rawValue)].append(connection.rawValue) }
        for index in 0..<threadCount { byThread[index].sort() }
        hub.deliver(message, to: byThread[0])
        for index in 1..<threadCount where !byThread[index].isEmpty {
            outboxes[index].append(.send(message, byThread[index]))
        }
    }

    /// Queues `message` for one connection: a command's reply, without the generic sequence form.
    package func send(_ message: OutboundMessage, to connection: ConnectionID) {
        hub.assertOnServiceThread()
        let index = thread(of: connection.rawValue)
        guard index == 0 else { return outboxes[index].append(.send(message, [connection.rawValue])) }
        hub.deliver(message, to: CollectionOfOne(connection.rawValue))
    }

    /// Sends what is queued for the connection, then its close frame with `code`.
    package func close(_ connection: ConnectionID, code: CloseCode, reason: String) {
        hub.assertOnServiceThread()
        let owner = thread(of: connection.rawValue)
        if owner == 0 {
            hub.closeHere(connection.rawValue, code: code, reason: reason)
        } else {
            outboxes[owner].append(.close(connection.rawValue, code, reason))
        }
    }

    /// The thread that owns `connection`.
    func thread(of connection: UInt64) -> Int { Int(connection % UInt64(threadCount)) }

    /// Hub thread, at the end of its turn: hands each thread what was queued for it during the turn.
    func flushOutboxes() {
        for index in 1..<threadCount where !outboxes[index].isEmpty {
            let operations = outboxes[index]
            outboxes[index].removeAll(keepingCapacity: true)
            let target = workers[index]
            target.loop.execute { [target] in target.apply(operations) }
        }
    }

    private static func urlHost(_ host: String) -> String {
        host.contains(":") ? "[\(host)]" : host
    }
}
