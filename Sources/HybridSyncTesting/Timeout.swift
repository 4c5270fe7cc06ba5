import Foundation

/// A bounded wait ran out.
public struct TimeoutError: Error, Sendable, CustomStringConvertible {
    public let description: String
}

/// Runs `operation`, failing with ``TimeoutError`` if it takes longer than `timeout`.
/// Use it to await an event in a test without ever sleeping for a fixed time.
///
/// At the timeout the operation is cancelled and given a moment (``timeoutGrace``) to end, so
/// one that honours cancellation has stopped before the caller goes on (a stream's iterator is
/// released before the next one starts). The bound holds for an operation that ignores
/// cancellation too (a continuation nobody resumes, a blocking read on another thread): after the
/// grace the caller gets the error while the operation ends on its own. To prove that something
/// honours cancellation, cancel its task and await it inside a `withTimeout`.
public func withTimeout<T: Sendable>(
    _ timeout: Duration = .seconds(10), _ what: String = "operation",
    _ operation: @escaping @Sendable () async throws -> T
) async throws -> T {
    let wait = BoundedWait<T>(TimeoutError(description: "\(what) did not finish within \(timeout)"))
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { continuation in
            wait.begin(continuation)
            let work = Task {
                do { wait.operationEnded(.success(try await operation())) } catch { wait.operationEnded(.failure(error)) }
            }
            wait.own(work)
            wait.own(Task {
                try? await Task.sleep(for: timeout)
                guard wait.timeOut() else { return }
                work.cancel()
                try? await Task.sleep(for: timeoutGrace)
                wait.giveUp()
            })
        }
    } onCancel: {
        wait.callerCancelled()
    }
}

/// How long ``withTimeout(_:_:_:)`` waits for a timed-out operation to end after cancelling it.
public let timeoutGrace: Duration = .seconds(2)

/// One caller of ``withTimeout(_:_:_:)``, answered once: with the operation's result, with the
/// timeout (when the operation ended in the grace, or did not), or with its own cancellation.
/// (An `NSLock`: ThreadSanitizer on Linux does not see the standard library's `Mutex`.)
private final class BoundedWait<T: Sendable>: @unchecked Sendable {
    private enum Phase { case running, timedOut, answered }
    private let lock = NSLock()
    private let timeout: TimeoutError
    private var phase = Phase.running
    private var waiter: CheckedContinuation<T, any Error>?
    private var early: Result<T, any Error>?
    private var tasks: [Task<Void, Never>] = []

    init(_ timeout: TimeoutError) { self.timeout = timeout }

    func begin(_ continuation: CheckedContinuation<T, any Error>) {
        lock.lock()
        guard let early else {
            waiter = continuation
            return lock.unlock()
        }
        lock.unlock()
        continuation.resume(with: early)
    }

    /// A task of this wait: cancelled once the caller is answered.
    func own(_ task: Task<Void, Never>) {
        lock.lock()
        let answered = phase == .answered
        if !answered { tasks.append(task) }
        lock.unlock()
        if answered { task.cancel() }
    }

    func operationEnded(_ result: Result<T, any Error>) {
        lock.lock()
        let phase = phase
        lock.unlock()
        answer(phase == .timedOut ? .failure(timeout) : result)
    }

    /// The time is up: true when the operation is still running (it is to be cancelled).
    func timeOut() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        guard phase == .running else { return false }
        phase = .timedOut
        return true
    }

    /// The grace after cancelling passed without the operation ending.
    func giveUp() { answer(.failure(timeout)) }

    func callerCancelled() { answer(.failure(CancellationError())) }

    private func answer(_ result: Result<T, any Error>) {
        lock.lock()
        guard phase != .answered else { return lock.unlock() }
        phase = .answered
        let waiter = waiter, tasks = tasks
        if waiter == nil { early = result }
        self.waiter = nil
        self.tasks = []
        lock.unlock()
        waiter?.resume(with: result)
        for task in tasks { task.cancel() }
    }
}

/// Re-checks `condition` (every few milliseconds) until it holds, failing after `timeout`.
/// For state that is only observable by asking (for example a server's subscriber count). The
/// bound is a guard against a hang, not a speed check: 30 s by default, because a test process on
/// a loaded 2-core machine can go seconds without a free thread in its cooperative pool.
public func eventually(
    _ timeout: Duration = .seconds(30), _ what: String = "condition",
    _ condition: @escaping @Sendable () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while try await !condition() {
        guard ContinuousClock.now < deadline else {
            throw TimeoutError(description: "\(what) did not hold within \(timeout)")
        }
        try await Task.sleep(for: .milliseconds(10))
    }
}

extension AsyncSequence where Self: Sendable, Element: Sendable {
    /// The next element, failing after `timeout`. Iterates a fresh iterator; for streams this takes
    /// the next buffered element.
    public func first(within timeout: Duration = .seconds(10)) async throws -> Element? {
        try await withTimeout(timeout, "next element") {
            var iterator = self.makeAsyncIterator()
            return try await iterator.next()
        }
    }
}
