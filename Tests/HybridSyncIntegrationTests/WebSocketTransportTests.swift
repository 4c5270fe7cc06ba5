import Foundation
import Glibc
import HybridSyncClient
import HybridSyncProtocol
import HybridSyncDaemonTesting
import NIOSSL
import Testing

/// The SDK's SwiftNIO transport against the real daemon: certificate checks, back-pressure, bounds.
@Suite("WebSocketTransport (SwiftNIO, real daemon)")
struct WebSocketTransportTests {
    /// A throwaway CA and a server certificate it signed for `localhost` only (no IP address).
    struct Certificates {
        let ca: String
        let certificate: String
        let key: String
    }

    func certificates() async throws -> Certificates {
        let directory = try makeTemporaryDirectory("hybridsync-ca")
        func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
        let curve = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        try "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
            .write(toFile: path("leaf.ext"), atomically: true, encoding: .utf8)
        for arguments in [
            ["req", "-x509"] + curve + ["-keyout", path("ca.key"), "-out", path("ca.pem"), "-days", "1", "-subj", "/CN=HybridSync Test CA"],
            ["req"] + curve + ["-keyout", path("leaf.key"), "-out", path("leaf.csr"), "-subj", "/CN=localhost"],
            ["x509", "-req", "-in", path("leaf.csr"), "-CA", path("ca.pem"), "-CAkey", path("ca.key"), "-CAcreateserial",
             "-out", path("leaf.pem"), "-days", "1", "-extfile", path("leaf.ext")],
        ] {
            let run = try await runProcess("openssl", arguments)
            guard run.status == 0 else { throw TransportTestError(description: "openssl \(arguments[0]): \(run.errors)") }
        }
        return Certificates(ca: path("ca.pem"), certificate: path("leaf.pem"), key: path("leaf.key"))
    }

    struct TransportTestError: Error, CustomStringConvertible {
        let description: String
    }

    /// Sends `connect`, waits for its reply; returns whether it succeeded.
    func connect(_ connection: any ClientConnection, token: String) async -> Bool {
        connection.send(Array(#"{"id":1,"op":"connect","token":"\#(token)"}"#.utf8))
        for await event in connection.events {
            guard case .frame(let frame) = event else { return false }
            return String(decoding: frame, as: UTF8.self).contains(#""result""#)
        }
        return false
    }

    @Test("wss://: a certificate from a trusted CA connects; the system trust store refuses it, the self-signed opt-in accepts it; a host name the certificate lacks is refused")
    func certificateChecks() async throws {
        let files = try await certificates()
        let daemon = try await TestDaemon.start(arguments: [
            "--server-tls-certificate", files.certificate, "--server-tls-private-key", files.key,
        ], engine: .memory)
        let byName = "wss://localhost:\(daemon.webSocketPort)/"
        let byAddress = "wss://127.0.0.1:\(daemon.webSocketPort)/"
        var trusting = WebSocketTransport.Configuration()
        trusting.tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(files.ca))

        let trusted = try await WebSocketTransport(configuration: trusting).connect(to: byName)
        #expect(await connect(trusted, token: daemon.tokens.token(user: "1")))
        trusted.close(code: .normal, reason: "done")

        await #expect(throws: ClientTransportError.self, "not in the system trust store") {
            _ = try await WebSocketTransport().connect(to: byName)
        }
        await #expect(throws: ClientTransportError.self, "the certificate names localhost, not 127.0.0.1") {
            _ = try await WebSocketTransport(configuration: trusting).connect(to: byAddress)
        }
        let optedIn = try await WebSocketTransport(configuration: .allowingSelfSignedCertificates()).connect(to: byAddress)
        #expect(await connect(optedIn, token: daemon.tokens.token(user: "2")))
        optedIn.close(code: .normal, reason: "done")
        try await daemon.stop()
    }

