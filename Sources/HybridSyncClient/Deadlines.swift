/// Pending deadlines by key, on the runtime's monotonic time: the runtime sleeps until ``next``
/// and fires what ``expired(at:)`` returns. Pure; tested without a clock.
struct Deadlines<Key: Hashable & Sendable>: Sendable {
    private var entries: [Key: Duration] = [:]

    /// Sets (or moves) the deadline of `key`.
    mutating func set(_ key: Key, at deadline: Duration) { entries[key] = deadline }

    mutating func remove(_ key: Key) { entries[key] = nil }

    /// The earliest deadline.
    var next: Duration? { entries.values.min() }

    /// Removes and returns the keys whose deadline is at or before `now`, earliest first.
    mutating func expired(at now: Duration) -> [Key] {
        let due = entries.filter { $0.value <= now }.sorted { $0.value < $1.value }.map(\.key)
        for key in due { entries[key] = nil }
        return due
    }
}
