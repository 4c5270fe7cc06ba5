import Foundation
import HybridSyncClient
import HybridSyncProtocol
import HybridSyncTesting
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

struct CertificateError: Error, CustomStringConvertible {
    /// What openssl said.
    let errors: String
    var description: String { "the openssl command could not make a self-signed certificate: \(errors)" }
}
