import Dispatch
import HybridSyncDaemonTesting
import Testing

@Suite("Off the cooperative pool")
struct BlockingWorkExecutorTests {
    /// Eight child tasks block their threads until a task on the cooperative pool has run: with
    /// them on the pool (one thread per core) that task would never get a thread.
    @Test("blocking child tasks leave the cooperative pool free: a task there runs while they wait for it", .offTheCooperativePool)
    func blockingChildTasks() async {
        let count = 8
        let ran = DispatchSemaphore(value: 0)
        let results = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<count {
                group.addTask { ran.wait(timeout: .now() + 10) == .success }
            }
            Task.detached {
                for _ in 0..<count { ran.signal() }
            }
            var results: [Bool] = []
            for await result in group { results.append(result) }
            return results
        }
        #expect(results == Array(repeating: true, count: count))
    }
}
