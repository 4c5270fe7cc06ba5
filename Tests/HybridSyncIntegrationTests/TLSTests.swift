import Foundation
import HybridSyncClient
import HybridSyncProtocol
import HybridSyncDaemonTesting
import Testing

/// `wss://` through OpenSSL when a certificate is configured.
@Suite("TLS (real daemon)")
struct TLSTests {
    /// A throwaway self-signed ECDSA P-256 certificate made with the `openssl` command.
    func selfSignedCertificate() async throws -> (certificate: String, key: String) {
        let directory = try makeTemporaryDirectory("hybridsync-tls")
        let certificate = directory.appendingPathComponent("cert.pem").path
        let key = directory.appendingPathComponent("key.pem").path
        let run = try await runProcess("openssl", [
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", key, "-out", certificate, "-days", "1", "-subj", "/CN=127.0.0.1",
        ])
        guard run.status == 0 else { throw CertificateError(errors: run.errors) }
        return (certificate, key)
    }

    @Test("a runtime connects over wss:// and receives a publication")
    func secureWebSocket() async throws {
        let files = try await selfSignedCertificate()
        let daemon = try await TestDaemon.start(arguments: [
            "--server-tls-certificate", files.certificate, "--server-tls-private-key", files.key,
        ])
        #expect(daemon.webSocketURL.hasPrefix("wss://"))
        let token = daemon.tokens.token(user: "tls")
        let runtime = ClientRuntime(url: daemon.webSocketURL, allowSelfSignedCertificates: true) { token }
        do {
            try await runtime.start()
        } catch {
            let log = (try? String(contentsOf: daemon.logFile, encoding: .utf8)) ?? ""
            Issue.record("wss connect failed: \(error)\ndaemon log:\n\(log.suffix(3000))")
            throw error
        }
        let app = await runtime.mount("secure")
        let stream = try await app.observe("moderation:bans")
        try await daemon.api.publish(channel: "moderation:bans", data: ["user": "1"])
        #expect(try await stream.first(within: .seconds(10))?.publication?.data == ["user": "1"])
        await runtime.close()
        try await daemon.stop()
    }
}

extension TLSTests {
    @Test("TLS negotiates ALPN http/1.1 even when the client prefers h2")
    func noHTTP2OverALPN() async throws {
        let files = try await selfSignedCertificate()
        let daemon = try await TestDaemon.start(arguments: [
            "--server-tls-certificate", files.certificate, "--server-tls-private-key", files.key,
        ])
        let probe = try PythonScript("attacks.py", ["alpn", "127.0.0.1", String(daemon.webSocketPort)])
        #expect(try await probe.readLine() == #"{"alpn": "http/1.1"}"#)
        try await daemon.stop()
    }
}

/// Writes OpenSSL cannot finish at once: lws keeps the rest of the record and says when the socket
/// takes more (`lws_write`'s partial buffer; plain sockets have their own path, ServerSemanticsTests).
extension TLSTests {
    /// A daemon serving `wss://` with a throwaway certificate.
    func secureDaemon(_ arguments: [String]) async throws -> TestDaemon {
        let files = try await selfSignedCertificate()
        return try await TestDaemon.start(arguments: [
            "--server-tls-certificate", files.certificate, "--server-tls-private-key", files.key,
        ] + arguments)
    }

