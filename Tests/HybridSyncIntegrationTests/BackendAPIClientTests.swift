import Foundation
import Glibc
import HybridSyncAdmin
import HybridSyncClient
import HybridSyncProtocol
import HybridSyncDaemonTesting
import Testing

/// `BackendAPIClient` on Linux's URLSession, whose own `data(for:)` crashes the process or
/// deadlocks every later request when a caller is cancelled while its transfer ends.
@Suite("Backend API client (real daemon)")
struct BackendAPIClientTests {
    @Test("callers cancelled while their requests end are answered at once; the client keeps working")
    func cancelledCallers() async throws {
        let daemon = try await TestDaemon.start(engine: .memory)
        // Refused at once: each transfer ends about when its caller is cancelled (the race that hits
        // URLSession.data(for:) within a few hundred rounds here).
        let refused = BackendAPIClient(baseURL: "http://127.0.0.1:1", apiKey: "k")
        for round in 0..<400 {
            let caller = Task { try await refused.health() }
            if round.isMultiple(of: 2) { await Task.yield() }
            caller.cancel()
            let outcome = try await withTimeout(.seconds(10), "cancelled request \(round)") { await caller.result }
            #expect(throws: (any Error).self) { try outcome.get() }
        }
        // A request nobody answers: the cancelled caller does not wait for it.
        let listener = try SilentListener()
        let silent = BackendAPIClient(baseURL: "http://127.0.0.1:\(listener.port)", apiKey: "k")
        let waiting = Task { try await silent.health() }
        try await eventually(.seconds(10), "the request arrived") { listener.accepted() }
        waiting.cancel()
        let outcome = try await withTimeout(.seconds(10), "the cancelled silent request") { await waiting.result }
        #expect(throws: CancellationError.self) { try outcome.get() }

        #expect(try await daemon.api.health()["status"] == "ok")
        #expect(try await daemon.stop() == 0)
    }
}

/// A loopback listener that accepts and never answers.
private final class SilentListener: @unchecked Sendable {
    let port: Int
    private let fd: Int32
    private var held: [Int32] = []

    init() throws {
        (fd, port) = try #require(loopbackListener(on: "127.0.0.1"), "listening on 127.0.0.1")
    }

    /// Whether a connection was waiting (it is kept open, unanswered, until the listener goes).
    func accepted() -> Bool {
        let client = accept(fd, nil, nil)
        if client >= 0 { held.append(client) }
        return !held.isEmpty
    }

    deinit {
        for client in held { close(client) }
        close(fd)
    }
}
