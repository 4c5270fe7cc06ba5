import HybridSyncProtocol
import HybridSyncServer
import HybridSyncTesting
import Testing

/// One monotonic clock for the rules, the wall clock for dates: a step of the system time (NTP, an
/// operator) neither fires nor holds back a timeout.
@Suite("Server clock: timing rules on monotonic time")
struct ServerClockTests {
    @Test("a wall-clock step forward does not time out a socket that has not sent connect; real time passing does")
    func connectTimeoutIgnoresWallSteps() {
        let h = Harness()
        let socket = h.server.openConnection()
        h.clock.stepWallClock(by: 3600)
        h.server.tick()
        #expect(socket.closed == nil, "an hour on the wall clock, no time passed")
        h.clock.advance(by: 11)
        h.server.tick()
        #expect(socket.closed?.code == .connectTimeout)
    }

    @Test("a held token expires after its lifetime of real time, even when the wall clock is stepped back")
    func tokenExpiryIgnoresWallSteps() throws {
        let h = Harness()
        let client = h.server.openConnection()
        client.send(#"{"id":1,"op":"connect","token":"\#(h.token("7", expiresIn: 60))"}"#)
        #expect(client.takeMessages().first.map { if case .reply(1, .success) = $0 { true } else { false } } == true)
        h.clock.stepWallClock(by: -3600)
        _ = h.pass(50, answering: client)
        #expect(client.closed == nil, "50 s of real time: the token holds")
        _ = h.pass(20, answering: client)
        #expect(client.closed?.code == .tokenExpired, "past 60 s of real time")
    }

    @Test("the sessions API shows dates on the wall clock")
    func sessionDatesAreWallTime() throws {
        let h = Harness()
        _ = try h.connected("7")
        h.clock.advance(by: 5)
        let session = h.api("GET", "/api/sessions/7").body["sessions"]?.arrayValue?.first
        #expect(session?["connectedAt"]?.doubleValue == h.clock.now() - 5)
        #expect(session?["lastSeen"]?.doubleValue == h.clock.now() - 5)
    }
}
