import Foundation

/// What the Redis threads hand to the server's thread.
enum RedisEvent: Sendable {
    /// The reply to job `job` (or why there is none).
    case reply(job: UInt64, Result<RedisValue, RedisConnectionError>)
    /// Entries the tail read from a followed channel's stream (`generation` names the follow).
    case entries(channel: String, generation: UInt64, [RedisValue])
    /// A command another node wrote to the control stream.
    case control(RedisValue)
    /// The tail connected (again): what it missed while away must be checked.
    case tailConnected
}

/// The queue from the Redis threads to the server's thread: events in the order they were put.
/// `wake` (when set) is called once per batch, so the server's loop runs ``take()``.
final class RedisInbox: @unchecked Sendable {
    private let condition = NSCondition()
    private var events: [RedisEvent] = []
    private var wakePending = false
    private let wake: (@Sendable () -> Void)?

    init(wake: (@Sendable () -> Void)?) { self.wake = wake }

    func put(_ event: RedisEvent) {
        put([event])
    }

    func put(_ batch: [RedisEvent]) {
        guard !batch.isEmpty else { return }
        condition.lock()
        events.append(contentsOf: batch)
        let shouldWake = !wakePending
        wakePending = true
        condition.signal()
        condition.unlock()
        if shouldWake { wake?() }
    }

    /// Everything put so far (empty when nothing is waiting).
    func take() -> [RedisEvent] {
        condition.lock()
        defer { condition.unlock() }
        wakePending = false
        defer { events.removeAll(keepingCapacity: true) }
        return events
    }

    /// Waits until something is put (at most `seconds`), then takes it.
    func waitAndTake(seconds: Double) -> [RedisEvent] {
        condition.lock()
        if events.isEmpty { _ = condition.wait(until: Date(timeIntervalSinceNow: seconds)) }
        condition.unlock()
        return take()
    }
}
