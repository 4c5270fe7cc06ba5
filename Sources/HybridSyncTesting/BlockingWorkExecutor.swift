import Dispatch
public import Testing

/// A task executor whose jobs each run on a serial Dispatch queue of their own, which Dispatch
/// serves from its overcommitting threads: a job that blocks (a synchronous wait for Redis, a poll
/// while a process starts) gets a thread of its own instead of one of the cooperative pool's few
/// (one per core), which every other task of the test process needs.
///
/// Use it through the ``Trait/offTheCooperativePool`` trait, or directly with
/// `withTaskExecutorPreference(BlockingWorkExecutor.shared) { … }`. Child tasks inherit the
/// preference; actors and `Task {}` run where they always do.
public final class BlockingWorkExecutor: TaskExecutor {
    /// The one the trait uses.
    public static let shared = BlockingWorkExecutor()

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        DispatchQueue(label: "hybridsync.blocking-work").async { job.runSynchronously(on: executor) }
    }
}

/// Runs a test (on a suite: each of its tests) with ``BlockingWorkExecutor`` as its task executor
/// preference, so its blocking calls leave the cooperative pool to the rest of the test process.
public struct OffTheCooperativePool: SuiteTrait, TestTrait, TestScoping {
    public var isRecursive: Bool { true }

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
