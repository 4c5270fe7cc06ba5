import HybridSyncProtocol
import HybridSyncServer
import HybridSyncDaemonTesting
import Testing

@Suite("History and recovery", .offTheCooperativePool)
struct RecoveryTests {
    @Test("reconnect inside history: recovered true and exactly the missed offsets, in order", arguments: Engine.allCases)
    func recoverInsideHistory(_ engine: Engine) throws {
        let h = Harness(engine)
        let first = try h.connected()
        let (start, _) = try h.subscribe(first, "app:feed")
        _ = h.publish("app:feed", 1)
        let seen = first.takeMessages().compactMap(\.publication)
        #expect(seen.map(\.offset) == [1])
        first.close(code: .normal, reason: "gone")

        for n in 2...6 { _ = h.publish("app:feed", .int(Int64(n))) }
        let again = try h.connected()
        let last = StreamPosition(epoch: start.position.epoch, offset: 1)
        let (result, missed) = try h.subscribe(again, "app:feed", since: last)
        #expect(result.recovered == true)
        #expect(result.state == nil, "no snapshot when recovered")
        #expect(missed.map(\.offset) == [2, 3, 4, 5, 6])
        #expect(missed.map(\.data) == [2, 3, 4, 5, 6])
        _ = h.publish("app:feed", 7)
        #expect(again.takeMessages().compactMap(\.publication).map(\.offset) == [7], "live after recovery")
    }

