import HybridSyncClient
import HybridSyncProtocol
import HybridSyncTesting
import Testing

@Suite("Connection state machine (pure)")
struct ConnectionStateMachineTests {
    let policy = BackoffPolicy(initial: .milliseconds(500), maximum: .seconds(20), multiplier: 2)

    @Test("ceilings double from 0.5 s and cap at 20 s")
    func ceilings() {
        let ceilings = (0..<9).map { policy.ceiling(attempt: $0) }
        let expected: [Duration] = [.milliseconds(500), .seconds(1), .seconds(2), .seconds(4), .seconds(8), .seconds(16), .seconds(20), .seconds(20), .seconds(20)]
        #expect(ceilings == expected)
    }

    @Test("failed attempts back off with the seeded full jitter, within each ceiling")
    func jitteredBackoff() {
        var machine = ConnectionStateMachine(backoff: policy, generator: SeededGenerator(seed: 7))
        var expected = SeededGenerator(seed: 7)
        #expect(machine.start() == [.connect(refreshToken: false)])
        var now = Duration.zero
        for attempt in 1...8 {
            let delay = policy.delay(attempt: attempt, using: &expected)
            #expect(machine.connectFailed(now: now) == [.scheduleRetry(after: delay)], "attempt \(attempt)")
            #expect(delay <= policy.ceiling(attempt: attempt))
            #expect(machine.retryTimerFired(now: now + delay - .milliseconds(1)).isEmpty || delay == .zero, "not before the delay")
            now += delay
            #expect(machine.retryTimerFired(now: now) == [.connect(refreshToken: false)])
        }
        #expect(machine.connected().isEmpty, "first connection: nothing to resubscribe")
    }

    @Test("a reconnect close retries from attempt 0, then resubscribes everything")
    func reconnectThenResubscribe() {
        var machine = ConnectionStateMachine(backoff: policy, generator: SeededGenerator(seed: 1))
        var expected = SeededGenerator(seed: 1)
        _ = machine.start()
        _ = machine.connected()
        let delay = policy.delay(attempt: 0, using: &expected)
        #expect(machine.closed(code: .shutdown, reason: "restart", now: .seconds(100)) == [.scheduleRetry(after: delay)])
        #expect(machine.state == .reconnecting(attempt: 0, until: .seconds(100) + delay))
        #expect(machine.retryTimerFired(now: .seconds(100) + delay) == [.connect(refreshToken: false)])
        #expect(machine.connected() == [.resubscribeAll])
        #expect(machine.closed(code: nil, reason: "dropped", now: .seconds(200)).count == 1, "a drop without close frame also reconnects")
    }

    @Test("terminal codes stop; nothing reconnects by itself, only an explicit start() begins again", arguments: [CloseCode.banned, .invalidToken, .badRequest, .permissionDenied, .forceDisconnect])
    func terminal(code: CloseCode) {
        var machine = ConnectionStateMachine(backoff: policy, generator: SeededGenerator(seed: 3))
        _ = machine.start()
        _ = machine.connected()
        #expect(machine.closed(code: code, reason: "no", now: .seconds(1)) == [.reportTerminal(code: code, reason: "no")])
        #expect(machine.state == .closed(code: code, reason: "no"))
        #expect(machine.retryTimerFired(now: .seconds(1000)).isEmpty)
        #expect(machine.closed(code: .shutdown, reason: "late", now: .seconds(2)).isEmpty)
        #expect(machine.connectFailed(now: .seconds(3)).isEmpty)
        #expect(machine.start() == [.connect(refreshToken: false)], "after an unban or with a new token")
        #expect(machine.connected() == [.resubscribeAll])
    }

    @Test("token expired: refresh the token and reconnect at once")
    func tokenExpired() {
        var machine = ConnectionStateMachine(backoff: policy, generator: SeededGenerator(seed: 5))
        _ = machine.start()
        _ = machine.connected()
        #expect(machine.closed(code: .tokenExpired, reason: "expired", now: .seconds(1)) == [.connect(refreshToken: true)])
        #expect(machine.connected() == [.resubscribeAll])
    }

    @Test("a token found expired again while connecting backs off, and the third refusal in a row stops")
    func tokenAlwaysExpired() {
        var machine = ConnectionStateMachine(backoff: policy, generator: SeededGenerator(seed: 5))
        _ = machine.start()
        for refusal in 1...ConnectionStateMachine.maxExpiredTokenRefusals {
            let actions = machine.closed(code: .tokenExpired, reason: "expired", now: .seconds(Int64(refusal * 100)))
            if refusal < ConnectionStateMachine.maxExpiredTokenRefusals {
                guard case .scheduleRetry? = actions.first else {
                    Issue.record("refusal \(refusal): \(actions)")
                    return
                }
                #expect(machine.retryTimerFired(now: .seconds(Int64(refusal * 100 + 50))) == [.connect(refreshToken: true)])
            } else {
                #expect(actions == [.reportTerminal(code: .tokenExpired, reason: "expired")])
            }
        }
    }

    @Test("suspend closes the socket and waits; resume connects at once and resubscribes; a permanent failure stops")
    func suspendResume() {
        var machine = ConnectionStateMachine(backoff: policy, generator: SeededGenerator(seed: 7))
        _ = machine.start()
        _ = machine.connected()
        #expect(machine.suspend() == [.closeSocket])
        #expect(machine.state == .suspended)
        #expect(machine.retryTimerFired(now: .seconds(100)).isEmpty)
        #expect(machine.resume() == [.connect(refreshToken: false)])
        #expect(machine.connected() == [.resubscribeAll])
        #expect(machine.reconnectCount == 1)
        _ = machine.closed(code: nil, reason: "dropped", now: .seconds(200))
        #expect(machine.resume() == [.connect(refreshToken: false)], "resume cuts the backoff short")
        #expect(machine.connectFailed(reason: "bad URL", permanent: true, now: .seconds(201))
            == [.reportTerminal(code: nil, reason: "bad URL")])
    }

    @Test("stop closes the socket once and then ignores everything")
    func stop() {
        var machine = ConnectionStateMachine(backoff: policy, generator: SeededGenerator(seed: 9))
        _ = machine.start()
        _ = machine.connected()
        #expect(machine.stop() == [.closeSocket])
        #expect(machine.stop().isEmpty)
        #expect(machine.closed(code: .shutdown, reason: "x", now: .zero).isEmpty)
    }
}