    @Test("a wss:// connection lives past limits.httpHeaderTimeoutSeconds after its handshake (lws's own timeout is disarmed)")
    func outlivesHandshakeTimeout() async throws {
        // lws 4.1 arms a timeout when a TLS handshake ends that its raw role never clears: every
        // wss:// socket was closed, without a close frame, this long after its handshake.
        let daemon = try await secureDaemon(["--limits-http-header-timeout-seconds", "1"])
        let client = try await RawClient.open(daemon.webSocketURL, allowSelfSignedCertificates: true)
        #expect(try await client.connect(token: daemon.tokens.token(user: "tls")).isSuccess)
        client.send(#"{"id":2,"op":"subscribe","channel":"app:long"}"#)
        #expect(try await client.next().isSuccess)
        // Publications keep the daemon's loop turning (lws checks its timeouts as it turns) until
        // three times the timeout has passed; each one must arrive on this same socket.
        let start = ContinuousClock.now
        var offset: UInt64 = 0
        while ContinuousClock.now - start < .seconds(3), offset < 100_000 {
            offset += 1
            try await daemon.api.publish(channel: "app:long", data: .int(Int64(offset)))
            let event = try await client.next()
            guard case .message(.push(.publication(let publication))) = event else {
                Issue.record("publication \(offset), \(ContinuousClock.now - start) after the handshake: \(event)")
                break
            }
            #expect(publication.offset == offset)
        }
        try await daemon.stop()
    }

    @Test("over wss://, a subscriber that pauses gets every publication intact and in order once it reads again")
    func pausedSubscriberCatchesUp() async throws {
        // 40 publications of 100 KB do not fit a 4 KiB receive window and the send buffer, so
        // OpenSSL writes part of a record and lws holds the rest until the socket is writable.
        let daemon = try await secureDaemon(["--limits-max-queued-bytes", "67108864"])
        let count = 40
        let size = 100_000
        let paused = try PythonScript("probes.py", [
            "paused", daemon.webSocketURL, daemon.tokens.token(user: "paused"), "app:paused", "\(count)",
        ])
        #expect(try await paused.readLine() == "subscribed")
        let pad = JSONValue.string(String(repeating: "x", count: size))
        for n in 1...count {
            try await daemon.api.publish(channel: "app:paused", data: ["n": .int(Int64(n)), "size": .int(Int64(size)), "pad": pad])
        }
        paused.writeLine("read")
        let line = try await paused.readLine()
        #expect(line?.hasPrefix("received \(count) in order") == true, "\(line ?? "no answer")")
        try await daemon.stop()
    }

    @Test("over wss://, a client that stops reading is closed with 4001 once its queue passes the limit")
    func slowConsumerClosed() async throws {
        let daemon = try await secureDaemon(["--limits-max-queued-bytes", "262144"])
        let slow = try PythonScript("probes.py", ["slow", daemon.webSocketURL, daemon.tokens.token(user: "slow"), "app:firehose"])
        #expect(try await slow.readLine() == "subscribed")
        let payload = JSONValue.string(String(repeating: "x", count: 32 * 1024))
        var published = 0
        while try await daemon.api.health()["connections"] == 1 {
            guard published < 2000 else { break }  // bounded: ~64 MB at most
            published += 1
            try await daemon.api.publish(channel: "app:firehose", data: ["n": .int(Int64(published)), "pad": payload])
        }
        #expect(try await daemon.api.health()["connections"] == 0, "the slow consumer was closed after \(published) publications")
        slow.writeLine("read")
        #expect(try await slow.readLine() == "closed 4001")
        try await daemon.stop()
    }
}

extension TLSTests {
    @Test("hybridsync bench fanout over wss:// (--allow-self-signed): every delivery, with the daemon's CPU and memory (--server-pid)")
    func benchOverTLS() async throws {
        let daemon = try await secureDaemon([])
        let run = try await hybridsync([
            "bench", "fanout", "--url", daemon.webSocketURL, "--secret=\(daemon.tokens.secret)", "--clients", "10",
            "--messages", "5", "--rate", "50", "--allow-self-signed", "--server-pid", String(daemon.processIdentifier),
        ], api: daemon.apiURL, key: daemon.api.apiKey)
        #expect(run.status == 0, "\(run.errors)")
        #expect(run.output.contains("deliveries: 50/50 (lost 0, duplicated 0)"), "\(run.output)")
        #expect(run.output.contains("connected and subscribed: 10 clients in") && run.output.contains("µs per client"), "\(run.output)")
        #expect(run.output.contains("µs per delivery") && run.output.contains("B per connection"), "\(run.output)")
        #expect(try await daemon.stop() == 0)
    }
}

struct CertificateError: Error, CustomStringConvertible {
    /// What openssl said.
    let errors: String
    var description: String { "the openssl command could not make a self-signed certificate: \(errors)" }
}

/// TLS session resumption (docs/CONFIGURATION.md, `server.tls.ticketKeyFiles`), measured from
/// Python's ssl: every service thread's TLS context shares one set of ticket keys.
extension TLSTests {
    private func tlsArguments(_ files: (certificate: String, key: String), threads: Int = 2, ticketKeyFile: String? = nil) -> [String] {
        ["--server-tls-certificate", files.certificate, "--server-tls-private-key", files.key, "--server-threads", String(threads)]
            + (ticketKeyFile.map { ["--server-tls-ticket-key-files", $0] } ?? [])
    }