    @Test("back-pressure: a connection whose reader stalls stops reading, the daemon closes it with 4001, and the reader then gets that close")
    func stalledReader() async throws {
        let daemon = try await TestDaemon.start(arguments: ["--limits-max-queued-bytes", "262144"], engine: .memory)
        let connection = try await WebSocketTransport().connect(to: daemon.webSocketURL)
        #expect(await connect(connection, token: daemon.tokens.token(user: "slow")))
        connection.send(Array(#"{"id":2,"op":"subscribe","channel":"app:firehose"}"#.utf8))
        try await eventually(.seconds(10), "subscribed") { try await daemon.api.channelInfo("app:firehose")["subscribers"] == 1 }
        // Nobody reads `events` now: only the transport's read-ahead and the kernel's buffers fill.
        let payload = JSONValue.string(String(repeating: "x", count: 32 * 1024))
        var published = 0
        while try await daemon.api.health()["connections"] == 1, published < 2000 {  // bounded: ~64 MB at most
            published += 1
            try await daemon.api.publish(channel: "app:firehose", data: ["n": .int(Int64(published)), "pad": payload])
        }
        #expect(try await daemon.api.health()["connections"] == 0, "closed as a slow consumer after \(published) publications")
        var closed: ClientConnectionEvent?
        var frames = 0
        for await event in connection.events {
            if case .closed = event { closed = event } else { frames += 1 }
        }
        #expect(closed == .closed(code: .slowConsumer, reason: CloseCode.slowConsumer.name), "after \(frames) frames")
        try await daemon.stop()
    }

    @Test("a listener that accepts and never answers the upgrade fails the attempt at the connect timeout, and the socket is closed")
    func upgradeTimeout() async throws {
        guard let listener = loopbackListener(on: "127.0.0.1", acceptTimeoutSeconds: 5) else {
            Issue.record("cannot listen")
            return
        }
        defer { close(listener.fd) }
        var configuration = WebSocketTransport.Configuration()
        configuration.connectTimeout = .milliseconds(500)
        let started = ContinuousClock.now
        await #expect(throws: ClientTransportError.self) {
            _ = try await WebSocketTransport(configuration: configuration).connect(to: "ws://127.0.0.1:\(listener.port)/")
        }
        #expect(ContinuousClock.now - started < .seconds(10), "bounded by the connect timeout, not hanging")
        // The attempt's socket waits in the listener's backlog: it must be closed (EOF), not kept.
        let accepted = accept(listener.fd, nil, nil)
        #expect(accepted >= 0)
        defer { close(accepted) }
        var wait = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(accepted, SOL_SOCKET, SO_RCVTIMEO, &wait, socklen_t(MemoryLayout<timeval>.size))
        var buffer = [UInt8](repeating: 0, count: 4096)
        var received = recv(accepted, &buffer, buffer.count, 0)
        if received > 0 { received = recv(accepted, &buffer, buffer.count, 0) }  // the upgrade request, then EOF
        #expect(received == 0, "EOF: the transport closed the socket it gave up on")
    }

    @Test("a server that sends text that is not UTF-8, or a binary frame, is closed with 1007 or 1003", arguments: [
        ("utf8", CloseCode.invalidPayload), ("binary", CloseCode.unsupportedData),
    ])
    func badServer(kind: String, code: CloseCode) async throws {
        let server = try PythonScript("probes.py", ["badserver", kind])
        guard let line = try await server.readLine(), line.hasPrefix("port ") else {
            Issue.record("the fake server did not start")
            return
        }
        let connection = try await WebSocketTransport().connect(to: "ws://127.0.0.1:\(line.dropFirst(5))/")
        var events: [ClientConnectionEvent] = []
        for await event in connection.events { events.append(event) }
        #expect(events.count == 1, "no message reached the runtime: \(events)")
        if case .closed(let closedWith, _)? = events.last { #expect(closedWith == code) } else { Issue.record("\(events)") }
        #expect(try await server.readLine() == "client closed \(code.rawValue)")
    }

    @Test("URLs that can never work fail at once as permanent; the rest are taken apart right")
    func urls() async throws {
        for url in ["http://127.0.0.1:1/", "ws://", "ws://:80/", "ws://user@host/", "ws://host:0/", "ws://host:99999/", "ws://[::1/"] {
            do {
                _ = try await WebSocketTransport().connect(to: url)
                Issue.record("\(url) connected")
            } catch let error as ClientTransportError {
                #expect(error.isPermanent, "\(url): \(error)")
            }
        }
    }
}
