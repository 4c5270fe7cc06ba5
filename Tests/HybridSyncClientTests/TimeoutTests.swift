import Foundation
import HybridSyncTesting
import Testing

/// `withTimeout` (HybridSyncTesting) bounds every wait, also one that ignores cancellation: a test
/// that waits for something that never comes fails with a name instead of hanging the whole run.
@Suite("Bounded waits")
struct TimeoutTests {
    /// A continuation nobody resumes until the test says so (the operation ignores cancellation).
    private final class Parked: @unchecked Sendable {
        private let lock = NSLock()
        private var continuation: CheckedContinuation<Int, Never>?
        func park() async -> Int { await withCheckedContinuation { c in lock.withLock { continuation = c } } }
        var isParked: Bool { lock.withLock { continuation != nil } }
        func release(_ value: Int) { lock.withLock { continuation?.resume(returning: value); continuation = nil } }
    }

    @Test("an operation that ignores cancellation still ends the wait at the timeout, with the operation's name")
    func boundsAnOperationThatIgnoresCancellation() async throws {
        let parked = Parked()
        let error = await #expect(throws: TimeoutError.self) {
            try await withTimeout(.milliseconds(20), "the parked operation") { await parked.park() }
        }
        #expect(error?.description == "the parked operation did not finish within 0.02 seconds")
        try await eventually(.seconds(60), "the operation parked") { parked.isParked }
        parked.release(0)  // it ends on its own
    }

    @Test("an operation that honours cancellation has ended when the timeout is thrown")
    func waitsForACancelledOperation() async throws {
        let ended = NSLock()
        nonisolated(unsafe) var cancelledAndEnded = false
        let (silent, keepOpen) = AsyncStream<Int>.makeStream()  // its iterator ends when cancelled
        await #expect(throws: TimeoutError.self) {
            try await withTimeout(.milliseconds(20), "a wait for a stream that never yields") {
                for await _ in silent {}
                ended.withLock { cancelledAndEnded = Task.isCancelled }
            }
        }
        #expect(ended.withLock { cancelledAndEnded })
        keepOpen.finish()
    }

    @Test("a result in time is returned, and an operation's own error is rethrown")
    func returnsOrRethrows() async throws {
        #expect(try await withTimeout(.seconds(30)) { 42 } == 42)
        struct Refused: Error {}
        await #expect(throws: Refused.self) { try await withTimeout(.seconds(30)) { throw Refused() } }
    }

    @Test("cancelling the caller ends the wait with CancellationError")
    func cancellingTheCaller() async throws {
        let parked = Parked()
        let waiting = Task { try await withTimeout(.seconds(600), "a long wait") { await parked.park() } }
        try await eventually(.seconds(60), "the operation parked") { parked.isParked }
        waiting.cancel()
        let outcome = try await withTimeout(.seconds(10), "the cancelled wait") { await waiting.result }
        #expect(throws: CancellationError.self) { try outcome.get() }
        parked.release(0)
    }
}
