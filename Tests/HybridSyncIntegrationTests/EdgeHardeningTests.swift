import Foundation
import HybridSyncProtocol
import HybridSyncDaemonTesting
import Testing

/// Runs one `Tests/Interop/attacks.py` probe and returns its JSON line.
private func attack(_ arguments: String..., within timeout: Duration = .seconds(90)) async throws -> JSONValue {
    let script = try PythonScript("attacks.py", arguments)
    guard let line = try await script.readLine(within: timeout) else { throw ProbeFailed(output: "no output") }
    guard let value = try? JSONValue.parse(Array(line.utf8)) else { throw ProbeFailed(output: line) }
    return value
}

private struct ProbeFailed: Error, CustomStringConvertible {
    let output: String
    var description: String { "attacks.py printed: \(output)" }
}

private func ports(_ daemon: TestDaemon) -> (public: String, api: String) {
    (String(daemon.webSocketPort), String(daemon.apiPort))
}

/// The attacks of the edge-hardening issue, replayed against the real daemon on loopback. Each one
/// froze, leaked or misled the daemon before its HTTP and WebSocket layer became its own.
@Suite("Edge hardening (real daemon, hostile clients)", .serialized)
struct EdgeHardeningTests {
    @Test("pipelined requests get exactly one response and a close, on both ports; the daemon stays responsive")
    func pipelining() async throws {
        let daemon = try await TestDaemon.start()
        let (ws, api) = ports(daemon)
        let getThenPost = #"GET / HTTP/1.1\r\nHost: x\r\n\r\nPOST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"#
        for port in [ws, api] {
            let result = try await attack("raw", "127.0.0.1", port, getThenPost)
            #expect(result["statuses"]?.arrayValue?.count == 1, "port \(port): \(result)")
            #expect(result["closed"] == true)
            #expect((result["bytes"]?.intValue ?? .max) < 4096)
        }
        let twoPosts = #"POST /api/publish HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}POST /api/publish HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"#
        let healthThenPost = #"GET /health HTTP/1.1\r\nHost: x\r\n\r\nPOST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"#
        for request in [twoPosts, healthThenPost] {
            let result = try await attack("raw", "127.0.0.1", api, request)
            #expect(result["statuses"]?.arrayValue?.count == 1, "\(result)")
            #expect(result["closed"] == true)
        }
        #expect(try await daemon.api.health()["status"] == "ok")
        try await daemon.stop()
    }

    @Test("the backend API never answers on the public port, even with the right key")
    func noAPIOnPublicPort() async throws {
        let daemon = try await TestDaemon.start()
        let (ws, _) = ports(daemon)
        let body = #"{"channel":"chat:x","data":1}"#
        let request = "POST /api/publish HTTP/1.1\\r\\nHost: x\\r\\nAuthorization: Bearer \(daemon.api.apiKey)\\r\\nContent-Length: \(body.utf8.count)\\r\\n\\r\\n\(body)"
        let result = try await attack("raw", "127.0.0.1", ws, request)
        #expect(result["statuses"] == [426])
        #expect(try await daemon.api.channelInfo("chat:x")["offset"] == 0, "nothing was published")
        try await daemon.stop()
    }

