import Dispatch
import HybridSyncTesting
import Testing

@Suite("Off the cooperative pool")
struct BlockingWorkExecutorTests {
    /// Eight child tasks that each block their thread until all eight have started: on the
    /// cooperative pool (one thread per core) the first ones would wait for threads that never come.
    @Test("eight blocking child tasks all run at once", .offTheCooperativePool)
    func blockingChildTasks() async {
        let count = 8
        let arrived = DispatchSemaphore(value: 0)
        let released = DispatchSemaphore(value: 0)
        let finished = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<count {
                group.addTask {
                    arrived.signal()
                    return released.wait(timeout: .now() + 10) == .success
                }
            }
            // Blocking here too: this task is on the same executor.
            var all = true
            for _ in 0..<count { all = all && arrived.wait(timeout: .now() + 10) == .success }
            for _ in 0..<count { released.signal() }
            var results: [Bool] = []
            for await result in group { results.append(result) }
            return all && results.allSatisfy { $0 }
        }
        #expect(finished)
    }
}
