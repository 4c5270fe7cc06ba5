/// Admission of new sockets during a connect storm, without I/O: at most `capacity` sockets of one
/// service thread may be *connecting* (accepted, no byte of a request read yet: for `wss://` the
/// TLS handshake) at a time; over it the thread stops accepting, and the kernel's accept queue
/// keeps the rest in arrival order.
///
/// Why: a TLS handshake costs the server about half a millisecond of CPU. When 10,000 clients come
/// back together (a restart), accepting all of them at once shares the CPU among 10,000 handshakes,
/// so each one ends only when nearly all do; past the clients' connect timeout every one of them
/// fails and starts again (congestion collapse). A bounded number in flight serves them first come,
/// first served: each handshake takes milliseconds, and the storm ends when the work is done.
///
/// A socket holds its slot for `slotSeconds` at most, so sockets that connect and then send nothing
/// (slowloris) cannot keep the gate shut: they stay open until their header timeout, but after
/// `slotSeconds` they no longer count. Slow clients (long round trips) stop counting the same way,
/// so the gate never holds the accept rate below `capacity / slotSeconds` per thread.
///
/// ```swift
/// var gate = ConnectGate(capacity: 256, slotSeconds: 0.5)
/// while gate.isOpen(now: now), let socket = accept() { gate.admitted(socket.id, now: now) }
/// gate.finished(id)              // its first request bytes arrived, or it closed
/// gate.nextExpiry                // when a held slot frees itself (to wake a paused listener)
/// ```
package struct ConnectGate: Sendable {
    /// Sockets that may be connecting at once (0: no limit).
    package let capacity: Int
    /// Seconds a socket may hold its slot.
    package let slotSeconds: Double
    /// Slots in the order they were taken (oldest at `head`); finished ones are skipped lazily.
    private var slots: [(id: UInt64, since: Double)] = []
    private var head = 0
    /// The sockets that hold a slot now.
    private var holding: Set<UInt64> = []

    /// A gate of `capacity` slots (0: never shut), each held for `slotSeconds` at most.
    package init(capacity: Int, slotSeconds: Double) {
        self.capacity = max(0, capacity)
        self.slotSeconds = slotSeconds
    }

    /// Sockets holding a slot (expired slots are counted until ``isOpen(now:)`` sees them).
    package var connecting: Int { holding.count }

    /// Whether another socket may be accepted at `now` (slots older than `slotSeconds` are freed first).
    package mutating func isOpen(now: Double) -> Bool {
        guard capacity > 0 else { return true }
        expire(now: now)
        return holding.count < capacity
    }

    /// `id` was accepted at `now` and takes a slot.
    package mutating func admitted(_ id: UInt64, now: Double) {
        guard capacity > 0, holding.insert(id).inserted else { return }
        slots.append((id, now))
    }

    /// `id` sent its first request bytes or closed: its slot (if it still holds one) is free.
    package mutating func finished(_ id: UInt64) {
        holding.remove(id)
    }

    /// Entries the queue keeps (held, and finished ones not yet skipped): bounded, for tests.
    var retainedEntries: Int { slots.count }

    /// When the oldest slot still held frees itself, if any is held.
    package var nextExpiry: Double? {
        var index = head
        while index < slots.count {
            if holding.contains(slots[index].id) { return slots[index].since + slotSeconds }
            index += 1
        }
        return nil
    }

    private mutating func expire(now: Double) {
        while head < slots.count {
            let slot = slots[head]
            if holding.contains(slot.id) {
                guard now - slot.since >= slotSeconds else { break }
                holding.remove(slot.id)
            }
            head += 1
        }
        if head > 1024, head * 2 > slots.count {  // drop the consumed prefix now and then
            slots.removeFirst(head)
            head = 0
        }
    }
}
