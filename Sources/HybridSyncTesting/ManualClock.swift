import NIOConcurrencyHelpers

/// A `Clock` whose time moves only when a test calls ``advance(by:)``: backoff, linger and other
/// waits in the client runtime become instant and deterministic.
public final class ManualClock: Clock, Sendable {
    /// A point on the manual clock: how far it was advanced from its start.
    public struct Instant: InstantProtocol, Sendable {
        /// Time since the clock's start.
        public var offset: Duration
        /// The instant `offset` after the start.
        public init(offset: Duration) { self.offset = offset }
        /// The instant `duration` later.
        public func advanced(by duration: Duration) -> Instant { Instant(offset: offset + duration) }
        /// The time from this instant to `other`.
        public func duration(to other: Instant) -> Duration { other.offset - offset }
        /// The earlier instant first.
        public static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.offset < rhs.offset }
    }

    private struct Sleeper {
        let id: UInt64
        let deadline: Instant
        let continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var now = Instant(offset: .zero)
        var sleepers: [Sleeper] = []
        var nextID: UInt64 = 0
    }

    private let state = NIOLockedValueBox(State())

    /// A clock at its start, with no sleepers.
    public init() {}

    /// The time the test has advanced the clock to.
    public var now: Instant { state.withLockedValue { $0.now } }
    /// Any duration can be slept exactly.
    public var minimumResolution: Duration { .zero }

    /// How many tasks are sleeping on this clock right now.
    public var sleeperCount: Int { state.withLockedValue { $0.sleepers.count } }

    /// Suspends until the test advances the clock to `deadline` (throws `CancellationError` when the task is cancelled first).
    public func sleep(until deadline: Instant, tolerance: Duration? = nil) async throws {
        let id = state.withLockedValue { state -> UInt64 in
            state.nextID += 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let resumeNow: Bool = state.withLockedValue { state in
                    if deadline <= state.now || Task.isCancelled { return true }
                    state.sleepers.append(Sleeper(id: id, deadline: deadline, continuation: continuation))
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let cancelled = state.withLockedValue { state -> Sleeper? in
                guard let index = state.sleepers.firstIndex(where: { $0.id == id }) else { return nil }
                return state.sleepers.remove(at: index)
            }
            cancelled?.continuation.resume(throwing: CancellationError())
        }
        try Task.checkCancellation()
    }

    /// Moves time forward and wakes every sleeper whose deadline has come.
    public func advance(by duration: Duration) {
        let due = state.withLockedValue { state -> [Sleeper] in
            state.now = state.now.advanced(by: duration)
            let due = state.sleepers.filter { $0.deadline <= state.now }
            state.sleepers.removeAll { $0.deadline <= state.now }
            return due
        }
        for sleeper in due { sleeper.continuation.resume() }
    }

    /// Waits (yielding, bounded) until some task sleeps on this clock with a deadline at most
    /// `interval` from now: the timer a test is about to advance past (a backoff, a linger), not
    /// a longer-running one such as a liveness watchdog.
    public func waitForSleeper(dueWithin interval: Duration, timeout: Duration = .seconds(30)) async throws {
        try await eventually(timeout, "a sleeper due within \(interval) on the manual clock") { [self] in
            state.withLockedValue { state in state.sleepers.contains { $0.deadline <= state.now.advanced(by: interval) } }
        }
    }

    /// Waits (yielding, bounded) until at least `count` tasks sleep on this clock.
    public func waitForSleepers(_ count: Int = 1, timeout: Duration = .seconds(30)) async throws {
        try await eventually(timeout, "\(count) sleeper(s) on the manual clock") { [self] in sleeperCount >= count }
    }
}