    @Test("with 2 service threads every reconnect resumes its session, TLS 1.3 and 1.2 (before: about half, the ones that met the issuing thread)",
          arguments: ["1.3", "1.2"])
    func resumptionOnEveryThread(version: String) async throws {
        let daemon = try await TestDaemon.start(arguments: tlsArguments(try await selfSignedCertificate()), engine: .memory)
        let run = try await runProcess("python3", [Self.resumeScript, "127.0.0.1", String(daemon.webSocketPort), "40", version])
        let result = try JSONValue.parse(Array(run.output.utf8))
        #expect(result["version"] == .string("TLSv\(version)"))
        #expect(result["first_resumed"] == false)
        #expect(result["resumed"] == 40, "\(run.output) \(run.errors)")
        try await daemon.stop()
    }

    @Test("with a ticket key file a session from before a restart resumes after it; without one it cannot")
    func resumptionAcrossRestarts() async throws {
        let files = try await selfSignedCertificate()
        let keyFile = try makeTemporaryDirectory("hybridsync-tickets").appendingPathComponent("ticket.key").path
        #expect(try await runProcess("openssl", ["rand", "-out", keyFile, "80"]).status == 0)
        for (keyed, expected) in [(true, true), (false, false)] {
            var daemon = try await TestDaemon.start(arguments: tlsArguments(files, ticketKeyFile: keyed ? keyFile : nil), engine: .memory)
            let client = try PythonScript("tls_resume.py", ["serve", "1.3"])
            func round() async throws -> JSONValue {
                client.writeLine("round 127.0.0.1 \(daemon.webSocketPort)")
                return try JSONValue.parse(Array((try await client.readLine() ?? "").utf8))
            }
            #expect(try await round()["resumed"] == false, "the first handshake is full")
            #expect(try await round()["resumed"] == true)
            daemon = try await daemon.restart()
            #expect(try await round()["resumed"] == .bool(expected), keyed ? "the key file outlives the process" : "a new random key")
            try await daemon.stop()
        }
    }

    @Test("a ticket key file that is not 80 bytes stops the daemon, saying so")
    func ticketKeyFileChecked() async throws {
        let files = try await selfSignedCertificate()
        let keyFile = try makeTemporaryDirectory("hybridsync-tickets").appendingPathComponent("short.key").path
        #expect(try await runProcess("openssl", ["rand", "-out", keyFile, "48"]).status == 0)
        let run = try await runBuiltExecutable("hybridsyncd", [
            "--engine-kind", "memory", "--server-port", "0", "--api-port", "0", "--api-key", "k", "--auth-token-secret", "s",
        ] + tlsArguments(files, ticketKeyFile: keyFile))
        #expect(run.status != 0)
        #expect(run.errors.contains("server.tls.ticketKeyFiles: the ticket key file \(keyFile) must hold exactly 80 bytes"), "\(run.errors)")
    }

    private static let resumeScript = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Interop/tls_resume.py").path
}
