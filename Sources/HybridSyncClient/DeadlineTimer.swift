/// The runtime's deadlines on its injected clock, and the one task that sleeps until the earliest
/// of them. Deadlines are absolute (monotonic time since the runtime was created), so a timer
/// fires once the clock passes it however late it was armed.
struct DeadlineTimer<Key: Hashable & Sendable>: Sendable {
    /// Monotonic time since creation, and sleeping until such a time.
    private let elapsed: @Sendable () -> Duration
    private let sleepUntil: @Sendable (Duration) async throws -> Void
    private var deadlines = Deadlines<Key>()
    private var task: Task<Void, Never>?
    private var armedFor: Duration?

    init<C: Clock<Duration>>(clock: C) {
        let start = clock.now
        elapsed = { start.duration(to: clock.now) }
        sleepUntil = { try await clock.sleep(until: start.advanced(by: $0), tolerance: nil) }
    }

    /// Time on the runtime's clock.
    var now: Duration { elapsed() }

    /// Sets (or moves) the deadline of `key` to `delay` from now; call ``arm(_:)`` after.
    mutating func set(_ key: Key, after delay: Duration) {
        deadlines.set(key, at: elapsed() + delay)
    }

    mutating func remove(_ key: Key) { deadlines.remove(key) }

    mutating func removeAll() { deadlines = Deadlines() }

    /// Makes sure a task sleeps until the earliest deadline and then calls `fire` (re-armed only
    /// when an earlier deadline appeared).
    mutating func arm(_ fire: @escaping @Sendable () async -> Void) {
        guard let next = deadlines.next else { return }
        if let armedFor, armedFor <= next { return }
        task?.cancel()
        armedFor = next
        let sleepUntil = self.sleepUntil
        task = Task {
            guard (try? await sleepUntil(next)) != nil else { return }
            await fire()
        }
    }

    /// The task woke up: the keys due now, earliest first, and the time they are due at.
    mutating func takeExpired() -> (now: Duration, keys: [Key]) {
        armedFor = nil
        task = nil
        let now = elapsed()
        return (now, deadlines.expired(at: now))
    }

    /// Stops the sleeping task (the deadlines stay, for a later ``arm(_:)``).
    mutating func cancel() {
        task?.cancel()
        task = nil
        armedFor = nil
    }
}
