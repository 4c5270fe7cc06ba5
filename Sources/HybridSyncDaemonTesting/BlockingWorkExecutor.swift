import Foundation
public import Testing

/// A task executor with threads of its own (as many as there are cores, at least two), for test
/// code that blocks its thread: a synchronous wait for Redis, a poll while a process starts. Such
/// a wait on one of the cooperative pool's few threads (one per core) stalls every other task of
/// the test process; here it only delays the other jobs of this executor, and the number of its
/// threads keeps a suite of many blocking test cases from crowding the CPU out from under the pool.
///
/// Use it through the ``Trait/offTheCooperativePool`` trait, or directly with
/// `withTaskExecutorPreference(BlockingWorkExecutor.shared) { … }`. Child tasks inherit the
/// preference; actors and `Task {}` run where they always do. Its jobs must not wait for one
/// another synchronously (with every thread blocked, the one they wait for would never run).
public final class BlockingWorkExecutor: TaskExecutor, @unchecked Sendable {
    /// The one the trait uses.
    public static let shared = BlockingWorkExecutor(threads: max(2, ProcessInfo.processInfo.activeProcessorCount))

    /// Guards `jobs` (a pthread condition, which ThreadSanitizer sees).
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []

    private init(threads: Int) {
        for index in 0..<threads {
            let thread = Thread { [self] in work() }
            thread.name = "hybridsync-blocking-\(index)"
            thread.start()
        }
    }

    /// Queues `job` for the next free thread of this executor.
    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    private func work() {
        let executor = asUnownedTaskExecutor()
        while true {
            condition.lock()
            while jobs.isEmpty { condition.wait() }
            let job = jobs.removeFirst()
            condition.unlock()
            job.runSynchronously(on: executor)
        }
    }
}

/// Runs a test (on a suite: each of its tests) with ``BlockingWorkExecutor`` as its task executor
/// preference, so its blocking calls leave the cooperative pool to the rest of the test process.
public struct OffTheCooperativePool: SuiteTrait, TestTrait, TestScoping {
    /// On a suite, the trait applies to each of its tests too.
    public var isRecursive: Bool { true }

    /// Runs `function` (the test) with ``BlockingWorkExecutor/shared`` as its executor preference.
    public func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        try await withTaskExecutorPreference(BlockingWorkExecutor.shared) { try await function() }
    }
}

extension Trait where Self == OffTheCooperativePool {
    /// For tests that block a thread: ``TestRedis`` (it polls while Redis starts and stops), a
    /// synchronous engine such as the in-memory server's Redis broker, `Process` waits.
    public static var offTheCooperativePool: Self { Self() }
}
