@testable import HybridSyncClient
import HybridSyncTesting
import Testing

@Suite("DeadlineTimer: one task sleeps until the earliest deadline (manual clock, no sleeps)")
struct DeadlineTimerTests {
    @Test("the earliest deadline wakes the task; due keys come earliest first, later ones wait for the next arm")
    func firesEarliestFirst() async throws {
        let clock = ManualClock()
        var timer = DeadlineTimer<String>(clock: clock)
        let (fired, firing) = AsyncStream.makeStream(of: Void.self)
        timer.set("late", after: .seconds(5))
        timer.set("b", after: .seconds(2))
        timer.set("a", after: .seconds(1))
        timer.arm { firing.yield() }
        try await clock.waitForSleepers(1)
        clock.advance(by: .seconds(3))
        var wakeUps = fired.makeAsyncIterator()
        _ = await wakeUps.next()
        let due = timer.takeExpired()
        #expect(due.keys == ["a", "b"])
        #expect(due.now == .seconds(3))

        timer.arm { firing.yield() }
        try await clock.waitForSleepers(1)
        clock.advance(by: .seconds(2))
        _ = await wakeUps.next()
        #expect(timer.takeExpired().keys == ["late"])
        #expect(timer.takeExpired().keys.isEmpty, "each key fires once")
    }

    @Test("an earlier deadline re-arms the task; a removed one never fires")
    func rearmsForEarlierDeadline() async throws {
        let clock = ManualClock()
        var timer = DeadlineTimer<String>(clock: clock)
        let (fired, firing) = AsyncStream.makeStream(of: Void.self)
        timer.set("slow", after: .seconds(10))
        timer.arm { firing.yield() }
        timer.set("fast", after: .seconds(1))
        timer.set("gone", after: .seconds(1))
        timer.remove("gone")
        timer.arm { firing.yield() }
        try await clock.waitForSleeper(dueWithin: .seconds(1))
        clock.advance(by: .seconds(1))
        var wakeUps = fired.makeAsyncIterator()
        _ = await wakeUps.next()
        #expect(timer.takeExpired().keys == ["fast"])
        timer.cancel()
    }
}
