package import HybridSyncBroker
import HybridSyncProtocol
package import Logging

/// The multi-node engine: streams, retained state, idempotency records and the deny-list live in
/// one Redis (7.0+), shared by every `hybridsyncd` node (layout: ``RedisScripts``).
///
/// - Every write is one Lua script: a publication's offset, stream entry, retained-state change,
///   deny-list change and idempotency record are stored together or not at all. Stream ids *are*
///   offsets (`<offset>-0`), so a position maps to an id without a lookup.
/// - Commands run on a thread of their own, pipelined on one connection, and their results come
///   back on the server's thread in call order (``init(configuration:logger:schedule:)``).
/// - A second connection tails the streams this node follows and the control stream from the last
///   id read, so publications and node commands made elsewhere reach this node in order, once,
///   also after Redis was away for a while. A gap it cannot fill (the stream was trimmed past it,
///   or its epoch changed: Redis restarted empty) is reported as a lost stream, and the server
///   sends those subscribers back to re-sync (`recovered:false` and a snapshot).
/// - While Redis is unreachable every call fails at once with a ``BrokerError`` (the API answers
///   503): nothing is acknowledged that Redis did not store.
/// - hiredis 0.14 has no TLS: Redis must be on a trusted network or behind a tunnel.
package final class RedisBroker: Broker {
    /// Where Redis is and how the data is laid out (`engine.redis.*`).
    package struct Configuration: Sendable, Equatable {
        /// `engine.redis.address`: host name or IP address.
        package var host: String
        /// `engine.redis.address`: TCP port.
        package var port: Int
        /// `engine.redis.prefix`: every key starts with it and a colon; nodes that share data share it.
        package var prefix: String
        /// `engine.redis.historySize`: entries each channel's stream keeps at least (`XADD … MAXLEN ~`),
        /// raised to a namespace's `history.size` where that is larger. It bounds how far behind a
        /// node may fall (a Redis outage, a slow tail) and still catch up without a re-sync.
        package var historySize: Int
        /// `engine.redis.presenceLeaseSeconds`: how long a node's presence outlives its last renewal
        /// (it renews about once a second). A node that dies takes its contexts with it after this
        /// long; a restarted node whose clients are back within it makes nobody blink.
        package var presenceLeaseSeconds: Double

        /// A configuration from `host:port` (`[v6 address]:port` for IPv6).
        package init(address: String, prefix: String = "hybridsync", historySize: Int = 1000, presenceLeaseSeconds: Double = 15) throws(BrokerError) {
            guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]), (1...65535).contains(port) else {
                throw BrokerError("engine.redis.address must be host:port (for example 127.0.0.1:6379), got '\(address)'")
            }
            var host = String(address[..<colon])
            if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            guard !host.isEmpty else { throw BrokerError("engine.redis.address has no host: '\(address)'") }
            guard !prefix.isEmpty, !prefix.contains(" ") else {
                throw BrokerError("engine.redis.prefix must be a non-empty word without spaces, got '\(prefix)'")
            }
            guard historySize > 0 else { throw BrokerError("engine.redis.historySize must be greater than 0, got \(historySize)") }
            guard presenceLeaseSeconds >= 3, presenceLeaseSeconds <= 3600 else {
                throw BrokerError("engine.redis.presenceLeaseSeconds must be from 3 to 3600 (a node renews its lease about once a second), got \(presenceLeaseSeconds)")
            }
            self.presenceLeaseSeconds = presenceLeaseSeconds
            self.host = host
            self.port = port
            self.prefix = prefix
            self.historySize = historySize
        }

        /// `host:port`, as configured.
        package var address: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
    }

    /// What this node follows of a channel: the stream's epoch and the last offset delivered here.
    struct Follow {
        let epoch: String
        var delivered: UInt64
        let generation: UInt64
    }

    let configuration: Configuration
    let logger: Logger
    private let inbox: RedisInbox
    private let worker: RedisWorker
    let tail: RedisTail
    private let waitsInFlush: Bool
    /// Names this process in the control stream, so it skips its own commands.
    let nodeID = StreamStore.randomEpoch()
    private var waiting: [UInt64: (Result<RedisValue, RedisConnectionError>) -> Void] = [:]
    private var nextJob: UInt64 = 1
    var follows: [ChannelName: Follow] = [:]
    var nextGeneration: UInt64 = 1
    /// When the followed streams are next checked (epochs) and kept alive.
    var nextVerify = 0.0
    /// This node's half of presence.
    private(set) lazy var presence = RedisPresence(broker: self)
    weak var listener: (any BrokerListener)?

    /// Starts the engine's two threads; it connects to Redis in the background (a Redis that is
    /// down is not an error here: calls fail with ``BrokerError`` until it answers).
    ///
    /// - Parameter schedule: runs work on the server's thread (the daemon passes the transport's
    ///   `onServiceThread`); results are handled there as they arrive. Nil: results wait for
    ///   ``flush()``, which then waits for every outstanding reply (the in-memory test server,
    ///   where each call is one service turn).
    package init(configuration: Configuration, logger: Logger, schedule: (@Sendable (@escaping @Sendable () -> Void) -> Void)?) {
        self.configuration = configuration
        self.logger = logger
        waitsInFlush = schedule == nil
        let box = WeakBox()
        var wake: (@Sendable () -> Void)?
        if let schedule {
            wake = { schedule { box.broker?.drain() } }
        }
        inbox = RedisInbox(wake: wake)
        let endpoint = RedisEndpoint(host: configuration.host, port: configuration.port)
        worker = RedisWorker(endpoint: endpoint, inbox: inbox, logger: logger)
        tail = RedisTail(endpoint: endpoint, prefix: configuration.prefix, inbox: inbox, logger: logger)
        box.broker = self
        worker.start()
        tail.start()
        logger.info("redis engine", metadata: [
            "address": "\(configuration.address)", "prefix": "\(configuration.prefix)", "node": "\(nodeID)",
            "history_size": "\(configuration.historySize)",
        ])
    }

    deinit {
        worker.stop()
        tail.stop()
    }

    // MARK: Jobs

    /// Runs a script (or a plain command) on the worker; `handle` gets its reply on the server's thread.
    func submit(script: String? = nil, _ arguments: [[UInt8]], handle: @escaping (Result<RedisValue, BrokerError>) -> Void) {
        let id = nextJob
        nextJob += 1
        let address = configuration.address
        waiting[id] = { result in
            switch result {
            case .failure(let error):
                handle(.failure(BrokerError("Redis at \(address): \(error.description)")))
            case .success(.error(let message)):
                handle(.failure(BrokerError("Redis at \(address) refused a command: \(message)")))
            case .success(let value):
                handle(.success(value))
            }
        }
        worker.submit(RedisWorker.Job(id: id, script: script, arguments))
    }

    /// Handles what the threads put in the inbox (on the server's thread).
    func drain() {
        process(inbox.take())
    }

    private func process(_ events: [RedisEvent]) {
        for event in events {
            switch event {
            case .reply(let job, let result):
                waiting.removeValue(forKey: job)?(result)
            case .entries(let channel, let generation, let entries):
                tailed(channel, generation: generation, entries)
            case .control(let entry):
                received(entry)
            case .tailConnected:
                nextVerify = 0
            }
        }
    }

    // MARK: Broker

    /// See ``Broker/attach(_:)``.
    package func attach(_ listener: any BrokerListener) { self.listener = listener }

    /// Ends the service turn: stores the turn's session counts, handles what arrived; without a
    /// `schedule`, first waits for every outstanding reply.
    package func flush() {
        presence.flushSessionCounts()
        if waitsInFlush {
            while !waiting.isEmpty { process(inbox.waitAndTake(seconds: 1)) }
        }
        drain()
    }

    /// ``flush()``, then waits up to `seconds` for what the tail reads (control entries, stream
    /// entries) and handles it: for a server without a loop of its own (`schedule` nil), which
    /// otherwise sees the tail's events only at its next turn. Returns when something was handled.
    package func flush(waitingUpTo seconds: Double) {
        flush()
        process(inbox.waitAndTake(seconds: seconds))
    }
}

/// The broker as the threads' wake-up sees it: touched only on the server's thread.
private final class WeakBox: @unchecked Sendable {
    weak var broker: RedisBroker?
}
