import Foundation
import Glibc
import HybridSyncClient
import HybridSyncDaemonTesting
import Testing

/// `WebSocketTransport` against plain listeners: the source address it binds (a load generator past
/// one address's ephemeral ports; `hybridsync bench --source-addresses`), and servers that hang up.
@Suite("WebSocketTransport against plain listeners (loopback)")
struct WebSocketTransportListenerTests {
    private func transport(sourceAddress: String? = nil) -> WebSocketTransport {
        var configuration = WebSocketTransport.Configuration()
        configuration.sourceAddress = sourceAddress
        return WebSocketTransport(configuration: configuration)
    }

    /// A listening TCP socket on 127.0.0.3 with an ephemeral port. Not 127.0.0.1: the kernel may hand
    /// out a port that a stopped daemon of another test had, and that test's clients, still
    /// reconnecting to 127.0.0.1, would be accepted here (seen in CI).
    private func listen() throws -> (fd: Int32, port: Int) {
        // accept() gives up after 60 s (a loaded test process may start the connect seconds late)
        try #require(loopbackListener(on: Self.listenAddress, acceptTimeoutSeconds: 60), "listening on \(Self.listenAddress)")
    }

    private static let listenAddress = "127.0.0.3"

    /// Accepts one connection on `fd` (on a thread of its own: accept blocks) and returns the peer's address.
    private func acceptedPeer(_ fd: Int32) async -> String {
        await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                var peer = sockaddr_in()
                var length = socklen_t(MemoryLayout<sockaddr_in>.size)
                let client = withUnsafeMutablePointer(to: &peer) { pointer in
                    pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { accept(fd, $0, &length) }
                }
                let text = client >= 0 ? String(cString: inet_ntoa(peer.sin_addr)) : "nothing accepted within 60 s"
                if client >= 0 { close(client) }
                continuation.resume(returning: text)
            }
        }
    }

    @Test("a connection from 127.0.0.2 arrives from 127.0.0.2; without one, from 127.0.0.1")
    func boundToTheSourceAddress() async throws {
        let (fd, port) = try listen()
        defer { close(fd) }
        for (source, expected) in [("127.0.0.2", "127.0.0.2"), (nil, "127.0.0.1")] as [(String?, String)] {
            // The listener never answers the upgrade: the attempt fails once it is accepted and closed.
            let attempt = Task { try? await transport(sourceAddress: source).connect(to: "ws://\(Self.listenAddress):\(port)/") }
            #expect(await acceptedPeer(fd) == expected)
            _ = await attempt.value
        }
    }

    @Test("a server that accepts and hangs up during the upgrade fails connect() every time, 100 times over")
    func hangUpDuringUpgrade() async throws {
        let (fd, port) = try listen()
        defer { close(fd) }
        for attempt in 0..<100 {
            let connecting = Task { try await transport().connect(to: "ws://\(Self.listenAddress):\(port)/") }
            #expect(await acceptedPeer(fd) == "127.0.0.1")
            let outcome = try await withTimeout(.seconds(20), "connect() \(attempt) against a server that hung up") {
                await connecting.result
            }
            #expect(throws: (any Error).self) { try outcome.get() }
        }
    }
}
