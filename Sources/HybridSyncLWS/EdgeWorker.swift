import CLibWebSockets
import DequeModule
import Foundation
import HybridSyncHTTP
import HybridSyncProtocol
import HybridSyncServerTransport
import HybridSyncWebSocket
import Logging
import Synchronization

/// One service thread of the ``LWSServerTransport``: its lws context and event loop, the sockets
/// it accepted, their HTTP/1.1 and RFC 6455 framing, deadlines and writes. The first worker (the
/// hub, index 0) also holds the API listener and runs the server (the transport's delegate); the
/// others hand what their connections receive to it (`EdgeWorker+Threads.swift`).
///
/// Everything here runs on the worker's own thread, so it needs no locks.
final class EdgeWorker: @unchecked Sendable {
    let configuration: LWSServerConfiguration
    let logger: Logger
    let loop: ServiceLoop
    /// This worker's thread: 0 for the hub, 1… for the others.
    let index: Int
    /// The transport that owns the workers (it outlives them).
    unowned let transport: LWSServerTransport
    /// Open WebSocket connections, readable from any thread (for shutdown).
    let openWebSockets = Atomic<Int>(0)

    // Service-thread state.
    var connections: [UInt64: EdgeConnection] = [:]
    /// This thread's share of the public listener.
    var publicListener = PublicListenerState()
    /// The API listener (the hub's).
    var apiListener = APIListenerState()
    var deadlines = DeadlineQueue<Double, UInt64>()
    var nextID: UInt64 = 1
    var draining = false
    /// Refused sockets and disallowed origins, each logged at most every few seconds.
    var logs = (refusals: RateLimitedLog(), origins: RateLimitedLog())
    /// When to hand freed heap back to the system after a wave of closes.
    var trim = HeapTrim()
    private var tickTask: Task<Void, Never>?
    /// When this thread last ticked, and when its next tick has work (monotonic seconds), for its timer.
    let ticks = (last: SharedTime(), due: SharedTime())
    /// What waits to be written: connections with output at the end of this turn, publications
    /// held for the write-delay window, and the buffers the writing uses (`+Writes.swift`).
    var writes = WriteQueues()
    let coalescing = FramePacker(capacity: 32 * 1024, headroom: LWSFrame.headroom)

    /// Builds this thread's lws context and vhosts, and holds the memory lws borrows from them.
    var contextBuilder: EdgeContextBuilder

    init(configuration: LWSServerConfiguration, logger: Logger, index: Int, transport: LWSServerTransport) {
        self.configuration = configuration
        self.logger = logger
        self.index = index
        self.transport = transport
        self.loop = ServiceLoop(name: "hs-service-\(index)")
        self.contextBuilder = EdgeContextBuilder(configuration: configuration)
        self.publicListener.gate = ConnectGate(capacity: configuration.maxConnectingPerThread, slotSeconds: PublicListenerState.connectSlotSeconds)
    }

    /// The hub runs the server: its delegate's calls, the API listener and the other workers' batches.
    var isHub: Bool { index == 0 }

    /// The hub's start: a context with the public vhost, the API listener and the public port's
    /// first SO_REUSEPORT socket; returns the ports bound. The service loop starts with
    /// ``run()``, once the other workers listen too.
    func startHub() throws(LWSServerError) -> (context: OpaquePointer, publicPort: Int, apiPort: Int) {
        let context = try makeContext()
        do throws(LWSServerError) {
            // No listener of lws's: each thread, the first too, accepts on an SO_REUSEPORT socket
            // of ours (`listenShared`), where `accept4` hands over the peer's address and the
            // socket flags; lws's accept loop costs a poll, two more fcntl and a later getpeername
            // per connection.
            publicListener.vhost = try contextBuilder.makePublicVhost(context)
            let apiVhost = try contextBuilder.makeAPIVhost(context)
            apiListener.vhost = apiVhost
            let publicPort = try listenShared(in: context, port: configuration.publicPort)
            return (context, publicPort, Int(lws_get_vhost_listen_port(apiVhost)))
        } catch {
            loop.destroy(context)
            freeBorrowedMemory()
            throw error
        }
    }

    /// Frees a context whose service loop never started (another worker could not start).
    func abandon(_ context: OpaquePointer) {
        loop.destroy(context)
        freeBorrowedMemory()
    }

    /// Starts the hub's service loop on `context` (after ``startHub()``): each turn ends with the
    /// server's end of turn, the batches for the other workers and this thread's writes.
    func runHub(_ context: OpaquePointer) {
        loop.start(context: context, afterTurn: { [self] serviceSeconds in
            tickIfDue()
            transport.delegate?.endOfTurn()
            transport.flushOutboxes()
            return flushWriteQueue(serviceSeconds: serviceSeconds)
        }) { [self] in
            freeBorrowedMemory()
            dropConnections()
            transport.delegate = nil
            transport.api = nil
        }
        startTicking()
    }

