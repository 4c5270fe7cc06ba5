/// A bounded wait ran out.
public struct TimeoutError: Error, Sendable, CustomStringConvertible {
    public let description: String
}

/// Runs `operation`, failing with ``TimeoutError`` if it takes longer than `timeout`.
/// Use it to await an event in a test without ever sleeping for a fixed time.
public func withTimeout<T: Sendable>(
    _ timeout: Duration = .seconds(10), _ what: String = "operation",
    _ operation: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await Task.sleep(for: timeout)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else {
            throw TimeoutError(description: "\(what) did not finish within \(timeout)")
        }
        return value
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
