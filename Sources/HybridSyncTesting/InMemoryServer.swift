import Foundation
import HybridSyncAPI
public import HybridSyncClient
public import HybridSyncHTTP
import HybridSyncWebSocket
public import HybridSyncBroker
public import HybridSyncProtocol
public import HybridSyncServerTransport
public import HybridSyncServer
public import Logging
import NIOConcurrencyHelpers

/// A real ``SyncServer`` behind an in-memory transport: no sockets, no threads of its own.
///
/// ``TestServer/runtime(user:tokenLifetime:configuration:)`` gives client runtimes connected to
/// it and ``api`` makes backend calls through the router the daemon runs (``handle(_:)`` for raw
/// requests). Every call into the server is serialized by one lock, as the lws thread does in the
/// daemon. The edge's limits hold here too: a client message over the configuration's
/// `maxMessageBytes` closes its connection with 1009, and output follows the daemon's
/// `ConnectionOutbox` (nothing after a close; a connection whose client stopped reading,
/// ``InMemoryConnection/pauseReading()``, is closed with 4001 once `maxQueuedBytes` wait for it).
/// Nothing here needs `import HybridSyncServer` unless you pass your own ``ServerConfiguration``.
public final class InMemoryServer: ServerTransport, TestServer, @unchecked Sendable {
    /// Mints client tokens this server accepts (for a server with an HS256 secret).
    public let tokens: TokenMinter
    /// The wall clock the server reads (token expiry, ban expiry, history TTL).
    public let clock: any ServerClock
    private let apiKey: String
    private let maxMessageBytes: Int
    private let maxQueuedBytes: Int
    private let lock = NSRecursiveLock()
    private let server: SyncServer
    private let router: BackendAPIRouter
    private var connections: [ConnectionID: InMemoryConnection] = [:]
    private var nextID: UInt64 = 1
    private var pendingCloses: [(ConnectionID, CloseCode, String)] = []
    /// Connections whose outbox overflowed during the current server call (closed after it, 4001).
    private var overflowed: [ConnectionID] = []

    /// A server on `broker` (the memory engine by default; any engine whose results arrive within
    /// one turn works, such as the SQLite one). `maxQueuedBytes` is the daemon's
    /// `limits.maxQueuedBytes` (1 MiB by default). `hooks` stands in for the app backend's proxies,
    /// `webhooks` for the webhook outbox.
    public init(
        configuration: ServerConfiguration, broker: any Broker = MemoryBroker(), hooks: (any BackendHooks)? = nil,
        webhooks: (any WebhookSink)? = nil, clock: any ServerClock = ManualServerClock(), maxQueuedBytes: Int = 1024 * 1024,
        logger: Logger = Logger(label: "hybridsync.test", factory: { _ in SwiftLogNoOpLogHandler() })
    ) {
        apiKey = configuration.apiKey
        maxMessageBytes = configuration.maxMessageBytes
        self.maxQueuedBytes = maxQueuedBytes
        tokens = TokenMinter(secret: String(decoding: configuration.auth.hmacSecret ?? [], as: UTF8.self))
        self.clock = clock
        let transport = WeakTransport()
        server = SyncServer(configuration: configuration, transport: transport, broker: broker, hooks: hooks, webhooks: webhooks, clock: clock, logger: logger)
        router = BackendAPIRouter(server: server, logger: logger)
        transport.target = self
    }

    /// A server with the default namespaces (docs/CONFIGURATION.md) on the memory engine, whose
    /// time moves only when `clock` is advanced.
    public convenience init(clock: ManualServerClock = ManualServerClock()) {
        self.init(configuration: ServerConfiguration(apiKey: "test-api-key", tokenSecret: "test-token-secret"), clock: clock)
    }

    /// The backend API, answered in memory by the daemon's router (each call is one service turn).
    public var api: BackendAPIClient { BackendAPIClient(transport: InMemoryAPITransport(server: self), apiKey: apiKey) }

    /// A client transport whose connections end in this server.
    public var clientTransport: any ClientTransport { InMemoryClientTransport(server: self) }

    /// Any URL reaches this server through ``clientTransport``.
    public var webSocketURL: String { "memory://" }

    /// The server's clock.
    public func now() -> Double { clock.now() }

    /// Moves a ``ManualServerClock`` `seconds` on, a second at a time, running the server's timed
    /// work after each step; on another clock, waits that long and runs it once.
    public func passTime(_ seconds: Double) async throws {
        guard let manual = clock as? ManualServerClock else {
            try await Task.sleep(for: .seconds(seconds))
            tick()
            return
        }
        var left = seconds
        while left > 0 {
            let step = min(left, 1)
            manual.advance(by: step)
            tick()
            left -= step
        }
    }