    /// Threads 1…N-1: a context with the public vhost and a listening socket of its own on `port`.
    func startOther(port: Int) throws(LWSServerError) {
        let context = try makeContext()
        do {
            publicListener.vhost = try contextBuilder.makePublicVhost(context)
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
        try contextBuilder.makeContext(user: Unmanaged.passUnretained(self).toOpaque(), loop: loop, logger: logger)
    }

    /// Ticks ride on the turns the thread makes anyway (``tickIfDue()`` after each); this timer wakes
    /// an idle thread only when an interval passed without a tick and something is due (a socket's
    /// deadline, or the delegate's ``ServerTransportDelegate/secondsUntilTickDue()``, noted after
    /// every turn in ``ticks.due``). A wake-up is not free: lws 4.1 polls every socket on each turn
    /// (about 5 ms at 10,000 sockets on the 2-core VM).
    private func startTicking() {
        let interval = configuration.tickInterval
        let seconds = tickSeconds
        tickTask = Task { [loop, ticks] in
            while !Task.isCancelled {
                let now = Self.monotonicSeconds()
                let idle = now - ticks.last.seconds
                let due = ticks.due.seconds
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
        if Self.monotonicSeconds() - ticks.last.seconds >= tickSeconds { tick() }
        var due = deadlines.nextDeadline ?? .infinity
        if publicListener.paused, let expiry = publicListener.resumeIfOpen(now: Self.monotonicSeconds()) { due = min(due, expiry) }
        if trim.closed > 0 { due = min(due, trim.lastCloseAt + Self.trimQuietSeconds) }  // the end-of-wave trim
        if isHub {  // this thread runs the delegate's tick too
            if let seconds = transport.delegate?.secondsUntilTickDue() {
                due = min(due, Self.monotonicSeconds() + seconds)
            } else {
                due = 0
            }
        }
        ticks.due.seconds = due
    }

    private var tickSeconds: Double {
        let parts = configuration.tickInterval.components
        return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
    }

    /// Stops this worker's tick timer (before the transport stops its loop).
    func stopTicking() {
        tickTask?.cancel()
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
        if writes.delayed.isEmpty {
            let delay = Duration.milliseconds(configuration.writeDelayMillis)
            Task { [loop] in
                try? await Task.sleep(for: delay)
                loop.execute { [weak self] in self?.flushDelayedWrites() }
            }
        }
        writes.delayed.append(edge)
    }

    private func flushDelayedWrites() {
        let due = writes.delayed
        writes.delayed.removeAll(keepingCapacity: true)
        for edge in due where edge.writeDelayed {
            edge.writeDelayed = false
            if edge.isOpen { scheduleWrite(edge) }
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
        ticks.last.seconds = now
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
        if isHub, transport.delegate?.tick() == true { more = true }
        // After a wave of closes, hand the freed heap back to the system (glibc keeps it otherwise):
        // every closesPerTrim closes, and once the closes stop, for the rest of the wave.
        if trim.closed >= Self.closesPerTrim || (trim.closed > 0 && now - trim.lastCloseAt >= Self.trimQuietSeconds) {
            trim.closed = 0
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

    /// After the context is gone (its sockets closed): what was still queued for them goes too.
    /// A close frame queued during shutdown for a peer that never answered outlived the service
    /// thread, and LeakSanitizer reported it at exit: presumably it finds no pointer to the frame
    /// because an enum with several class payloads (``EdgeConnection/Chunk``) keeps its case in
    /// the pointer's spare bits.
    private func dropConnections() {
        writes.scheduled.removeAll()
        writes.answers.removeAll()
        writes.delayed.removeAll()
        connections.removeAll()
    }

    private func freeBorrowedMemory() { contextBuilder.free() }

}

/// A time (monotonic seconds) one thread writes and another reads.
final class SharedTime: Sendable {
    private let bits = Atomic<UInt64>(0)

    var seconds: Double {
        get { Double(bitPattern: bits.load(ordering: .relaxed)) }
        set { bits.store(newValue.bitPattern, ordering: .relaxed) }
    }
}

/// The API listener, on the hub's thread.
struct APIListenerState {
    var vhost: OpaquePointer?
    /// Sockets on the API listener.
    var sockets = 0
    /// Its connections (at most `maxAPIConnections` and those being evicted).
    var connections: [EdgeConnection] = []
    /// Connections closed to make room for new ones since the start.
    var evicted = 0
    /// Their sockets, polled between write batches.
    var pollSet: [pollfd] = []
}

/// What waits to be written, in order (`EdgeWorker+Writes.swift`).
struct WriteQueues {
    /// Connections with output to write at the end of this turn.
    var scheduled = Deque<EdgeConnection>()
    /// API connections with an answer to write, ahead of ``scheduled``.
    var answers = Deque<EdgeConnection>()
    /// Connections whose publications wait for the end of the current write-delay window.
    var delayed: [EdgeConnection] = []
    /// The sockets about to be written, polled to warm the caches.
    var warmingPollSet: [pollfd] = []
}

/// After a wave of closes the freed heap goes back to the system (glibc keeps it otherwise).
struct HeapTrim {
    /// Closes since the last trim.
    var closed = 0
    /// When this thread last closed a socket (monotonic seconds).
    var lastCloseAt = 0.0
}
