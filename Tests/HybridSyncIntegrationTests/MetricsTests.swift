import Foundation
import HybridSyncClient
import HybridSyncDaemonTesting
import Testing

/// Reads Prometheus text exposition format (0.0.4): every line is a comment (`# HELP`, `# TYPE`) or a
/// sample `name{label="value",...} number`. Throws on anything else.
struct PrometheusText {
    struct Malformed: Error, CustomStringConvertible {
        let line: String
        var description: String { "not Prometheus text: \(line)" }
    }

    /// Sample values by `name{labels}` exactly as written.
    private(set) var samples: [String: Double] = [:]
    /// Metric families by name, from `# TYPE`.
    private(set) var types: [String: String] = [:]

    init(_ text: String) throws {
        let sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (\S+)$/
        for line in text.split(separator: "\n", omittingEmptySubsequences: true).map(String.init) {
            if line.hasPrefix("# TYPE ") {
                let parts = line.split(separator: " ")
                guard parts.count == 4, ["counter", "gauge", "histogram", "summary", "untyped"].contains(String(parts[3])) else {
                    throw Malformed(line: line)
                }
                types[String(parts[2])] = String(parts[3])
            } else if line.hasPrefix("#") {
                continue
            } else if let match = line.wholeMatch(of: sample), let value = Double(match.3) ?? (match.3 == "+Inf" ? .infinity : nil) {
                samples[String(match.1) + String(match.2 ?? "")] = value
            } else {
                throw Malformed(line: line)
            }
        }
    }

    subscript(_ key: String) -> Double { samples[key] ?? 0 }
}

@Suite("Prometheus /metrics (real daemon)")
struct MetricsTests {
    @Test("the parser accepts the exposition format and refuses what is not")
    func parser() throws {
        let text = try PrometheusText("""
        # HELP x_total Things.
        # TYPE x_total counter
        x_total 3
        x_total{code="4001",route="/api/state/:channel"} 1.5
        # TYPE h histogram
        h_bucket{le="+Inf"} 2
        """)
        #expect(text["x_total"] == 3)
        #expect(text[#"x_total{code="4001",route="/api/state/:channel"}"#] == 1.5)
        #expect(text.types["h"] == "histogram")
        #expect(throws: PrometheusText.Malformed.self) { try PrometheusText("x_total three") }
        #expect(throws: PrometheusText.Malformed.self) { try PrometheusText("# TYPE x_total countr") }
        #expect(throws: PrometheusText.Malformed.self) { try PrometheusText("x{bad} 1") }
    }

    @Test("counters and gauges move as clients connect, the backend publishes and bans, and a token is refused")
    func countersMove() async throws {
        let daemon = try await TestDaemon.start(engine: .memory)
        func scrape() async throws -> PrometheusText {
            let response = try await daemon.api.send(method: "GET", path: "/metrics", authorization: "")
            #expect(response.status == 200)
            return try PrometheusText(String(decoding: response.body, as: UTF8.self))
        }
        let before = try await scrape()

        let runtime = daemon.runtime(user: "7")
        try await runtime.start()
        let app = await runtime.mount("feed")
        let events = try await app.observe("chat:room-1")
        try await daemon.api.publish(channel: "chat:room-1", data: "hello")
        _ = try await events.first(within: .seconds(10))
        try await daemon.api.ban(user: "9", reason: "spam")
        let refused = ClientRuntime(url: daemon.webSocketURL) { "not-a-token" }
        await #expect(throws: ClientRuntimeError.self) { try await refused.start() }

        let after = try await scrape()
        #expect(after["hybridsync_publications_total"] >= before["hybridsync_publications_total"] + 2, "the publish and the ban's state change")
        #expect(after["hybridsync_deliveries_total"] >= before["hybridsync_deliveries_total"] + 1)
        #expect(after["hybridsync_bytes_out_total"] > before["hybridsync_bytes_out_total"])
        #expect(after["hybridsync_connections"] >= 1)
        #expect(after["hybridsync_sessions"] == 1)
        #expect(after["hybridsync_subscriptions"] == 1)
        #expect(after[#"hybridsync_auth_failures_total{reason="invalid_token"}"#] == 1)
        #expect(after[#"hybridsync_disconnects_total{code="4500"}"#] == 1)
        #expect(after[#"hybridsync_api_requests_total{route="/api/publish",status="200"}"#] == 1)
        #expect(after[#"hybridsync_api_requests_total{route="/api/ban",status="200"}"#] == 1)
        #expect(after.types["hybridsync_api_request_duration_seconds"] == "histogram")
        #expect(after.types["hybridsync_publications_total"] == "counter")
        await runtime.close()
        #expect(try await daemon.stop() == 0)
    }

    @Test("closes the WebSocket layer makes itself are counted by code: 1009 (oversize), 1003 (binary), 1002 (unmasked)")
    func transportClosesCounted() async throws {
        let daemon = try await TestDaemon.start(engine: .memory)
        let frames = [
            ("81ff000000000001117000000000", 1009),  // a text frame declaring 70,000 bytes: over the 64 KiB limit
            ("82800000000000", 1003),  // an empty binary frame
            ("810161", 1002),  // an unmasked text frame
        ]
        for (hex, code) in frames {
            let probe = try PythonScript("attacks.py", ["frame", "127.0.0.1", String(daemon.webSocketPort), hex])
            let line = try await probe.readLine(within: .seconds(30)) ?? ""
            #expect(line.contains("\"close_code\": \(code)"), "\(hex): \(line)")
        }
        let response = try await daemon.api.send(method: "GET", path: "/metrics", authorization: "")
        let metrics = try PrometheusText(String(decoding: response.body, as: UTF8.self))
        for (_, code) in frames {
            #expect(metrics[#"hybridsync_disconnects_total{code="\#(code)"}"#] == 1, "code \(code)")
        }
        #expect(try await daemon.stop() == 0)
    }
}
