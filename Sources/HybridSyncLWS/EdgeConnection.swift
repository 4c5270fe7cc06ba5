import CLibWebSockets
import DequeModule
import HybridSyncHTTP
import HybridSyncWebSocket

/// Which listener a socket came in on.
enum Listener: Sendable {
    /// WebSocket upgrades (and nothing else) for clients.
    case `public`
    /// The backend HTTP API.
    case api
}

/// One accepted socket, owned by the service thread: HTTP/1.1 until a WebSocket upgrade, then
/// RFC 6455 frames. Every byte in and out passes through here.
final class EdgeConnection {
    /// Where the connection is. The transitions: `http` → `awaitingResponse` → `http` (an API
    /// request answered, kept alive); `http` → `webSocket` (an upgrade); any → `closing`, and in
    /// `closing` `flushing` → `halfClosed`.
    enum Phase: Equatable {
        /// Reading HTTP requests with ``parser``.
        case http
        /// An API request is with the server; input that arrives now is pipelining (`pipelined`
        /// then: the socket closes after the answer).
        case awaitingResponse(pipelined: Bool)
        /// An upgraded WebSocket, read with ``decoder``; `echo` for the conformance endpoint.
        case webSocket(echo: Bool)
        /// Nothing more is read; ``Closing`` says how the socket goes.
        case closing(Closing)
    }

    /// How a closing connection goes.
    enum Closing: Equatable {
        /// lws drops it at once (an idle API connection evicted, a failed socket).
        case dropped
        /// Its queue is written first (an HTTP `Connection: close` answer, a close frame sent in
        /// reply or on a protocol error), then our side is shut.
        case flushing
        /// Our side of the TCP connection is shut (FIN sent after the last byte); what the peer
        /// still sends is read and dropped until it closes too, so unread input never turns our
        /// close into a reset that destroys the answer before the peer reads it (a "lingering close").
        case halfClosed
    }

    /// Queued output.
    enum Chunk {
        /// A HybridSync text message; its WebSocket header is written at send time (several pending
        /// ones may share one frame).
        case message(LWSFrame)
        /// Bytes to write as they are (HTTP responses, control frames).
        case raw(LWSFrame)
        /// What the socket did not take of a write it started: goes first, and is never dropped
        /// (the stream would be corrupt without it).
        case rest(LWSFrame)
    }

    let id: UInt64
    let wsi: OpaquePointer
    /// The socket's file descriptor.
    let socket: Int32
    let listener: Listener
    var phase: Phase = .http
    // The fields a fan-out reads come first, in the object's first cache lines (Swift lays out a
    // class's stored properties in order; the parser and decoder are large): in a fan-out to
    // thousands of sockets, each connection's visit misses the cache (docs/PERFORMANCE.md).
    /// In the transport's table: false once lws has closed the socket.
    var isOpen = true
    /// Output goes to the socket with `send`, not through `lws_write` (a WebSocket without TLS).
    var writesDirectly = false
    /// The socket took only part of the last write: the next waits for lws's WRITEABLE. The rest
    /// is at the front of ``queue`` (direct writes) or held by lws, which writes it first.
    var awaitsWriteable = false
    var queue: Deque<Chunk> = []
    /// The output policy: byte budget, nothing after a close, which messages may wait.
    var outbox: ConnectionOutbox
    /// Waits in the transport's write-delay batch (its write is scheduled when the batch ends).
    var writeDelayed = false
    /// In the transport's write queue for the end of this turn.
    var writeScheduled = false
    /// The current deadline (monotonic seconds): when it passes, the socket is dropped.
    var deadline: Double?
    /// API connections kept alive after an answer: since when (monotonic seconds) it waits for
    /// its next request; nil before its first answer and while a request is read or answered.
    var idleSince: Double?
    /// Whether the server was told about this WebSocket (and so must be told when it closes).
    var announced = false
    /// lws's own timeout may still be armed: a TLS socket gets one for its handshake, and lws 4.1
    /// arms another when the handshake ends (`PENDING_TIMEOUT_ESTABLISH_WITH_SERVER`, which only
    /// its HTTP roles clear, not the raw role used here). The first bytes read disarm it
    /// (``EdgeWorker/disarmLWSTimeout(_:)``); HybridSync's own deadlines take over.
    var lwsTimeoutArmed = false
    /// The HTTP parser (stored here, not in `phase`, so it is mutated in place, never copied).
    var parser: HTTPRequestParser
    /// The frame decoder once upgraded.
    var decoder: WebSocketFrameDecoder?
    /// The peer's address from our `accept` (nil for sockets lws accepted: the API's).
    var peerAddress: String?

    init(id: UInt64, wsi: OpaquePointer, listener: Listener, parser: HTTPRequestParser, outbox: ConnectionOutbox) {
        self.id = id
        self.wsi = wsi
        self.socket = lws_get_socket_fd(wsi)
        self.listener = listener
        self.parser = parser
        self.outbox = outbox
    }

    var isWebSocket: Bool {
        if case .webSocket = phase { true } else { false }
    }

    /// Its queue is to be written, then our side shut.
    var closesAfterFlush: Bool { phase == .closing(.flushing) }

    /// A WebSocket close was started by this side: the close frame is queued, the peer's is awaited.
    var closeRequested: Bool { outbox.state == .closing }

    /// Something queued is to be written now: anything but publications that wait for the current
    /// write-delay window (those go when it ends, or with the next reply or control frame).
    var wantsWriteNow: Bool {
        guard let last = queue.last else { return false }
        if case .message = last { return !writeDelayed }
        return true
    }

    /// Queues bytes that always go: an HTTP answer, a control frame.
    func enqueue(raw frame: LWSFrame) {
        outbox.queued(frame.count)
        queue.append(.raw(frame))
    }

    /// Offers a server message to the outbox and queues it unless the outbox says otherwise.
    func offer(_ message: LWSFrame, mayCoalesce: Bool) -> ConnectionOutbox.Decision {
        let decision = outbox.offer(message.count, mayCoalesce: mayCoalesce)
        if decision == .writeNow || decision == .writeLater { queue.append(.message(message)) }
        return decision
    }

    /// Drops the queued output (a consumer too slow to keep), except the rest of a frame the
    /// socket has started.
    func dropBacklog() {
        if case .rest(let frame)? = queue.first {
            queue = [.rest(frame)]
            outbox.droppedBacklog(kept: frame.count)
        } else {
            queue.removeAll()
            outbox.droppedBacklog(kept: 0)
        }
    }
}

/// At most one log line per `interval` for a recurring condition, with the count of those held back,
/// so an attack cannot flood the log (or the disk) while the operator still sees it at 3 a.m.
struct RateLimitedLog {
    let interval: Double
    private var lastLogged = -Double.infinity
    private var suppressed = 0

    init(interval: Double = 5) { self.interval = interval }

    /// Whether to log now; `suppressed` is how many occurrences since the last logged one were skipped.
    mutating func shouldLog(now: Double) -> (log: Bool, suppressed: Int) {
        guard now - lastLogged >= interval else {
            suppressed += 1
            return (false, 0)
        }
        lastLogged = now
        defer { suppressed = 0 }
        return (true, suppressed)
    }
}
