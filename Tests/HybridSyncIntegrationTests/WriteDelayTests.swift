import HybridSyncClient
import HybridSyncProtocol
import HybridSyncDaemonTesting
import Testing

/// `limits.writeDelayMillis`: publications wait for the window and leave together.
@Suite("Write delay (real daemon)")
struct WriteDelayTests {
    @Test("with a write delay, publications made within the window share frames; every one arrives, in order; replies do not wait",
          arguments: [1, 3])
    func publicationsShareFrames(threads: Int) async throws {
        // With 3 service threads the connection is usually not on the hub's, so the reply comes
        // from another thread than the command was read on.
        let daemon = try await TestDaemon.start(
            arguments: ["--limits-write-delay-millis", "1000", "--server-threads", String(threads)], engine: .memory
        )
        let connection = try await WebSocketTransport().connect(to: daemon.webSocketURL)
        func nextMessages() async throws -> [ServerMessage] {
            guard case .frame(let frame)? = try await connection.events.first(within: .seconds(10)) else { return [] }
            return try FrameCodec.messages(in: frame).map { try ServerMessage.decode($0) }
        }
        connection.send(Array(#"{"id":1,"op":"connect","token":"\#(daemon.tokens.token(user: "7"))"}"#.utf8))
        _ = try await nextMessages()
        connection.send(Array(#"{"id":2,"op":"subscribe","channel":"chat:room"}"#.utf8))
        _ = try await nextMessages()
        for n in 1...10 { try await daemon.api.publish(channel: "chat:room", data: .int(Int64(n))) }
        var frames = 0
        var offsets: [UInt64] = []
        while offsets.count < 10 {
            let messages = try await nextMessages()
            frames += 1
            offsets += messages.compactMap { if case .push(.publication(let p)) = $0 { p.offset } else { nil } }
        }
        #expect(offsets == Array(1...10))
        #expect(frames < 10, "publications within one window share frames (got \(frames) frames)")

        // A publication waits for the window, a reply does not: the reply takes it along, at once.
        // Timed from before the publish: the window opens when the daemon takes publication 11, so
        // a reply that waited for it would arrive 1 s or more after `started`, however fast or
        // loaded the machine; one that did not takes two round trips.
        let started = ContinuousClock.now
        try await daemon.api.publish(channel: "chat:room", data: 11)
        connection.send(Array(#"{"id":3,"op":"ping"}"#.utf8))
        let together = try await nextMessages()
        #expect(together.count == 2 && together.last == .reply(id: 3, .success(.object([:]))), "\(together)")
        #expect(ContinuousClock.now - started < .seconds(1), "before the 1 s window ends")
        connection.close(code: .normal, reason: "done")
        #expect(try await daemon.stop() == 0)
    }
}
