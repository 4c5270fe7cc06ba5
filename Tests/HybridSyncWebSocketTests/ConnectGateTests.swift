@testable import HybridSyncWebSocket
import Testing

@Suite("ConnectGate: a bounded number of sockets connecting per thread, on an injected clock")
struct ConnectGateTests {
    @Test("shut at capacity; a socket that upgrades or closes frees its slot at once")
    func capacity() {
        var gate = ConnectGate(capacity: 2, slotSeconds: 1)
        let open1 = gate.isOpen(now: 0)
        #expect(open1)
        gate.admitted(1, now: 0)
        gate.admitted(2, now: 0.1)
        let open2 = gate.isOpen(now: 0.2)
        #expect(!open2)
        #expect(gate.connecting == 2)
        gate.finished(1)
        let open3 = gate.isOpen(now: 0.2)
        #expect(open3)
        gate.admitted(3, now: 0.2)
        let open4 = gate.isOpen(now: 0.3)
        #expect(!open4)
        gate.finished(3)
        gate.finished(3)  // a close after the upgrade: the slot is not freed twice
        #expect(gate.connecting == 1)
    }

    @Test("sockets that connect and send nothing hold their slots for slotSeconds only (slowloris)")
    func idleSocketsExpire() {
        var gate = ConnectGate(capacity: 2, slotSeconds: 1)
        gate.admitted(1, now: 10)
        gate.admitted(2, now: 10.5)
        #expect(gate.nextExpiry == 11)
        let open5 = gate.isOpen(now: 10.99)
        #expect(!open5)
        let open6 = gate.isOpen(now: 11)
        #expect(open6, "the first slot is free after a second")
        #expect(gate.nextExpiry == 11.5)
        gate.admitted(3, now: 11)
        let open7 = gate.isOpen(now: 11.2)
        #expect(!open7)
        let open8 = gate.isOpen(now: 11.5)
        #expect(open8)
        #expect(gate.connecting == 1)
        gate.finished(3)
        #expect(gate.nextExpiry == nil, "no slot held")
    }

    @Test("finished sockets in front of the queue do not hide the next expiry")
    func expiryAfterFinished() {
        var gate = ConnectGate(capacity: 3, slotSeconds: 1)
        gate.admitted(1, now: 0)
        gate.admitted(2, now: 0.2)
        gate.admitted(3, now: 0.4)
        gate.finished(1)
        gate.finished(2)
        #expect(gate.nextExpiry == 1.4)
    }

    @Test("capacity 0 never shuts and keeps nothing")
    func unlimited() {
        var gate = ConnectGate(capacity: 0, slotSeconds: 1)
        for id in 0..<10_000 { gate.admitted(UInt64(id), now: 0) }
        let open9 = gate.isOpen(now: 0)
        #expect(open9)
        #expect(gate.connecting == 0)
        #expect(gate.nextExpiry == nil)
    }

    @Test("a long storm: slots taken and freed in order, the queue stays bounded by what is held")
    func longStorm() {
        var gate = ConnectGate(capacity: 4, slotSeconds: 1)
        var now = 0.0
        for id in 0..<100_000 {
            now += 0.001
            let open10 = gate.isOpen(now: now)
            #expect(open10)
            gate.admitted(UInt64(id), now: now)
            gate.finished(UInt64(id))
        }
        #expect(gate.connecting == 0)
        let open11 = gate.isOpen(now: now)
        #expect(open11)
        #expect(gate.retainedEntries <= 2 * 1024 + 2, "the consumed prefix is dropped now and then")
    }
}
