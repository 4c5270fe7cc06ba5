/// Where one test body's server runs, for tests that must pass on both: in memory (the real
/// `SyncServer` behind an in-memory transport, its clock moved by the test) and a real
/// `hybridsyncd` on loopback with a storage engine.
///
/// ```swift
/// @Test(arguments: [TestBackend.inMemory, .live(engine: .sqlite())])
/// func bannedUsersAreClosed(backend: TestBackend) async throws {
///     try await backend.withServer { server in
///         let runtime = server.runtime(user: "42")
///         try await runtime.start()
///         try await server.api.ban(user: "42", reason: "spam")
///     }
/// }
/// ```
public enum TestBackend: Sendable, CustomStringConvertible {
    /// An ``InMemoryServer`` on a ``ManualServerClock``: ``TestServer/passTime(_:)`` is instant.
    case inMemory
    /// A ``TestDaemon`` on `engine`, stopped after the body.
    case live(engine: TestDaemon.Engine)

    /// `in memory` or `live (engine)`, for test names.
    public var description: String {
        switch self {
        case .inMemory: "in memory"
        case .live(.memory): "live (memory)"
        case .live(.sqlite): "live (sqlite)"
        case .live(.redis): "live (redis)"
        }
    }

    /// Starts a server of this kind, runs `body` with it, then stops it (also when `body` throws).
    public func withServer<T: Sendable>(_ body: (any TestServer) async throws -> T) async throws -> T {
        switch self {
        case .inMemory:
            return try await body(InMemoryServer())
        case .live(let engine):
            let daemon = try await TestDaemon.start(engine: engine)
            do {
                let result = try await body(daemon)
                _ = try await daemon.stop()
                return result
            } catch {
                daemon.kill()
                throw error
            }
        }
    }
}
