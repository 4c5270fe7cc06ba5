import HybridSyncClient
import HybridSyncProtocol
import HybridSyncTesting
import Synchronization
import Testing

/// A transport whose every connect attempt fails (a daemon that is down), counting the attempts.
private final class UnreachableTransport: ClientTransport {
    let attempts = Atomic<Int>(0)
    func connect(to url: String) async throws -> any ClientConnection {
        attempts.add(1, ordering: .relaxed)
        throw ClientTransportError("connection refused")
    }
}

/// Waits and lifetimes of `start()`: every wait ends, by success, a typed error or cancellation.
@Suite("Client lifetime")
struct ClientLifetimeTests {
    @Test("start() against an unreachable server ends when its task is cancelled")
    func startIsCancellable() async throws {
        let clock = ManualClock()  // backoff never elapses: without cancellation start() would wait forever
        let runtime = ClientRuntime(url: "memory://", transport: UnreachableTransport(), clock: clock) { "token" }
        let starting = Task { try await runtime.start() }
        try await clock.waitForSleepers()  // the runtime is backing off
        starting.cancel()
        await #expect(throws: CancellationError.self) { try await starting.value }
        await runtime.close()
    }

    @Test("close() ends a pending start() with .closed")
    func closeEndsStart() async throws {
        let clock = ManualClock()
        let runtime = ClientRuntime(url: "memory://", transport: UnreachableTransport(), clock: clock) { "token" }
        let starting = Task { try await runtime.start() }
        try await clock.waitForSleepers()
        await runtime.close()
        await #expect(throws: ClientRuntimeError.closed) { try await starting.value }
    }

    @Test("a URL the transport cannot use fails start() at once, with one attempt and no retries")
    func invalidURL() async throws {
        let runtime = ClientRuntime(url: "http://127.0.0.1:8080/") { "token" }
        do {
            try await withTimeout(.seconds(10), "start with an http:// URL") { try await runtime.start() }
            Issue.record("start() succeeded with an http:// URL")
        } catch let error as ClientRuntimeError {
            #expect(error.description.contains("invalid URL"))
        }
        guard case .closed = await runtime.connectionState else {
            Issue.record("the runtime should be closed, it is \(await runtime.connectionState)")
            return
        }
    }
}
