import HybridSyncProtocol
import Testing

@Suite("DeadlineQueue")
struct DeadlineQueueTests {
    @Test("due entries come earliest first, up to the limit; later ones stay")
    func dueInOrder() {
        var queue = DeadlineQueue<Double, Int>()
        for (time, key) in [(3.0, 3), (1.0, 1), (5.0, 5), (2.0, 2)] { queue.schedule(key, at: time) }
        #expect(queue.popDue(now: 3, limit: 2).map(\.key) == [1, 2])
        #expect(queue.popDue(now: 3).map(\.key) == [3])
        #expect(queue.popDue(now: 4).isEmpty)
        #expect(queue.popDue(now: 5).map(\.key) == [5])
    }

    @Test("stale entries are dropped on the way and do not use up the limit")
    func staleEntriesDoNotCount() {
        var queue = DeadlineQueue<Double, Int>()
        var current: [Int: Double] = [:]
        // 1,000 keys scheduled at 1, then 990 of them moved to 10: their first entries are stale.
        for key in 0..<1000 {
            queue.schedule(key, at: 1)
            current[key] = 1
        }
        for key in 10..<1000 {
            queue.schedule(key, at: 10)
            current[key] = 10
        }
        let due = queue.popDue(now: 2, limit: 32) { time, key in current[key] == time }
        #expect(due.map(\.key).sorted() == Array(0..<10), "only the 10 current ones, though 1,000 entries were due")
        #expect(queue.popDue(now: 2, limit: 32) { time, key in current[key] == time }.isEmpty, "the stale ones are gone")
        #expect(queue.popDue(now: 10, limit: 2000) { time, key in current[key] == time }.count == 990)
        #expect(queue.isEmpty)
    }
}