    /// Runs a backend API request; its answer is ready when the call returns (each call is one
    /// service turn, which ends with the broker's commit).
    public func handle(_ request: HTTPRequest) -> HTTPResponse {
        withServer { server in
            var answer: HTTPResponse?
            router.handle(request) { answer = $0 }
            server.endOfTurn()
            return answer ?? HTTPResponse(status: 500, json: [
                "error": ["code": "no_answer", "message": "the storage engine did not answer within one turn; use one that does (memory, SQLite)"],
            ])
        }
    }

    /// Runs the server's time-driven work (what the daemon does every 250 ms); call it after
    /// advancing the ``ManualServerClock``.
    @discardableResult
    public func tick() -> Bool {
        withServer { $0.tick() }
    }

    /// Runs `body` with the server as one service turn, serialized with everything else: the
    /// broker's commit and the closes the server asked for follow it, as on the lws thread.
    public func withServer<T>(_ body: (SyncServer) -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        let result = body(server)
        server.endOfTurn()
        // Like the lws transport, an overflow is reported, and a close the server asks for
        // happens, after the server's current call.
        while let id = overflowed.popLast() {
            guard let connection = connections.removeValue(forKey: id) else { continue }
            server.outboundQueueOverflowed(id)
            server.connectionFailed(id, code: .slowConsumer)
            connection.finish(code: .slowConsumer, reason: CloseCode.slowConsumer.name)
        }
        while !pendingCloses.isEmpty {
            let (id, code, reason) = pendingCloses.removeFirst()
            guard let connection = connections.removeValue(forKey: id) else { continue }
            server.connectionClosed(id)
            connection.finish(code: code, reason: reason)
        }
        return result
    }

    /// Open connections as the server counts them.
    public var connectionCount: Int { withServer { $0.connectionCount } }

    /// Opens a raw connection (no client runtime) for protocol-level tests.
    public func openConnection() -> InMemoryConnection {
        lock.lock()
        let id = ConnectionID(nextID)
        nextID += 1
        let connection = InMemoryConnection(id: id, server: self, outbox: ConnectionOutbox(maxQueuedBytes: maxQueuedBytes, delaysWrites: false))
        connections[id] = connection
        lock.unlock()
        withServer { $0.connectionOpened(id, info: ConnectionInfo(remoteAddress: "in-memory")) }
        return connection
    }

    func clientSent(_ frame: [UInt8], on id: ConnectionID) {
        guard frame.count <= maxMessageBytes else {
            // As the daemon's edge: refused from its length, closed with 1009, the server told.
            lock.lock()
            let connection = connections.removeValue(forKey: id)
            lock.unlock()
            guard let connection else { return }
            withServer { $0.connectionFailed(id, code: .messageTooBig) }
            connection.finish(code: .messageTooBig, reason: "message over \(maxMessageBytes) bytes")
            return
        }
        withServer { $0.received(frame, from: id) }
    }

    func clientClosed(_ id: ConnectionID, code: CloseCode, reason: String) {
        lock.lock()
        let connection = connections.removeValue(forKey: id)
        lock.unlock()
        guard let connection else { return }
        withServer { $0.connectionClosed(id) }
        connection.finish(code: code, reason: reason)
    }

    // MARK: ServerTransport (called with the lock held, from inside the server)

    /// Delivers `message` to each connection through its outbox (called inside a server call).
    public func send(_ message: OutboundMessage, to ids: some Sequence<ConnectionID>) {
        for id in ids {
            if connections[id]?.offer(message) == .overflow { overflowed.append(id) }
        }
    }

    /// Closes the connection with `code` after the server's current call; nothing is delivered to it after this.
    public func close(_ id: ConnectionID, code: CloseCode, reason: String) {
        guard connections[id]?.startClosing() == true else { return }
        pendingCloses.append((id, code, reason))
    }
}

/// The server's view of its ``InMemoryServer``, held weakly: the in-memory server owns its
/// `SyncServer`, so a strong reference back would keep both alive forever.
private final class WeakTransport: ServerTransport {
    weak var target: InMemoryServer?

    func send(_ message: OutboundMessage, to connections: some Sequence<ConnectionID>) {
        target?.send(message, to: connections)
    }

    func close(_ connection: ConnectionID, code: CloseCode, reason: String) {
        target?.close(connection, code: code, reason: reason)
    }
}

