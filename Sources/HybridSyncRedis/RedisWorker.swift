import Foundation
import Logging

/// Where to find Redis and how long to wait for it.
struct RedisEndpoint: Sendable {
    var host: String
    var port: Int
    /// Connecting waits this long at most.
    var connectTimeoutMillis = 1000
    /// A command waits this long for its reply at most; then the connection counts as lost.
    var ioTimeoutMillis = 5000
}

/// The thread that runs commands on one Redis connection: jobs in submission order, pipelined
/// (everything queued goes in one round trip), replies handed to the inbox in the same order.
///
/// While Redis is unreachable every job fails at once (a publish is refused, never held), and the
/// thread tries again at most every `retryMillis`. Scripts are loaded on every (re)connect and
/// run by their SHA1.
final class RedisWorker: @unchecked Sendable {
    struct Job {
        let id: UInt64
        /// A script of ``RedisScripts`` (by name) run with `arguments` as ARGV, or nil: `arguments` is the command.
        let script: String?
        let arguments: [[UInt8]]

        init(id: UInt64, script: String? = nil, _ arguments: [[UInt8]]) {
            self.id = id
            self.script = script
            self.arguments = arguments
        }
    }

    private let endpoint: RedisEndpoint
    private let inbox: RedisInbox
    private let logger: Logger
    private let condition = NSCondition()
    private var queue: [Job] = []
    private var stopped = false
    // Owned by the worker thread.
    private var connection: RedisConnection?
    private var nextAttempt = Date.distantPast
    private var wasReachable = true
    /// Each script's SHA1, by name, for EVALSHA.
    private var scriptSHA: [String: [UInt8]] = [:]
    private let retryMillis = 500

    init(endpoint: RedisEndpoint, inbox: RedisInbox, logger: Logger) {
        self.endpoint = endpoint
        self.inbox = inbox
        self.logger = logger
    }

    func start() {
        startThread(named: "hybridsync-redis") { [self] in run() }
    }

    func stop() {
        condition.lock()
        stopped = true
        condition.signal()
        condition.unlock()
    }

    func submit(_ job: Job) {
        condition.lock()
        queue.append(job)
        condition.signal()
        condition.unlock()
    }

    private func run() {
        while true {
            condition.lock()
            while queue.isEmpty, !stopped { condition.wait() }
            if stopped {
                condition.unlock()
                return
            }
            let batch = queue
            queue.removeAll(keepingCapacity: true)
            condition.unlock()
            inbox.put(execute(batch))
        }
    }

    private func execute(_ batch: [Job]) -> [RedisEvent] {
        let connection: RedisConnection
        do {
            connection = try connected()
        } catch {
            return batch.map { .reply(job: $0.id, .failure(error)) }
        }
        do {
            let replies = try connection.pipeline(batch.map(argv))
            if replies.contains(where: { if case .error(let message) = $0 { message.hasPrefix("NOSCRIPT") } else { false } }) {
                // SCRIPT FLUSH while connected: load them again for the next jobs.
                try loadScripts(on: connection)
            }
            return zip(batch, replies).map { .reply(job: $0.id, .success($1)) }
        } catch {
            self.connection = nil
            logger.info("redis connection lost", metadata: ["address": "\(endpoint.host):\(endpoint.port)", "error": "\(error)"])
            return batch.map { .reply(job: $0.id, .failure(error)) }
        }
    }

    private func argv(_ job: Job) -> [[UInt8]] {
        guard let script = job.script else { return job.arguments }
        return [Array("EVALSHA".utf8), scriptSHA[script] ?? [], Array("0".utf8)] + job.arguments
    }

    /// The open connection, or a new one (scripts loaded); throws while Redis stays unreachable.
    private func connected() throws(RedisConnectionError) -> RedisConnection {
        if let connection { return connection }
        guard Date() >= nextAttempt else {
            throw RedisConnectionError(description: "Redis at \(endpoint.host):\(endpoint.port) is unreachable; retrying")
        }
        do {
            let connection = try RedisConnection(
                host: endpoint.host, port: endpoint.port, timeoutMillis: endpoint.connectTimeoutMillis, ioTimeoutMillis: endpoint.ioTimeoutMillis
            )
            try loadScripts(on: connection)
            self.connection = connection
            if !wasReachable { logger.info("redis reachable again", metadata: ["address": "\(endpoint.host):\(endpoint.port)"]) }
            wasReachable = true
            return connection
        } catch {
            nextAttempt = Date(timeIntervalSinceNow: Double(retryMillis) / 1000)
            if wasReachable { logger.info("redis unreachable; publishes fail until it answers", metadata: ["error": "\(error)"]) }
            wasReachable = false
            throw error
        }
    }

    private func loadScripts(on connection: RedisConnection) throws(RedisConnectionError) {
        let replies = try connection.pipeline(RedisScripts.all.map { [Array("SCRIPT".utf8), Array("LOAD".utf8), Array($0.source.utf8)] })
        for (script, reply) in zip(RedisScripts.all, replies) {
            guard case .string(let sha) = reply else {
                throw RedisConnectionError(description: "Redis refused the \(script.name) script: \(reply)")
            }
            scriptSHA[script.name] = sha
        }
    }
}

/// Runs `body` on a thread of its own, named for `top` and debuggers.
func startThread(named name: String, _ body: @escaping @Sendable () -> Void) {
    let thread = Thread(block: body)
    thread.name = name
    thread.start()
}
