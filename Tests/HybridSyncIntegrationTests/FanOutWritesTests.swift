import HybridSyncClient
import HybridSyncProtocol
import HybridSyncDaemonTesting
import Testing

/// How the daemon writes a fan-out (`EdgeWorker+Writes.swift`): at the end of each turn, in
/// order, answering the API between batches, so a publisher is not held up by a long fan-out.
@Suite("Writes during a fan-out (real daemon)")
struct FanOutWritesTests {
    @Test("an API publish is answered while a fan-out is still being written: the next publications share frames with it; all arrive, in order")
    func publisherGetsAhead() async throws {
        // These raw sockets never answer the server's ping: on a loaded machine connecting 600 can
        // take longer than the default 25 s + 10 s, which would close the first ones with 4004.
        let daemon = try await TestDaemon.start(arguments: ["--server-threads", "1", "--ping-interval-seconds", "600"], engine: .memory)
        var connections: [any ClientConnection] = []
        for user in 0..<600 {
            let connection = try await WebSocketTransport().connect(to: daemon.webSocketURL)
            connection.send(Array(#"{"id":1,"op":"connect","token":"\#(daemon.tokens.token(user: "u\(user)"))"}"#.utf8))
            _ = try await connection.events.first(within: .seconds(10))
            connection.send(Array(#"{"id":2,"op":"subscribe","channel":"app:fanout"}"#.utf8))
            _ = try await connection.events.first(within: .seconds(10))
            connections.append(connection)
        }
        // One publisher that waits for each answer, as a backend does. Were the answers written
        // after the fan-out (one message per socket per poll, the usual lws pattern), every
        // publication would reach every socket in a frame of its own.
        for n in 1...20 { try await daemon.api.publish(channel: "app:fanout", data: .int(Int64(n))) }
        var sharedFrames = 0
        for (index, connection) in connections.enumerated() {
            var offsets: [UInt64] = []
            while offsets.count < 20 {
                guard case .frame(let frame)? = try await connection.events.first(within: .seconds(10)) else { break }
                let messages = try FrameCodec.messages(in: frame).map { try ServerMessage.decode($0) }
                if messages.count > 1 { sharedFrames += 1 }
                offsets += messages.compactMap { if case .push(.publication(let p)) = $0 { p.offset } else { nil } }
            }
            #expect(offsets == Array(1...20), "connection \(index): every publication once, in order")
        }
        #expect(sharedFrames > 0, "later publications joined the frames of sockets not written yet")
        for connection in connections { connection.close(code: .normal, reason: "done") }
        #expect(try await daemon.stop() == 0)
    }
}