/// The client end of an in-memory connection. Besides the `events` stream it keeps a log of what
/// the server sent, so protocol tests can read replies synchronously.
public final class InMemoryConnection: ClientConnection, @unchecked Sendable {
    /// The server's id of this connection (for tests that drive the server as its transport).
    public let id: ConnectionID
    /// Everything the server sends, then the close.
    public let events: AsyncStream<ClientConnectionEvent>
    private let continuation: AsyncStream<ClientConnectionEvent>.Continuation
    private weak var server: InMemoryServer?
    private let log = NIOLockedValueBox<(messages: [ServerMessage], closed: (code: CloseCode, reason: String)?)>(([], nil))
    /// The server's side of the socket: the outbox, and what waits while the client does not read.
    private let output: NIOLockedValueBox<(outbox: ConnectionOutbox, reading: Bool, held: [[UInt8]])>

    init(id: ConnectionID, server: InMemoryServer, outbox: ConnectionOutbox) {
        self.id = id
        self.server = server
        output = NIOLockedValueBox((outbox, true, []))
        (events, continuation) = AsyncStream.makeStream(bufferingPolicy: .unbounded)
    }

    /// The client stops reading: what the server sends waits, counted against its
    /// `maxQueuedBytes`, as in a socket's buffers; past them the server closes with 4001.
    public func pauseReading() {
        output.withLockedValue { $0.reading = false }
    }

    /// The client reads again: what waited arrives, in order.
    public func resumeReading() {
        let held = output.withLockedValue { output in
            defer { output.held.removeAll() }
            output.reading = true
            for frame in output.held { output.outbox.wrote(frame.count) }
            return output.held
        }
        for frame in held { deliver(frame) }
    }

    /// A message from the server, through the outbox (called with the server's lock held).
    func offer(_ message: OutboundMessage) -> ConnectionOutbox.Decision {
        let (decision, now) = output.withLockedValue { output -> (ConnectionOutbox.Decision, Bool) in
            let decision = output.outbox.offer(message.bytes.count, mayCoalesce: message.mayCoalesce)
            switch decision {
            case .writeNow, .writeLater:
                guard output.reading else {
                    output.held.append(message.bytes)
                    return (decision, false)
                }
                output.outbox.wrote(message.bytes.count)
                return (decision, true)
            case .overflow:
                output.held.removeAll()
                output.outbox.droppedBacklog(kept: 0)
                return (decision, false)
            case .drop:
                return (decision, false)
            }
        }
        if now { deliver(message.bytes) }
        return decision
    }

    /// The server closes: false when it already is closing (or overflowed).
    func startClosing() -> Bool {
        output.withLockedValue { $0.outbox.close() }
    }

    /// Sends one text frame (a client message over `maxMessageBytes` closes the connection with 1009).
    public func send(_ frame: [UInt8]) { server?.clientSent(frame, on: id) }

    /// Sends one text frame.
    public func send(_ text: String) { send(Array(text.utf8)) }

    /// Closes the connection from the client's side.
    public func close(code: CloseCode, reason: String) { server?.clientClosed(id, code: code, reason: reason) }

    /// Returns and forgets the messages the server sent so far (lines that do not decode are skipped).
    public func takeMessages() -> [ServerMessage] {
        log.withLockedValue { log in
            defer { log.messages.removeAll() }
            return log.messages
        }
    }

    /// The close code and reason, once the server closed the connection.
    public var closed: (code: CloseCode, reason: String)? { log.withLockedValue { $0.closed } }

    func deliver(_ frame: [UInt8]) {
        let messages = FrameCodec.messages(in: frame).compactMap { try? ServerMessage.decode($0) }
        log.withLockedValue { $0.messages += messages }
        continuation.yield(.frame(frame))
    }

    func finish(code: CloseCode, reason: String) {
        // What was queued before the close reaches a client that reads again, as from a socket.
        let held = output.withLockedValue { output in
            defer { output.held.removeAll() }
            return output.held
        }
        for frame in held { deliver(frame) }
        log.withLockedValue { $0.closed = (code, reason) }
        continuation.yield(.closed(code: code, reason: reason))
        continuation.finish()
    }
}

/// Answers a ``BackendAPIClient``'s requests with an ``InMemoryServer``.
struct InMemoryAPITransport: BackendAPITransport {
    let server: InMemoryServer

    func send(method: String, path: String, body: [UInt8]?, authorization: String?) async throws -> BackendAPIClient.Response {
        let parts = path.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let response = server.handle(HTTPRequest(
            method: method, path: String(parts[0]), query: parts.count > 1 ? String(parts[1]) : "",
            headers: authorization.map { [("authorization", $0)] } ?? [], body: body ?? []
        ))
        return BackendAPIClient.Response(status: response.status, body: response.body)
    }
}

/// Connects client runtimes to an ``InMemoryServer``.
struct InMemoryClientTransport: ClientTransport {
    let server: InMemoryServer

    func connect(to url: String) async throws -> any ClientConnection {
        server.openConnection()
    }
}
