import Foundation
import Logging

/// The thread that tails, on a connection of its own, the streams of the channels this node
/// follows and the control stream (`XREAD BLOCK`), from the last id it read: a node that loses
/// Redis and gets it back misses nothing that Redis kept.
final class RedisTail: @unchecked Sendable {
    private struct Follow {
        var cursor: UInt64
        let generation: UInt64
    }

    private let endpoint: RedisEndpoint
    private let prefix: String
    private let inbox: RedisInbox
    private let logger: Logger
    private let condition = NSCondition()
    // Guarded by `condition`.
    private var follows: [String: Follow] = [:]
    private var stopped = false
    /// The tail connection's `CLIENT ID`, for `CLIENT UNBLOCK` when the followed set grows.
    private(set) var clientID: Int64?
    // Owned by the tail thread.
    private var controlCursor: String?
    /// When this tail was made (monotonic seconds): its first read of the control stream starts there.
    private let createdAt = ProcessInfo.processInfo.systemUptime
    private let blockMillis = 1000
    private let retryMillis = 500

    init(endpoint: RedisEndpoint, prefix: String, inbox: RedisInbox, logger: Logger) {
        self.endpoint = endpoint
        self.prefix = prefix
        self.inbox = inbox
        self.logger = logger
    }

    func start() {
        startThread(named: "hybridsync-redis-tail") { [self] in run() }
    }

    func stop() {
        condition.lock()
        stopped = true
        condition.signal()
        condition.unlock()
    }

    /// Tails `channel` from after `offset`; returns the id of the connection to unblock, if any.
    func follow(_ channel: String, after offset: UInt64, generation: UInt64) -> Int64? {
        condition.lock()
        defer { condition.unlock() }
        follows[channel] = Follow(cursor: offset, generation: generation)
        condition.signal()
        return clientID
    }

    func unfollow(_ channel: String) {
        condition.lock()
        follows[channel] = nil
        condition.unlock()
    }

    private var isStopped: Bool {
        condition.lock()
        defer { condition.unlock() }
        return stopped
    }

    private func pause(_ millis: Int) {
        condition.lock()
        if !stopped { _ = condition.wait(until: Date(timeIntervalSinceNow: Double(millis) / 1000)) }
        condition.unlock()
    }

    private func run() {
        var connection: RedisConnection?
        while !isStopped {
            do {
                let open = try connection ?? connect()
                connection = open
                try read(on: open)
            } catch {
                if connection != nil {
                    logger.info("redis tail connection lost; resuming from the last ids when it answers", metadata: ["error": "\(error)"])
                }
                connection = nil
                condition.lock()
                clientID = nil
                condition.unlock()
                pause(retryMillis)
            }
        }
    }

    private func connect() throws(RedisConnectionError) -> RedisConnection {
        // The socket waits longer than a BLOCK, so a blocked read is never taken for a dead link.
        let connection = try RedisConnection(
            host: endpoint.host, port: endpoint.port, timeoutMillis: endpoint.connectTimeoutMillis,
            ioTimeoutMillis: blockMillis + endpoint.ioTimeoutMillis
        )
        let id = try connection.command("CLIENT", "ID").int
        if controlCursor == nil {
            // The first connect starts the control stream where this node started, on Redis's
            // clock (ids are milliseconds), with a second to spare: older entries are history,
            // and what this node's own first calls added (presence) is not missed however late
            // this connection comes up.
            let time = try connection.command("TIME").elements?.compactMap(\.int) ?? []
            let redisNow = time.count == 2 ? time[0] * 1000 + time[1] / 1000 : 0
            let elapsed = Int64((ProcessInfo.processInfo.systemUptime - createdAt) * 1000)
            controlCursor = "\(max(0, redisNow - elapsed - 1000))-0"
        }
        condition.lock()
        clientID = id
        condition.unlock()
        inbox.put(.tailConnected)
        return connection
    }

    /// One blocking read of every followed stream and the control stream.
    private func read(on connection: RedisConnection) throws(RedisConnectionError) {
        condition.lock()
        let snapshot = follows
        condition.unlock()
        let controlKey = "\(prefix):control"
        var keys = [controlKey]
        var ids = [controlCursor ?? "0-0"]
        for (channel, follow) in snapshot {
            keys.append("\(prefix):s:\(channel)")
            ids.append("\(follow.cursor)-0")
        }
        let argv = ["XREAD", "COUNT", "1000", "BLOCK", "\(blockMillis)", "STREAMS"] + keys + ids
        let reply = try connection.command(argv.map { Array($0.utf8) })
        if case .error(let message) = reply {
            throw RedisConnectionError(description: "XREAD refused: \(message)")
        }
        guard let streams = reply.elements else { return }  // timeout or unblocked
        let streamPrefix = "\(prefix):s:"
        var events: [RedisEvent] = []
        for stream in streams {
            guard let parts = stream.elements, parts.count == 2, let key = parts[0].text, let entries = parts[1].elements, !entries.isEmpty else {
                continue
            }
            if key == controlKey {
                controlCursor = entries.last?.elements?.first?.text ?? controlCursor
                events += entries.map { .control($0) }
                continue
            }
            guard key.hasPrefix(streamPrefix) else { continue }
            let channel = String(key.dropFirst(streamPrefix.count))
            guard let follow = snapshot[channel], let last = entries.last.flatMap(RedisEntry.offset(of:)) else { continue }
            condition.lock()
            if follows[channel]?.generation == follow.generation { follows[channel]?.cursor = last }
            condition.unlock()
            events.append(.entries(channel: channel, generation: follow.generation, entries))
        }
        inbox.put(events)
    }
}
