import Foundation

/// A bounded wait ran out.
public struct TimeoutError: Error, Sendable, CustomStringConvertible {
    public let description: String
}

/// Runs `operation`, failing with ``TimeoutError`` if it takes longer than `timeout`.
/// Use it to await an event in a test without ever sleeping for a fixed time.
///
/// The bound holds even for an operation that ignores cancellation (a continuation nobody resumes,
/// a blocking read on another thread): at the timeout the operation is cancelled and the caller
/// gets the error at once, while the operation ends on its own. To prove that something honours
/// cancellation, cancel its task and await it inside a `withTimeout`.
public func withTimeout<T: Sendable>(
    _ timeout: Duration = .seconds(10), _ what: String = "operation",
    _ operation: @escaping @Sendable () async throws -> T
) async throws -> T {
    let race = FirstResult<T>()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { continuation in
            race.wait(continuation)
            race.own(Task {
                do { race.finish(.success(try await operation())) } catch { race.finish(.failure(error)) }
            })
            race.own(Task {
                try? await Task.sleep(for: timeout)
                race.finish(.failure(TimeoutError(description: "\(what) did not finish within \(timeout)")))
            })
        }
    } onCancel: {
        race.finish(.failure(CancellationError()))
    }
}

/// The first of several results, for one waiter; finishing cancels the tasks that were racing.
/// (An `NSLock`: ThreadSanitizer on Linux does not see the standard library's `Mutex`.)
private final class FirstResult<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var waiter: CheckedContinuation<T, any Error>?
    private var result: Result<T, any Error>?
    private var racing: [Task<Void, Never>] = []

    func wait(_ continuation: CheckedContinuation<T, any Error>) {
        lock.lock()
        guard let result else {
            waiter = continuation
            lock.unlock()
            return
        }
        lock.unlock()
        continuation.resume(with: result)
    }

    /// A task that races for the result (cancelled at once when the result is already in).
    func own(_ task: Task<Void, Never>) {
        lock.lock()
        let finished = result != nil
        if !finished { racing.append(task) }
        lock.unlock()
        if finished { task.cancel() }
    }

    func finish(_ outcome: Result<T, any Error>) {
        lock.lock()
        guard result == nil else { return lock.unlock() }
        result = outcome
        let waiter = waiter, racing = racing
        self.waiter = nil
        self.racing = []
        lock.unlock()
        waiter?.resume(with: outcome)
        for task in racing { task.cancel() }
    }
}

/// Re-checks `condition` (every few milliseconds) until it holds, failing after `timeout`.
/// For state that is only observable by asking (for example a server's subscriber count).
public func eventually(
    _ timeout: Duration = .seconds(10), _ what: String = "condition",
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