    @Test("ambiguous framing gets one 400 and a close; Content-Length: 0 gets one answer")
    func oneResponsePerRequest() async throws {
        let daemon = try await TestDaemon.start()
        let (ws, api) = ports(daemon)
        let empty = try await attack("raw", "127.0.0.1", api, #"POST /api/publish HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"#)
        #expect(empty["statuses"] == [401], "one answer, and the connection stays open for the next request")
        let cases: [(String, String, [Int])] = [
            (api, #"POST /api/publish HTTP/1.1\r\nHost: x\r\nContent-Length: 3x\r\n\r\nabc"#, [400]),
            (api, #"POST /api/publish HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc"#, [400]),
            (api, #"POST /api/publish HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"#, [501]),
            (ws, #"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"#, [426]),
            (ws, #"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"#, [426]),
            (ws, #"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n"#, [400]),
        ]
        for (port, request, statuses) in cases {
            let result = try await attack("raw", "127.0.0.1", port, request)
            #expect(result["statuses"] == .array(statuses.map { .int(Int64($0)) }), "\(request): \(result)")
            #expect(result["closed"] == true, "\(request)")
        }
        try await daemon.stop()
    }

    @Test("slow heads and slow bodies are dropped at their deadline, on both ports")
    func slowClients() async throws {
        let daemon = try await TestDaemon.start(arguments: [
            "--limits-http-header-timeout-seconds", "1", "--limits-http-body-timeout-seconds", "1",
        ])
        let (ws, api) = ports(daemon)
        for (port, head) in [
            (ws, #"GET / HTTP/1.1\r\n"#),
            (api, #"GET /health HTTP/1.1\r\n"#),
            (api, #"POST /api/publish HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"#),
        ] {
            let result = try await attack("drip", "127.0.0.1", port, head, "0.3")
            let after = result["closed_after"]?.doubleValue ?? .infinity
            #expect(after < 5, "dripping \(head) on \(port) was dropped after \(after) s")
        }
        try await daemon.stop()
    }

    @Test("at the connection cap and at fd exhaustion accept does not spin; the API still answers")
    func connectionCap() async throws {
        let daemon = try await TestDaemon.start(openFileLimit: 256)
        let (ws, api) = ports(daemon)
        let result = try await attack("flood", "127.0.0.1", ws, "600", api, String(daemon.processIdentifier))
        #expect((result["cpu"]?.doubleValue ?? 1) < 0.5, "daemon CPU while flooded: \(result)")
        #expect(result["health"] == 200)
        #expect(try await daemon.api.health()["status"] == "ok")
        try await daemon.stop()
    }

    @Test("5,000 and then 10,000 upgraded sockets that never send connect are all closed with 4003 at the connect timeout, not later")
    func connectTimeoutUnderMass() async throws {
        let daemon = try await TestDaemon.start(engine: .memory)
        for count in [5000, 10000] {
            let result = try await attack("deadline", "127.0.0.1", ports(daemon).public, String(count))
            #expect(result["upgraded"] == .int(Int64(count)), "\(result)")
            #expect(result["codes"] == ["4003": .int(Int64(count))], "\(result)")
            // [min, median, max] seconds from each upgrade request to its close frame. The timeout is
            // 10 s; the defect this guards against closed them after 20-21 s. The margin is for a
            // loaded machine: this VM measured 10.0-11.2 s at 10,000 with a debug build alone, and
            // 10.1-13.8 s with the rest of the suite beside it (the browser tests in Chromium).
            let spread = result["close_frame_s"]?.arrayValue?.compactMap(\.doubleValue) ?? []
            #expect(spread.count == 3 && spread[0] >= 9.9 && spread[2] < 16, "\(count) sockets: \(result)")
        }
        try await daemon.stop()
    }

    @Test("2,000 idle keep-alive API connections do not lock a backend out: the longest idle make room, a publish is answered")
    func idleKeepAlivesMakeRoom() async throws {
        let daemon = try await TestDaemon.start()
        let result = try await attack("keepalive", "127.0.0.1", ports(daemon).api, "2000", daemon.api.apiKey)
        #expect(result["held"] == 2000, "every keep-alive request was answered: \(result)")
        #expect(result["publish"] == 200, "the backend's publish was answered before its 8 s limit: \(result)")
        #expect((result["evicted"]?.intValue ?? 0) >= 2000 - 128, "only the cap's worth of idle connections stay: \(result)")
        #expect(try await daemon.api.channelInfo("chat:keepalive")["offset"] == 1)
        try await daemon.stop()
    }

    @Test("thousands of half-open upgrades expiring together do not stall a healthy client")
    func massExpiry() async throws {
        let daemon = try await TestDaemon.start(arguments: ["--limits-http-header-timeout-seconds", "2", "--limits-connect-timeout-seconds", "60"])
        let (ws, _) = ports(daemon)
        let result = try await attack("halfopen", "127.0.0.1", ws, "4000")
        #expect(result["closed"] == 4000)
        // An order of magnitude, not the budget: the stall this replaces took 2.7 s. The figure
        // (14 ms at 17,000 sockets) is scripts/edge_figures.sh's, in docs/RELIABILITY.md.
        #expect((result["max_rtt_ms"]?.doubleValue ?? .infinity) < 1000, "\(result)")
        try await daemon.stop()
    }

    @Test("a connect storm waits in the accept queue (limits.maxConnectingPerThread); sockets that send nothing cannot keep it there")
    func connectGate() async throws {
        let daemon = try await TestDaemon.start(
            arguments: ["--server-threads", "1", "--limits-max-connecting-per-thread", "2"], engine: .memory)
        // Ten sockets that connect and never send a byte: two slots, each freed after 0.5 s.
        let idle = try (0..<10).map { _ in try connectedSocket(port: daemon.webSocketPort) }
        defer { for socket in idle { close(socket) } }
        let client = try await RawClient.open(daemon.webSocketURL)
        #expect(try await client.connect(token: daemon.tokens.token(user: "after-the-idle-ones")).isSuccess)
        let log = try String(contentsOf: daemon.logFile, encoding: .utf8)
        #expect(log.contains("connect storm: accepting paused while this thread's sockets connect"), "the gate was shut meanwhile")
        #expect(log.contains("limit=2"))
        try await daemon.stop()
    }

    /// A TCP connection to loopback `port` (the kernel completes it; the daemon may accept it later).
    private func connectedSocket(port: Int) throws -> Int32 {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard socket >= 0, result == 0 else { throw ProbeFailed(output: "connect to 127.0.0.1:\(port): errno \(errno)") }
        return socket
    }

    @Test("h2c is refused on both ports")
    func noHTTP2() async throws {
        let daemon = try await TestDaemon.start()
        let (ws, api) = ports(daemon)
        let h2c = #"GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n"#
        for port in [ws, api] {
            let result = try await attack("raw", "127.0.0.1", port, h2c)
            #expect(result["statuses"] == [400], "port \(port): \(result)")
        }
        let preface = #"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"#
        #expect(try await attack("raw", "127.0.0.1", api, preface)["statuses"] == [505])
        try await daemon.stop()
    }

    @Test("RFC 6455: invalid UTF-8 closes with 1007, an unmasked frame with 1002, a wrong subprotocol gets HTTP 400")
    func framing() async throws {
        let daemon = try await TestDaemon.start()
        let (ws, _) = ports(daemon)
        // Masked text frame (key 00000000) carrying CE BA FF: FF is never UTF-8.
        #expect(try await attack("frame", "127.0.0.1", ws, "818300000000ceba" + "ff")["close_code"] == 1007)
        #expect(try await attack("frame", "127.0.0.1", ws, "810161")["close_code"] == 1002)
        let wrong = try await attack("upgrade", "127.0.0.1", ws, "chat.v2")
        #expect(wrong["status"] == 400)
        #expect(wrong["body"]?.stringValue?.contains("hybridsync.v1") == true)
        try await daemon.stop()
    }

    @Test("no log line carries the API key, the token secret or a whole token, even at debug")
    func noSecretsInLogs() async throws {
        let daemon = try await TestDaemon.start(logLevel: "debug")
        let token = daemon.tokens.token(user: "log-check")
        let client = try await RawClient.open(daemon.webSocketURL)
        #expect(try await client.connect(token: token).isSuccess)
        let bad = try await RawClient.open(daemon.webSocketURL)
        _ = try await bad.connect(token: token + "x")
        _ = try? await daemon.api.publish(channel: "chat:x", data: 1)
        try await daemon.stop()
        let log = try String(contentsOf: daemon.logFile, encoding: .utf8)
        #expect(log.contains("debug"), "the daemon logged at debug")
        #expect(!log.contains(daemon.api.apiKey))
        #expect(!log.contains(daemon.tokens.secret))
        let secretBytes = Array(daemon.tokens.secret.utf8).map(String.init).joined(separator: ", ")
        #expect(!log.contains(secretBytes))
        #expect(!log.contains(token))
        #expect(!log.contains(String(token.split(separator: ".").last!)), "no token signature")
    }
}

extension EdgeHardeningTests {
    @Test("API.md: channel names in paths are percent-decoded: '/' as %2F, '#' as %23")
    func percentEncodedChannelNames() async throws {
        let daemon = try await TestDaemon.start()
        try await daemon.api.publish(channel: "app:team/a", data: 1)
        let history = try await daemon.api.send(method: "GET", path: "/api/history/app:team%2Fa")
        #expect(history.status == 200)
        #expect(history.json?["channel"] == "app:team/a")
        #expect(history.json?["offset"] == 1)
        let personal = try await daemon.api.send(method: "GET", path: "/api/channels/user:user%2342")
        #expect(personal.json?["channel"] == "user:user#42")
        #expect(try await daemon.api.send(method: "GET", path: "/api/history/app:bad%2").status == 400)
        try await daemon.stop()
    }

    @Test("API.md: HEAD is answered wherever GET is, with GET's head and no body; other methods get 405 with Allow")
    func headAndAllow() async throws {
        let daemon = try await TestDaemon.start(engine: .memory)
        let (_, api) = ports(daemon)
        let key = "Authorization: Bearer \(daemon.api.apiKey)"
        for path in ["/health", "/ready", "/metrics", "/api/bans", "/api/channels/app:a"] {
            let head = try await attack("raw", "127.0.0.1", api, #"HEAD \#(path) HTTP/1.1\r\nHost: x\r\n\#(key)\r\nConnection: close\r\n\r\n"#)
            #expect(head["statuses"] == [200], "\(path): \(head)")
            #expect(head["body"] == "", "\(path): no body after the head")
            #expect(head["closed"] == true)
        }
        let post = try await httpRequest("\(daemon.apiURL)/api/bans", method: "POST", headers: ["Authorization": "Bearer \(daemon.api.apiKey)"])
        #expect(post.status == 405)
        #expect(post.headers["allow"] == "GET, HEAD")
        try await daemon.stop()
    }

    @Test("SIGTERM: a disconnect push, then 4000; the daemon waits for the close handshake, at most shutdown.graceSeconds")
    func gracefulShutdown() async throws {
        let daemon = try await TestDaemon.start(arguments: ["--shutdown-grace-seconds", "20"])
        let client = try await RawClient.open(daemon.webSocketURL)
        #expect(try await client.connect(token: daemon.tokens.token(user: "polite")).isSuccess)
        let started = ContinuousClock.now
        let stopping = Task { try await daemon.stop() }
        #expect(try await client.next() == .message(.push(.disconnect(code: .shutdown, reason: "server shutting down"))))
        #expect(try await client.closeCode() == .shutdown)
        #expect(try await stopping.value == 0)
        #expect(ContinuousClock.now - started < .seconds(10), "a client that answers the close lets the daemon go before the grace ends")

        // A client that never answers holds the daemon for the grace period (3 s in TestDaemon), no longer.
        let again = try await TestDaemon.start()
        let stubborn = try PythonScript("attacks.py", ["stubborn", "127.0.0.1", ports(again).public, again.tokens.token(user: "stubborn")])
        // Upgraded (101 received); whether its `connect` was handled does not matter: it never
        // answers the close, so the daemon has to wait out the grace either way.
        #expect(try await stubborn.readLine() == "connected")
        let stopAt = ContinuousClock.now
        #expect(try await again.stop() == 0)
        let took = ContinuousClock.now - stopAt
        #expect(took >= .milliseconds(2500) && took < .seconds(8), "exit took \(took)")
    }
}

extension EdgeHardeningTests {
    @Test(
        "idle unauthenticated sockets cost little, the memory comes back when they close, a second wave adds nothing",
        .disabled(if: ProcessInfo.processInfo.environment["HYBRIDSYNC_SANITIZER"] != nil, "under a sanitizer RSS measures its shadow memory")
    )
    func idleMemory() async throws {
        let daemon = try await TestDaemon.start(arguments: ["--limits-connect-timeout-seconds", "60"])
        let result = try await attack("idle", "127.0.0.1", ports(daemon).public, "3000", String(daemon.processIdentifier))
        let rss = (result["rss_kib"]?.arrayValue ?? []).compactMap(\.intValue)
        try #require(rss.count == 5, "\(result)")
        let (before, open1, closed1, open2, closed2) = (rss[0], rss[1], rss[2], rss[3], rss[4])
        let growth = open1 - before
        // An order of magnitude, not the budget: a buffer kept per idle socket would show here.
        // The figure itself (about 2.3 KB) is measured by `make bench` (docs/PERFORMANCE.md).
        #expect(growth < 3000 * 32, "well under 32 KiB per idle socket: \(rss)")
        // "Returned" with headroom for a loaded machine: a CI run kept 2,764 of 5,496 KiB after the
        // second wave (the figures of RELIABILITY.md are measured alone).
        #expect(closed1 - before < growth * 2 / 3, "most of it is returned after close: \(rss)")
        #expect(open2 - open1 < 2048, "a second wave reuses the memory: \(rss)")
        #expect(closed2 - before < growth * 2 / 3, "\(rss)")
        try await daemon.stop()
    }
}
