/// Deadlines kept in a binary heap: O(log n) to schedule, O(log n) per deadline that falls due, and
/// nothing at all for the ones that do not. Time-driven work costs what is due, not what is open.
///
/// Entries are never removed early: reschedule by scheduling again and keep the latest deadline
/// per key yourself, and tell ``popDue(now:limit:isCurrent:)`` which entries still count: stale ones
/// are dropped on the way and do not use up the limit.
package struct DeadlineQueue<Time: Comparable & Sendable, Key: Sendable>: Sendable {
    private var heap: [(time: Time, key: Key)] = []

    /// An empty queue.
    package init() {}

    /// Entries scheduled, stale ones included.
    package var count: Int { heap.count }
    /// Whether nothing is scheduled.
    package var isEmpty: Bool { heap.isEmpty }

    /// The earliest deadline, if any.
    package var nextDeadline: Time? { heap.first?.time }

    /// Adds a deadline for `key` (an earlier one for the same key stays; the caller skips it).
    package mutating func schedule(_ key: Key, at time: Time) {
        heap.append((time, key))
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].time < heap[parent].time else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    /// Removes and returns up to `limit` current entries due at `now`, earliest first; due entries
    /// for which `isCurrent` is false (rescheduled or gone since) are removed without counting.
    package mutating func popDue(
        now: Time, limit: Int = .max, isCurrent: (_ time: Time, _ key: Key) -> Bool = { _, _ in true }
    ) -> [(time: Time, key: Key)] {
        var due: [(time: Time, key: Key)] = []
        while due.count < limit, let first = heap.first, first.time <= now {
            removeFirst()
            if isCurrent(first.time, first.key) { due.append(first) }
        }
        return due
    }

    private mutating func removeFirst() {
        let last = heap.removeLast()
        guard !heap.isEmpty else { return }
        heap[0] = last
        var parent = 0
        while true {
            let left = 2 * parent + 1, right = left + 1
            var smallest = parent
            if left < heap.count, heap[left].time < heap[smallest].time { smallest = left }
            if right < heap.count, heap[right].time < heap[smallest].time { smallest = right }
            guard smallest != parent else { return }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
    }
}
