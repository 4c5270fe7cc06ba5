import Foundation
import HybridSyncClient
import HybridSyncProtocol
import HybridSyncDaemonTesting
import Testing

/// Issue-3 guarantees on the real daemon and the real wire.
@Suite("Server semantics (real daemon)")
struct ServerSemanticsTests {
    @Test("a client that stops reading is closed with 4001 once its queue passes the limit; a fast one gets everything in order")
    func slowConsumer() async throws {
        let daemon = try await TestDaemon.start(arguments: ["--limits-max-queued-bytes", "262144"])
        let channel = "app:firehose"
        let token = daemon.tokens.token(user: "fast")
        let fast = ClientRuntime(url: daemon.webSocketURL) { token }
        try await fast.start()
        let app = await fast.mount("fast")
        let stream = try await app.observe(channel)

        let slow = try PythonScript("probes.py", ["slow", daemon.webSocketURL, daemon.tokens.token(user: "slow"), channel])
        #expect(try await slow.readLine() == "subscribed")
        #expect(try await daemon.api.channelInfo(channel)["subscribers"] == 2)

        let payload = JSONValue.string(String(repeating: "x", count: 32 * 1024))
        var published = 0
        while try await daemon.api.health()["connections"] == 2 {
            guard published < 2000 else { break }  // bounded: ~64 MB at most
            try await daemon.api.publish(channel: channel, data: ["n": .int(Int64(published + 1)), "pad": payload])
            published += 1
        }
        #expect(try await daemon.api.health()["connections"] == 1, "the slow consumer was closed after \(published) publications")
        slow.writeLine("read")
        let closed = try await slow.readLine()
        #expect(closed == "closed 4001")

        // The fast client saw every publication, in order, with no gap.
        let total = published
        let received = try await withTimeout(.seconds(30), "fast client catches up") {
            var offsets: [UInt64] = []
            for try await event in stream {
                guard let publication = event.publication else { continue }
                offsets.append(publication.offset)
                if offsets.count == total { break }
            }
            return offsets
        }
        #expect(received == Array(1...UInt64(total)))
        await fast.close()
        try await daemon.stop()
    }

    @Test("a subscriber that pauses gets every publication intact and in order once it reads again (writes the kernel takes only part of)")
    func pausedSubscriberCatchesUp() async throws {
        // 40 frames of 100 KB cannot fit a 4 KiB receive window and the socket's send buffer, and
        // each spans two loopback segments (64 KiB at most), so the kernel takes part of one
        // `send` and lws keeps the rest (the path under test).
        let daemon = try await TestDaemon.start(arguments: ["--limits-max-queued-bytes", "67108864"])
        let channel = "app:paused"
        let count = 40
        let size = 100_000
        let paused = try PythonScript("probes.py", [
            "paused", daemon.webSocketURL, daemon.tokens.token(user: "paused"), channel, "\(count)",
        ])
        #expect(try await paused.readLine() == "subscribed")
        let pad = JSONValue.string(String(repeating: "x", count: size))
        for n in 1...count {
            try await daemon.api.publish(channel: channel, data: ["n": .int(Int64(n)), "size": .int(Int64(size)), "pad": pad])
        }
        paused.writeLine("read")
        let line = try await paused.readLine()
        #expect(line?.hasPrefix("received \(count) in order") == true, "\(line ?? "no answer")")
        try await daemon.stop()
    }

    @Test("a disallowed Origin gets 403 before the upgrade; allowed and absent ones connect")
    func originAllowList() async throws {
        let daemon = try await TestDaemon.start(arguments: ["--server-allowed-origins", "https://app.example.com"])
        let evil = try PythonScript("probes.py", ["origin", daemon.webSocketURL, "https://evil.example.com"])
        #expect(try await evil.readLine() == "status 403")
        let good = try PythonScript("probes.py", ["origin", daemon.webSocketURL, "https://app.example.com"])
        #expect(try await good.readLine() == "status 101")
        let raw = try await RawClient.open(daemon.webSocketURL)  // no Origin: not a browser
        #expect(try await raw.connect(token: daemon.tokens.token(user: "1")).isSuccess)
        try await daemon.stop()
    }

    @Test("PROTOCOL.md: the connect result advertises the daemon's configured limits")
    func advertisedLimits() async throws {
        let daemon = try await TestDaemon.start(arguments: [
            "--limits-max-message-bytes", "4096", "--limits-commands-per-second", "20", "--limits-command-burst", "30",
        ], engine: .memory)
        let client = try await RawClient.open(daemon.webSocketURL)
        guard case .message(.reply(1, .success(let json))) = try await client.connect(token: daemon.tokens.token(user: "7")),
              let result = ConnectResult(json) else {
            Issue.record("connect failed")
            return
        }
        #expect(result.version == HybridSyncWire.serverVersion)
        #expect(result.limits == ConnectionLimits(maxMessageBytes: 4096, commandsPerSecond: 20, commandBurst: 30))
        try await daemon.stop()
    }

    @Test("an unauthenticated socket is closed after the connect timeout")
    func connectTimeout() async throws {
        let daemon = try await TestDaemon.start(arguments: ["--limits-connect-timeout-seconds", "1"])
        let idle = try await RawClient.open(daemon.webSocketURL)
        #expect(try await idle.closeCode(within: .seconds(10)) == .connectTimeout)
        try await daemon.stop()
    }

    @Test("too many channels on one connection is answered with 106")
    func channelLimit() async throws {
        let daemon = try await TestDaemon.start(arguments: ["--limits-max-channels-per-connection", "2"])
        let client = try await RawClient.open(daemon.webSocketURL)
        #expect(try await client.connect(token: daemon.tokens.token(user: "1")).isSuccess)
        for (id, channel) in [(2, "app:a"), (3, "app:b")] {
            client.send(#"{"id":\#(id),"op":"subscribe","channel":"\#(channel)"}"#)
            #expect(try await client.next().isSuccess)
        }
        client.send(#"{"id":4,"op":"subscribe","channel":"app:c"}"#)
        #expect(try await client.next().errorCode == .limitExceeded)
        try await daemon.stop()
    }

    @Test("a ban over the wire: 'banned' then 4501 for each of the user's sockets, reconnect refused")
    func banOverTheWire() async throws {
        let daemon = try await TestDaemon.start()
        let token = daemon.tokens.token(user: "42")
        var sockets: [RawClient] = []
        for _ in 0..<2 {
            let socket = try await RawClient.open(daemon.webSocketURL)
            #expect(try await socket.connect(token: token).isSuccess)
            sockets.append(socket)
        }
        let response = try await daemon.api.send(method: "POST", path: "/api/ban",
                                                  body: (["user": "42", "reason": "spam"] as JSONValue).jsonBytes)
        #expect(response.json?["sessionsClosed"] == 2)
        for socket in sockets {
            #expect(try await socket.next() == .message(.push(.banned(Ban(reason: "spam", until: nil)))))
            #expect(try await socket.closeCode() == .banned)
        }
        let retry = try await RawClient.open(daemon.webSocketURL)
        retry.send(#"{"id":1,"op":"connect","token":"\#(token)"}"#)
        #expect(try await retry.next() == .message(.push(.banned(Ban(reason: "spam", until: nil)))))
        #expect(try await retry.next().errorCode == .banned)
        #expect(try await retry.closeCode() == .banned)
        try await daemon.stop()
    }
}

