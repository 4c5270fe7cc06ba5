import Foundation
import HybridSyncProtocol
import HybridSyncDaemonTesting
import Testing

/// The default engine (SQLite) against `kill -9`: what was acknowledged before the crash is there
/// after the restart, bans first.
@Suite("Durability across kill -9 (real daemon, SQLite engine)", .serialized)
struct DurabilityTests {
    @Test("kill -9, restart: the ban refuses the user, the moderator snapshot is unchanged, a resubscribe recovers exactly the missed publications")
    func crashKeepsBansStateAndHistory() async throws {
        let daemon = try await TestDaemon.start()
        let watcher = try await RawClient.open(daemon.webSocketURL)
        #expect(try await watcher.connect(token: daemon.tokens.token(user: "watcher")).isSuccess)
        watcher.send(#"{"id":2,"op":"subscribe","channel":"chat:room"}"#)
        guard case .message(.reply(2, .success(let reply))) = try await watcher.next(), let subscribed = SubscribeResult(reply) else {
            Issue.record("subscribe failed")
            return
        }
        try await daemon.api.publish(channel: "chat:room", data: "seen")
        #expect(try await watcher.next() == .message(.push(.publication(Publication(channel: try ChannelName("chat:room"), offset: 1, data: "seen")))))
        let lastSeen = StreamPosition(epoch: subscribed.position.epoch, offset: 1)
        for n in 2...20 { try await daemon.api.publish(channel: "chat:room", data: .int(Int64(n))) }
        let ban = try await daemon.api.send(method: "POST", path: "/api/ban", body: (["user": "42", "reason": "spam"] as JSONValue).jsonBytes)
        #expect(ban.status == 200)
        for (key, value) in [("dark", JSONValue.bool(true)), ("limit", .int(5))] {
            let set = try await daemon.api.send(method: "POST", path: "/api/state/set",
                                                body: (["channel": "app:flags", "key": .string(key), "value": value] as JSONValue).jsonBytes)
            #expect(set.status == 200)
        }
        let moderationBefore = try await daemon.api.send(method: "GET", path: "/api/state/moderation:users").json
        let flagsBefore = try await daemon.api.send(method: "GET", path: "/api/state/app:flags").json

        daemon.kill()
        let restarted = try await daemon.restart()

        let banned = try await RawClient.open(restarted.webSocketURL)
        #expect(try await banned.connect(token: restarted.tokens.token(user: "42")) == .message(.push(.banned(Ban(reason: "spam", until: nil)))))
        #expect(try await banned.next().errorCode == .banned)
        #expect(try await banned.closeCode() == .banned)

        #expect(try await restarted.api.send(method: "GET", path: "/api/state/moderation:users").json == moderationBefore)
        #expect(try await restarted.api.send(method: "GET", path: "/api/state/app:flags").json == flagsBefore)

        let again = try await RawClient.open(restarted.webSocketURL)
        #expect(try await again.connect(token: restarted.tokens.token(user: "watcher")).isSuccess)
        again.send(#"{"id":2,"op":"subscribe","channel":"chat:room","since":\#(lastSeen.json.jsonString)}"#)
        guard case .message(.reply(2, .success(let recovered))) = try await again.next(), let result = SubscribeResult(recovered) else {
            Issue.record("resubscribe failed")
            return
        }
        #expect(result.recovered == true)
        #expect(result.position == StreamPosition(epoch: lastSeen.epoch, offset: 20))
        var offsets: [UInt64] = []
        var values: [JSONValue] = []
        for _ in 2...20 {
            guard case .message(.push(.publication(let publication))) = try await again.next() else { break }
            offsets.append(publication.offset)
            values.append(publication.data)
        }
        #expect(offsets == Array(2...20))
        #expect(values == (2...20).map { .int(Int64($0)) })
        try await restarted.stop()
    }

    @Test("synchronous: full, kill -9 in the middle of a stream of publishes: every publish answered 200 is there, in order")
    func acknowledgedPublishesSurviveKill() async throws {
        let daemon = try await TestDaemon.start(
            arguments: ["--namespaces-app-history-size", "5000", "--namespaces-app-history-ttl-seconds", "3600"],
            engine: .sqlite(synchronous: "full")
        )
        let api = daemon.api
        // Four publishers at once, so the daemon groups several publishes per transaction.
        let acknowledged = try await withThrowingTaskGroup(of: [Int64].self) { group in
            for publisher in 0..<4 {
                group.addTask {
                    var offsets: [Int64] = []
                    for n in 0..<1000 {
                        guard let response = try? await api.send(
                            method: "POST", path: "/api/publish",
                            body: (["channel": "app:stream", "data": ["publisher": .int(Int64(publisher)), "n": .int(Int64(n))]] as JSONValue).jsonBytes
                        ) else { break }  // the daemon is gone
                        guard response.status == 200, let offset = response.json?["offset"]?.intValue else { break }
                        offsets.append(offset)
                    }
                    return offsets
                }
            }
            // Kill once a few hundred are acknowledged (bounded: at most 4,000 publishes are made).
            group.addTask {
                try? await eventually(.seconds(20), "300 publishes acknowledged") {
                    ((try? await api.channelInfo("app:stream"))?["offset"]?.intValue ?? 0) >= 300
                }
                daemon.kill()
                return []
            }
            var all: [Int64] = []
            for try await offsets in group { all += offsets }
            return all.sorted()
        }
        #expect(acknowledged.count >= 300)
        #expect(acknowledged.count < 4000, "the kill came in the middle of the stream")

        let restarted = try await daemon.restart()
        let history = try await restarted.api.send(method: "GET", path: "/api/history/app:stream").json
        let stored = history?["publications"]?.arrayValue?.compactMap { $0["offset"]?.intValue } ?? []
        #expect(stored == Array(1...Int64(stored.count)), "history is gap-free from offset 1")
        #expect(Set(acknowledged).isSubset(of: Set(stored)), "every acknowledged publish is stored")
        #expect((history?["offset"]?.intValue ?? 0) >= (acknowledged.last ?? 0))
        // Each publisher's own publishes are stored in the order it made them.
        let publications = history?["publications"]?.arrayValue ?? []
        for publisher in 0..<4 {
            let sequence = publications.compactMap { $0["data"] }.filter { $0["publisher"]?.intValue == Int64(publisher) }.compactMap { $0["n"]?.intValue }
            #expect(sequence == Array(0..<Int64(sequence.count)))
        }
        try await restarted.stop()
    }

    @Test("a second daemon on the same SQLite file refuses to start, naming the file and the holder; the first keeps every acknowledged publish")
    func oneDaemonPerFile() async throws {
        let first = try await TestDaemon.start()
        try await first.api.publish(channel: "app:orders", data: 1)
        let database = first.logFile.deletingLastPathComponent().appendingPathComponent("hybridsync.db").path
        do {
            let second = try await TestDaemon.start(arguments: ["--engine-sqlite-path", database], timeout: .seconds(15))
            try await second.stop()
            Issue.record("a second daemon started on a file another one owns")
        } catch let failure as TestDaemon.Failure {
            #expect(failure.description.contains("\(database).lock"))
            #expect(failure.description.contains("held by another hybridsyncd (pid "))
        }
        try await first.api.publish(channel: "app:orders", data: 2)
        let restarted = try await first.restart()
        let history = try await restarted.api.send(method: "GET", path: "/api/history/app:orders").json
        #expect(history?["publications"]?.arrayValue?.compactMap { $0["data"] } == [1, 2])
        try await restarted.stop()
    }

    @Test("a ban whose until passes while the daemon is down is lifted after the restart")
    func banExpiresAcrossRestart() async throws {
        let daemon = try await TestDaemon.start()
        let until = Date().timeIntervalSince1970 + 1.5
        let ban = try await daemon.api.send(method: "POST", path: "/api/ban",
                                            body: (["user": "42", "reason": "cool down", "until": .double(until)] as JSONValue).jsonBytes)
        #expect(ban.status == 200)
        daemon.kill()
        _ = try await daemon.waitForExit(timeout: .seconds(10))
        // The ban must end while the daemon is down.
        try await eventually(.seconds(10), "the ban's until has passed") { Date().timeIntervalSince1970 > until + 0.2 }
        let restarted = try await daemon.restart()
        let client = try await RawClient.open(restarted.webSocketURL)
        #expect(try await client.connect(token: restarted.tokens.token(user: "42")).isSuccess)
        let api = restarted.api
        // The sweep runs once a second.
        try await eventually(.seconds(10), "the ban's state key is removed") {
            try await api.send(method: "GET", path: "/api/state/moderation:users").json?["state"]?["42"] == nil
        }
        #expect(try await restarted.api.send(method: "GET", path: "/api/bans").json?["bans"] == [])
        try await restarted.stop()
    }
}
