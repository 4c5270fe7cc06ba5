import Foundation
import HybridSyncClient
import HybridSyncDaemonTesting
import Testing

@Suite("Logs never hold a secret (real daemon)")
struct LogHygieneTests {
    @Test("at trace level, after a wrong API key, a right one, a valid token and a forged one, no key, secret or token is in the log")
    func noSecretsInLogs() async throws {
        let daemon = try await TestDaemon.start(engine: .memory, logLevel: "trace")
        let wrongKey = "wrong-key-\(UUID().uuidString)"
        let refused = try await daemon.api.send(method: "GET", path: "/api/bans", authorization: "Bearer \(wrongKey)")
        #expect(refused.status == 401)
        try await daemon.api.publish(channel: "chat:room-1", data: "hello")

        let token = daemon.tokens.token(user: "7")
        let runtime = ClientRuntime(url: daemon.webSocketURL) { token }
        try await runtime.start()
        let app = await runtime.mount("feed")
        _ = try await app.observe("chat:room-1")
        let forged = TokenMinter(secret: "not-the-secret").token(user: "8")
        let intruder = ClientRuntime(url: daemon.webSocketURL) { forged }
        await #expect(throws: ClientRuntimeError.self) { try await intruder.start() }
        await runtime.close()
        #expect(try await daemon.stop() == 0)

        let log = try String(contentsOf: daemon.logFile, encoding: .utf8)
        #expect(log.contains("API request refused"), "the log is the daemon's, at trace level")
        #expect(log.contains("connect refused: invalid token"))
        #expect(log.contains("connection opened"), "debug lines are there too")
        #expect(log.split(separator: "\n").contains { $0.contains("API request") && $0.contains("route=/api/publish") && $0.contains("request=") },
                "each API request has an id, its route and status at debug")
        let signature = { (jwt: String) in String(jwt.split(separator: ".").last ?? "") }
        for (what, secret) in [
            ("the API key", daemon.api.apiKey), ("the offered wrong key", wrongKey), ("the token secret", daemon.tokens.secret),
            ("a valid token", token), ("a valid token's signature", signature(token)), ("a forged token", forged),
            ("a forged token's signature", signature(forged)),
        ] {
            #expect(!log.contains(secret), "\(what) is in the daemon's log")
        }
    }

    @Test("log.format json: every line of the daemon's log is one JSON object with ts, level, message and the metadata")
    func jsonLogs() async throws {
        let daemon = try await TestDaemon.start(arguments: ["--log-format", "json"], engine: .memory)
        let token = daemon.tokens.token(user: "7")
        var fromAddress = WebSocketTransport.Configuration()
        fromAddress.sourceAddress = "127.0.0.3"
        // From 127.0.0.3: the peer address the log names is the one the daemon accepted from.
        let runtime = ClientRuntime(url: daemon.webSocketURL, transport: WebSocketTransport(configuration: fromAddress)) { token }
        try await runtime.start()
        await runtime.close()
        #expect(try await daemon.stop() == 0)
        let lines = try String(contentsOf: daemon.logFile, encoding: .utf8).split(separator: "\n")
        #expect(!lines.isEmpty)
        var connected: [String: Any]?
        for line in lines {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect(object?["ts"] is String && object?["level"] is String && object?["message"] is String, "\(line)")
            if object?["message"] as? String == "client connected" { connected = object }
        }
        #expect(connected?["connection"] != nil, "the connection id is a field")
        #expect(connected?["peer"] as? String == "127.0.0.3", "the peer's address is a field")
        #expect(connected?["level"] as? String == "info")
    }
}
