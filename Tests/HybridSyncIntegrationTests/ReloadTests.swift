import Foundation
import HybridSyncClient
import HybridSyncDaemonTesting
import Testing

@Suite("SIGHUP reload (real daemon)")
struct ReloadTests {
    @Test("SIGHUP applies a namespace's history size and the log level; the connection stays up")
    func reloadKeepsConnections() async throws {
        let daemon = try await TestDaemon.start(engine: .memory)
        let runtime = daemon.runtime(user: "7")
        try await runtime.start()
        let app = await runtime.mount("feed")
        let events = try await app.observe("chat:room-1")
        for n in 1...3 { try await daemon.api.publish(channel: "chat:room-1", data: .int(Int64(n))) }
        #expect(try await daemon.api.history(channel: "chat:room-1")["publications"]?.arrayValue?.count == 3)
        let debugLinesBefore = try String(contentsOf: daemon.logFile, encoding: .utf8).components(separatedBy: "debug hybridsyncd").count

        let outcome = try await daemon.reload(logLevel: "debug", extraYAML: """
            namespaces:
              enabled: [moderation, app, chat, user]
              chat: {subscribe: authenticated, clientPublish: true, historySize: 1, historyTTLSeconds: 300, retainState: false}
            """)
        #expect(outcome.contains("configuration reloaded"), "\(outcome)")
        #expect(outcome.contains("namespaces") && outcome.contains("log.level"), "\(outcome)")

        try await daemon.api.publish(channel: "chat:room-1", data: 4)
        let history = try await daemon.api.history(channel: "chat:room-1")["publications"]?.arrayValue ?? []
        #expect(history.map { $0["offset"] } == [4], "history now keeps 1")
        var offsets: [UInt64] = []
        for try await event in events {
            if let publication = event.publication { offsets.append(publication.offset) }
            if offsets.count == 4 { break }
        }
        #expect(offsets == [1, 2, 3, 4], "the same connection got everything")
        #expect(await runtime.sentCommandCounts["connect"] == 1, "never reconnected")
        #expect(try await daemon.api.health()["connections"] == 1)
        let debugLinesAfter = try String(contentsOf: daemon.logFile, encoding: .utf8).components(separatedBy: "debug hybridsyncd").count
        #expect(debugLinesAfter > debugLinesBefore, "debug lines appear after the reload")

        let refused = try await daemon.reload(extraYAML: "limits: {maxMesageBytes: 1}\n")
        #expect(refused.contains("not reloaded") && refused.contains("limits.maxMesageBytes"), "\(refused)")
        try await daemon.api.publish(channel: "chat:room-1", data: 5)
        await runtime.close()
        #expect(try await daemon.stop() == 0)
    }
}