    @Test("history: what is left after a position, all of it for another epoch, and the subscribe rules", arguments: Engine.allCases)
    func historyCommand(_ engine: Engine) throws {
        let h = Harness(engine) { $0.namespaces["app"]?.historySize = 3 }
        let client = try h.connected()
        for n in 1...5 { _ = h.publish("app:feed", .int(Int64(n))) }
        let (now, _) = try h.subscribe(client, "app:feed")
        func history(_ since: String) throws -> HistoryResult {
            let replies = h.command(client, #"{"id":9,"op":"history","channel":"app:feed"\#(since)}"#)
            guard case .reply(9, .success(let json))? = replies.first, let result = HistoryResult(json) else {
                throw TestFailure("no history result: \(replies)")
            }
            return result
        }
        let after = try history(#","since":{"epoch":"\#(now.position.epoch)","offset":3}"#)
        #expect(after.position == now.position)
        #expect(after.publications.map(\.offset) == [4, 5])
        #expect(after.publications.map(\.data) == [4, 5])
        #expect(try history("").publications.map(\.offset) == [3, 4, 5], "history keeps 3")
        #expect(try history(#","since":{"epoch":"other","offset":4}"#).publications.map(\.offset) == [3, 4, 5])
        #expect(h.command(client, #"{"id":10,"op":"history","channel":"nowhere:x"}"#).errorCode(id: 10) == .invalidChannel)
        let fresh = h.server.openConnection()
        fresh.send(#"{"id":11,"op":"history","channel":"app:feed"}"#)
        #expect(fresh.takeMessages().errorCode(id: 11) == .notConnected)
    }

    @Test("outside history by size: recovered false and a snapshot equal to the server state", arguments: Engine.allCases)
    func outsideHistoryBySize(_ engine: Engine) throws {
        let h = Harness(engine) { $0.namespaces["app"]?.historySize = 3 }
        let client = try h.connected()
        let (start, _) = try h.subscribe(client, "app:users")
        client.close(code: .normal, reason: "gone")
        for n in 1...10 { _ = h.publish("app:users", ["n": .int(Int64(n))], key: "user-\(n % 4)") }
        _ = h.api("POST", "/api/state/remove", ["channel": "app:users", "key": "user-0"])

        let again = try h.connected()
        let (result, missed) = try h.subscribe(again, "app:users", since: start.position)
        #expect(result.recovered == false)
        #expect(missed.isEmpty, "never a partial replay")
        let server = h.api("GET", "/api/state/app:users").body
        #expect(result.state.map { JSONValue.object($0.mapValues(\.json)) } == server["state"])
        #expect(result.state?.keys.sorted() == ["user-1", "user-2", "user-3"])
        #expect(result.position.offset == 11)
    }

    @Test("outside history by TTL: recovered false", arguments: Engine.allCases)
    func outsideHistoryByTTL(_ engine: Engine) throws {
        let h = Harness(engine) { $0.namespaces["app"]?.historyTTLSeconds = 60 }
        let client = try h.connected()
        let (start, _) = try h.subscribe(client, "app:ttl")
        client.close(code: .normal, reason: "gone")
        _ = h.publish("app:ttl", 1)
        h.clock.advance(by: 61)
        _ = h.publish("app:ttl", 2)
        let again = try h.connected()
        let (result, missed) = try h.subscribe(again, "app:ttl", since: start.position)
        #expect(result.recovered == false)
        #expect(missed.isEmpty)
    }

    @Test("an epoch change (server restart) gives a snapshot, not a replay", arguments: Engine.allCases)
    func epochChange(_ engine: Engine) throws {
        let before = Harness(engine)
        let client = try before.connected()
        let (start, _) = try before.subscribe(client, "app:users")
        _ = before.publish("app:users", 1, key: "a")

        let restarted = Harness(engine)  // a new engine (memory, or a new SQLite file): new epochs
        _ = restarted.publish("app:users", 2, key: "b")
        let again = try restarted.connected()
        let (result, missed) = try restarted.subscribe(again, "app:users", since: StreamPosition(epoch: start.position.epoch, offset: 1))
        #expect(result.position.epoch != start.position.epoch)
        #expect(result.recovered == false)
        #expect(missed.isEmpty)
        #expect(result.state == ["b": StateEntry(value: 2, version: 1)])
    }

    @Test("a position from the future is not recoverable", arguments: Engine.allCases)
    func futurePosition(_ engine: Engine) throws {
        let h = Harness(engine)
        let client = try h.connected()
        let (start, _) = try h.subscribe(client, "app:x")
        client.close(code: .normal, reason: "gone")
        let again = try h.connected()
        let (result, _) = try h.subscribe(again, "app:x", since: StreamPosition(epoch: start.position.epoch, offset: 99))
        #expect(result.recovered == false)
    }

    @Test("late subscribers get the current state, then live changes", arguments: Engine.allCases)
    func lateSubscriberSnapshot(_ engine: Engine) throws {
        let h = Harness(engine)
        for n in 1...100 { _ = h.publish("app:profile", ["name": .string("v\(n)")], key: "user-7") }
        let late = try h.connected()
        let (result, _) = try h.subscribe(late, "app:profile")
        #expect(result.state == ["user-7": StateEntry(value: ["name": "v100"], version: 100)])
        _ = h.publish("app:profile", ["name": "v101"], key: "user-7")
        let live = late.takeMessages().compactMap(\.publication)
        #expect(live.map(\.offset) == [101])
        #expect(live.first?.key == "user-7")
    }

    @Test("random publishes, disconnects and resubscribes always converge to the server state", arguments: Engine.allCases, 0..<40)
    func convergence(_ engine: Engine, seed: UInt64) throws {
        var random = SeededGenerator(seed: seed)
        let h = Harness(engine) { $0.namespaces["app"]?.historySize = 4 }
        var model = ModelClient()
        var connection: InMemoryConnection? = try h.connected()
        try model.apply(subscribe: try h.subscribe(connection!, "app:conv").0, missed: [])

        for _ in 0..<60 {
            switch Int.random(in: 0..<10, using: &random) {
            case 0..<5:
                _ = h.publish("app:conv", .int(Int64.random(in: 0..<1000, using: &random)), key: "k\(Int.random(in: 0..<5, using: &random))")
            case 5:
                _ = h.api("POST", "/api/state/remove", ["channel": "app:conv", "key": .string("k\(Int.random(in: 0..<5, using: &random))")])
            case 6:
                _ = h.publish("app:conv", "event without key")
            case 7, 8:
                if let live = connection {
                    live.close(code: .normal, reason: "drop")
                    connection = nil
                }
            default:
                if connection == nil {
                    let fresh = try h.connected()
                    let (result, missed) = try h.subscribe(fresh, "app:conv", since: model.position)
                    try model.apply(subscribe: result, missed: missed)
                    connection = fresh
                }
            }
            if let live = connection {
                for publication in live.takeMessages().compactMap(\.publication) { try model.apply(publication) }
            }
        }
        if connection == nil {
            let fresh = try h.connected()
            let (result, missed) = try h.subscribe(fresh, "app:conv", since: model.position)
            try model.apply(subscribe: result, missed: missed)
        }
        let server = h.api("GET", "/api/state/app:conv").body
        #expect(JSONValue.object(model.state.mapValues(\.json)) == server["state"], "seed \(seed)")
        #expect(model.position?.offset == UInt64(server["offset"]?.intValue ?? -1))
    }
}

/// What a correct client does with subscribe results and publications.
struct ModelClient {
    var state: [String: StateEntry] = [:]
    var position: StreamPosition?

    mutating func apply(subscribe result: SubscribeResult, missed: [Publication]) throws {
        if result.recovered != true {
            state = result.state ?? [:]
            position = result.position
        }
        for publication in missed { try apply(publication) }
        position = StreamPosition(epoch: result.position.epoch, offset: max(position?.offset ?? 0, result.position.offset))
    }

    mutating func apply(_ publication: Publication) throws {
        guard let current = position, publication.offset == current.offset + 1 else {
            throw TestFailure("gap: at \(position?.offset ?? 0), got \(publication.offset)")
        }
        if let key = publication.key {
            state[key] = publication.removed ? nil : StateEntry(value: publication.data, version: publication.offset)
        }
        position?.offset = publication.offset
    }
}


extension RecoveryTests {
    @Test("an empty channel is forgotten; created again it has a new epoch, so old positions never recover against it", arguments: Engine.allCases)
    func forgottenChannelNewEpoch(_ engine: Engine) throws {
        let h = Harness(engine) { $0.namespaces["chat"]?.historyTTLSeconds = 10 }
        let client = try h.connected()
        let (first, _) = try h.subscribe(client, "chat:temp")
        _ = h.publish("chat:temp", 1)
        _ = h.command(client, #"{"id":3,"op":"unsubscribe","channel":"chat:temp"}"#)
        h.clock.advance(by: 11)
        h.server.tick()
        #expect(h.api("GET", "/api/channels/chat:temp").body["epoch"] == "", "forgotten")
        let (again, _) = try h.subscribe(client, "chat:temp", id: 4, since: StreamPosition(epoch: first.position.epoch, offset: 1))
        #expect(again.position.epoch != first.position.epoch)
        #expect(again.recovered == false)
    }

    @Test("a channel that keeps no history is not forgotten while someone is subscribed to it", arguments: Engine.allCases)
    func subscribedChannelWithoutHistoryStays(_ engine: Engine) throws {
        let h = Harness(engine) { $0.namespaces["chat"]?.historySize = 0 }
        let client = try h.connected()
        let (subscribed, _) = try h.subscribe(client, "chat:live")
        _ = h.publish("chat:live", 1)
        var received = client.takeMessages().compactMap(\.publication)
        received += h.pass(60, answering: client).compactMap(\.publication)
        _ = h.publish("chat:live", 2)
        received += client.takeMessages().compactMap(\.publication)
        #expect(received.map(\.offset) == [1, 2], "the same stream: offsets go on")
        #expect(h.api("GET", "/api/channels/chat:live").body["epoch"] == .string(subscribed.position.epoch))
    }
}
