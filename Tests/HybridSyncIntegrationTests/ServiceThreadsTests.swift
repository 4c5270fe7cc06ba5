import Foundation
import HybridSyncProtocol
import HybridSyncDaemonTesting
import Testing

private struct ConnectRefused: Error {}

/// `server.threads`: connections spread over the service threads, and the hub reaches each of them
/// in order (docs/ARCHITECTURE.md, Threads).
@Suite("Service threads (real daemon)", .serialized)
struct ServiceThreadsTests {
    /// Connects `count` raw clients subscribed to `channel`; returns them with their connection ids.
    private func subscribers(_ daemon: TestDaemon, _ count: Int, _ channel: String) async throws -> [(RawClient, UInt64)] {
        var clients: [(RawClient, UInt64)] = []
        for user in 0..<count {
            let client = try await RawClient.open(daemon.webSocketURL)
            guard case .message(.reply(_, .success(let result))) = try await client.connect(token: daemon.tokens.token(user: "u\(user)")),
                  let name = result["client"]?.stringValue, let id = UInt64(name.dropFirst()) else {
                throw ConnectRefused()
            }
            client.send(#"{"id":2,"op":"subscribe","channel":"\#(channel)"}"#)
            #expect(try await client.next().isSuccess)
            clients.append((client, id))
        }
        return clients
    }

    @Test("with 2 and 3 threads: connections land on every thread, each gets every publication in order, closes reach all",
          arguments: [2, 3])
    func spreadAndDeliver(threads: Int) async throws {
        let daemon = try await TestDaemon.start(arguments: ["--server-threads", String(threads)], engine: .memory)
        let clients = try await subscribers(daemon, 24, "app:threads")
        let used = Set(clients.map { Int($0.1 % UInt64(threads)) })
        #expect(used.count == threads, "ids name their thread (id % threads); the kernel spread 24 connections over \(used)")

        for n in 1...40 {
            _ = try await daemon.api.publish(channel: "app:threads", data: .int(Int64(n)))
        }
        for (client, id) in clients {
            var offsets: [UInt64] = []
            while offsets.count < 40 {
                guard case .message(.push(.publication(let publication))) = try await client.next() else { continue }
                offsets.append(publication.offset)
            }
            #expect(offsets == Array(1...40), "c\(id): in order, none missing or repeated")
        }

        // A force-disconnect of every user: the goodbye push, then the close, on every thread.
        for user in 0..<clients.count {
            _ = try await daemon.api.send(method: "POST", path: "/api/disconnect",
                                          body: (["user": .string("u\(user)"), "code": 4504] as JSONValue).jsonBytes)
        }
        for (client, id) in clients {
            #expect(try await client.closeCode() == .forceDisconnect, "c\(id)")
        }
        try await eventually(.seconds(10), "every socket closed") { try await daemon.api.health()["connections"] == 0 }
        try await daemon.stop()
    }

    @Test("with one thread, ids count 1, 2, 3, on the epoll loop")
    func oneThread() async throws {
        let daemon = try await TestDaemon.start(arguments: ["--server-threads", "1"], engine: .memory)
        let clients = try await subscribers(daemon, 3, "app:one")
        #expect(clients.map(\.1) == [1, 2, 3])
        _ = try await daemon.api.publish(channel: "app:one", data: "x")
        for (client, _) in clients {
            guard case .message(.push(.publication(let publication))) = try await client.next() else {
                Issue.record("no publication")
                continue
            }
            #expect(publication.offset == 1)
        }
        try await daemon.stop()
        let log = try String(contentsOf: daemon.logFile, encoding: .utf8)
        #expect(log.contains("event_loop=epoll (libev)"), "lws runs on the libev epoll loop, not its poll of every socket")
    }

    @Test("a second daemon on a public port in use does not start, whatever its thread count: it says the port is in use",
          arguments: [1, 2])
    func portInUse(threads: Int) async throws {
        let first = try await TestDaemon.start(arguments: ["--server-threads", String(threads)], engine: .memory)
        // SO_REUSEPORT alone would let the second join the first's port and take half its clients.
        let error = await #expect(throws: TestDaemon.Failure.self) {
            try await TestDaemon.start(
                arguments: ["--server-threads", String(threads), "--server-port", String(first.webSocketPort)], engine: .memory
            )
        }
        #expect(error?.description.contains("cannot listen on 127.0.0.1:\(first.webSocketPort) for WebSockets") == true,
                "\(error?.description ?? "")")
        #expect(error?.description.contains("Address already in use") == true)
        let client = try await RawClient.open(first.webSocketURL)
        #expect(try await client.connect(token: first.tokens.token(user: "u1")).isSuccess, "the first still serves")
        try await first.stop()
    }

    @Test("SIGTERM with several threads: every client on every thread gets the disconnect push, then 4000")
    func shutdownReachesEveryThread() async throws {
        let daemon = try await TestDaemon.start(arguments: ["--server-threads", "3"], engine: .memory)
        let clients = try await subscribers(daemon, 12, "app:bye")
        let stopping = Task { try await daemon.stop() }
        for (client, id) in clients {
            #expect(try await client.next() == .message(.push(.disconnect(code: .shutdown, reason: "server shutting down"))), "c\(id)")
            #expect(try await client.closeCode() == .shutdown, "c\(id)")
        }
        #expect(try await stopping.value == 0)
    }
}
