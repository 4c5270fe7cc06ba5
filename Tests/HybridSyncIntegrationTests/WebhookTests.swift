import Foundation
import Glibc
import HybridSyncDaemonTesting
import HybridSyncProtocol
import Testing

/// Webhooks against a real daemon (SQLite) and a receiver written from API.md alone (Python).
@Suite("Webhooks (real daemon, Python receiver)", .offTheCooperativePool)
struct WebhookTests {
    @Test("signed, batched, at least once: a receiver down for 60 s with a kill -9 and restart of the daemon in between gets every event, every signature verifies")
    func outageAndRestart() async throws {
        let secret = "webhook-secret-0123456789"
        let receiver = try PythonScript("webhook_receiver.py", [secret])
        let port = try #require(try await receiver.readLine().flatMap { Int($0) })
        let arguments = [
            "--webhooks-url", "http://127.0.0.1:\(port)/hybridsync/events", "--webhooks-secret", secret,
            "--webhooks-max-backoff-seconds", "2", "--namespaces-chat-presence", "true",
        ]
        var daemon = try await TestDaemon.start(arguments: arguments, engine: .sqlite())
        var received: [JSONValue] = []
        var allVerified = true
        /// Reads the receiver's lines until `done` holds for what arrived (bounded by `timeout`).
        func receive(within timeout: Duration, until done: ([JSONValue]) -> Bool) async throws {
            let deadline = ContinuousClock.now + timeout
            while !done(received), ContinuousClock.now < deadline {
                guard let line = try await receiver.readLine(within: deadline - ContinuousClock.now) else { break }
                guard let request = try? JSONValue.parse(Array(line.utf8)), let events = request["events"]?.arrayValue else { continue }
                allVerified = allVerified && request["verified"] == true
                received += events
            }
        }
        func has(_ type: String, _ field: String, _ value: JSONValue) -> ([JSONValue]) -> Bool {
            { events in events.contains { $0["type"]?.stringValue == type && $0["data"]?[field] == value } }
        }

        _ = try await daemon.api.ban(user: "5", reason: "spam")
        try await receive(within: .seconds(20), until: has("ban", "user", "5"))
        #expect(has("ban", "user", "5")(received), "delivered while the receiver is up")

        receiver.writeLine("down")
        #expect(try await receiver.readLine() == "down")
        let down = ContinuousClock.now
        _ = try await daemon.api.unban(user: "5")
        let client = try await RawClient.open(daemon.webSocketURL)
        #expect(try await client.connect(token: daemon.tokens.token(user: "7")).isSuccess)
        client.send(#"{"id":2,"op":"subscribe","channel":"chat:lobby"}"#)
        #expect(try await client.next().isSuccess)
        client.close()
        let before = daemon
        try await eventually(.seconds(20), "the presence leave") {
            try await before.api.request("GET", "/api/presence_stats/chat:lobby")["users"] == 0
        }
        // A crash with events waiting, and a restart: nothing is lost (the SQLite engine's outbox).
        daemon.kill()
        daemon = try await daemon.restart()
        let waited = ContinuousClock.now - down
        if waited < .seconds(60) { try await Task.sleep(for: .seconds(60) - waited) }
        receiver.writeLine("up")

        // No new event after the restart: what was stored before the crash is sent on its own.
        let expected: [(String, String, JSONValue)] = [
            ("unban", "user", "5"), ("presence_join", "user", "7"), ("channel_occupied", "channel", "chat:lobby"),
            ("presence_leave", "user", "7"), ("channel_vacated", "channel", "chat:lobby"),
        ]
        try await receive(within: .seconds(30)) { events in expected.allSatisfy { has($0.0, $0.1, $0.2)(events) } }
        for (type, field, value) in expected { #expect(has(type, field, value)(received), "\(type) \(value)") }
        _ = try await daemon.api.ban(user: "6", reason: "after the restart")
        try await receive(within: .seconds(20), until: has("ban", "user", "6"))
        #expect(has("ban", "user", "6")(received), "and the restarted daemon goes on")
        #expect(allVerified, "every request's signature verifies with the documented recipe")
        let ids = received.compactMap { $0["id"]?.stringValue }
        #expect(ids.count == received.count && !ids.isEmpty, "every event has an id")
        #expect(try await daemon.stop() == 0)
    }
}

@Suite("Webhook backlog (real daemon)", .offTheCooperativePool)
struct WebhookBacklogTests {
    @Test("past webhooks.maxBacklog an event is dropped and counted in /metrics, never silently; the backlog gauge shows what waits")
    func overflowIsCounted() async throws {
        // A receiver that is never there: a port nobody listens on (a listener bound, then closed).
        let closed = try #require(loopbackListener(on: "127.0.0.1"))
        _ = Glibc.close(closed.fd)
        let daemon = try await TestDaemon.start(arguments: [
            "--webhooks-url", "http://127.0.0.1:\(closed.port)/", "--webhooks-secret", "webhook-secret-0123456789",
            "--webhooks-max-backlog", "2", "--webhooks-events", "ban",
        ], engine: .memory)
        for user in ["1", "2", "3", "4", "5"] { _ = try await daemon.api.ban(user: user, reason: "spam") }
        let response = try await daemon.api.send(method: "GET", path: "/metrics", authorization: "")
        let metrics = try PrometheusText(String(decoding: response.body, as: UTF8.self))
        #expect(metrics[#"hybridsync_webhook_events_dropped_total{why="backlog"}"#] == 3)
        #expect(metrics["hybridsync_webhook_backlog"] == 2)
        #expect(try await daemon.stop() == 0)
    }
}
