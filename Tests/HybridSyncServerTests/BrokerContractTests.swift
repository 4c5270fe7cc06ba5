import HybridSyncBroker
import HybridSyncDaemonTesting
import HybridSyncProtocol
@testable import HybridSyncRedis
import Testing

/// The Broker contract (Broker.swift) on every engine, through the Broker API alone: what the
/// server relies on, whatever stores the streams.
@Suite("Broker contract: memory, SQLite and Redis keep the same promises", .offTheCooperativePool)
struct BrokerContractTests {
    let now = 1_767_225_600.0
    let keeping = StreamPolicy(historySize: 10, historyTTLSeconds: 3600, retainState: true)
    let chat = try! ChannelName("chat:room")  // a literal: checked by the first test that runs

    @Test("publish: consecutive offsets in one epoch, each delivered to the listener once and in order; a read gives the position", arguments: Engine.allCases)
    func sequencing(_ engine: Engine) throws {
        let (broker, listener) = try attached(engine)
        let published = try call(broker) { broker.publish((1...3).map(request), idempotency: nil, now: now, completion: $0) }
        #expect(published.map(\.publication.offset) == [1, 2, 3])
        #expect(Set(published.map(\.epoch)).count == 1)
        #expect(listener.delivered.map(\.publication.offset) == [1, 2, 3], "each publication delivered once, in order")
        let read = try call(broker) { broker.read(chat, StreamQuery(policy: keeping), now: now, completion: $0) }
        #expect(read.position == StreamPosition(epoch: published[0].epoch, offset: 3))
        let more = try call(broker) { broker.publish([request(4)], idempotency: nil, now: now, completion: $0) }
        #expect(more.map(\.publication.offset) == [4])
        #expect(more[0].epoch == published[0].epoch, "the same epoch while the stream lives")
    }

    @Test("retained state: a key is set and removed by publications, its version the offset that set it", arguments: Engine.allCases)
    func retainedState(_ engine: Engine) throws {
        let (broker, _) = try attached(engine)
        let state = StreamQuery(policy: keeping, includeState: true)
        _ = try call(broker) { broker.publish([change("a", 1), change("b", 2), change("a", 3)], idempotency: nil, now: now, completion: $0) }
        #expect(try call(broker) { broker.read(chat, state, now: now, completion: $0) }.state
            == ["a": StateEntry(value: 3, version: 3), "b": StateEntry(value: 2, version: 2)])
        let removed = try call(broker) {
            broker.publish([PublishRequest(channel: chat, policy: keeping, data: .null, change: .remove(key: "a"))], idempotency: nil, now: now, completion: $0)
        }
        #expect(removed[0].publication.removed && removed[0].publication.key == "a")
        #expect(try call(broker) { broker.read(chat, state, now: now, completion: $0) }.state == ["b": StateEntry(value: 2, version: 2)])
    }

    @Test("recovery: since a position in history, exactly what came after; another epoch or a future offset cannot be proven", arguments: Engine.allCases)
    func recovery(_ engine: Engine) throws {
        let (broker, _) = try attached(engine)
        let published = try call(broker) { broker.publish((1...5).map(request), idempotency: nil, now: now, completion: $0) }
        let epoch = published[0].epoch
        func missed(since position: StreamPosition) throws -> [UInt64]? {
            try call(broker) { broker.read(chat, StreamQuery(policy: keeping, since: position), now: now, completion: $0) }.missed?.map(\.publication.offset)
        }
        #expect(try missed(since: StreamPosition(epoch: epoch, offset: 2)) == [3, 4, 5])
        #expect(try missed(since: StreamPosition(epoch: epoch, offset: 5)) == [])
        #expect(try missed(since: StreamPosition(epoch: "another", offset: 2)) == nil)
        #expect(try missed(since: StreamPosition(epoch: epoch, offset: 9)) == nil)
        let history = try call(broker) { broker.read(chat, StreamQuery(policy: keeping, includeHistory: true), now: now, completion: $0) }
        #expect(history.history.map(\.publication.offset) == [1, 2, 3, 4, 5])
    }

    @Test("idempotency: a key is new, then repeated with the first receipts, and a conflict with another body", arguments: Engine.allCases)
    func idempotency(_ engine: Engine) throws {
        let (broker, _) = try attached(engine)
        let body: JSONValue = ["channel": "chat:room", "data": 1]
        #expect(try call(broker) { broker.recall(idempotencyKey: "k1", body: body, now: now, completion: $0) } == .new)
        let record = IdempotencyRecord(key: "k1", body: body, expires: now + 60, maxKeys: 100)
        let published = try call(broker) { broker.publish([request(1)], idempotency: record, now: now, completion: $0) }
        let receipts = [PublishReceipt(channel: chat, offset: published[0].publication.offset, key: nil)]
        #expect(try call(broker) { broker.recall(idempotencyKey: "k1", body: body, now: now + 1, completion: $0) } == .repeated(receipts))
        #expect(try call(broker) { broker.recall(idempotencyKey: "k1", body: ["other": true], now: now + 1, completion: $0) } == .conflict)
        #expect(try call(broker) { broker.recall(idempotencyKey: "k2", body: body, now: now + 1, completion: $0) } == .new)
    }

    @Test("deny-list: a ban stored with its publication holds until its until; the sweep lifts it with a removal on the ban channel", arguments: Engine.allCases)
    func denyList(_ engine: Engine) throws {
        let (broker, _) = try attached(engine)
        let users = try ChannelName("moderation:users")
        let ban = Ban(reason: "spam", until: now + 10)
        _ = try call(broker) {
            broker.publish([PublishRequest(channel: users, policy: keeping, data: ["banned": true], change: .set(key: "42"), denyList: .ban(user: "42", ban))],
                           idempotency: nil, now: now, completion: $0)
        }
        #expect(try call(broker) { broker.ban(of: "42", now: now + 5, completion: $0) } == ban)
        #expect(try call(broker) { broker.bans(now: now + 5, completion: $0) } == ["42": ban])
        #expect(try call(broker) { broker.ban(of: "42", now: now + 11, completion: $0) } == nil, "a ban past its until does not hold")
        let lifted = try call(broker) {
            broker.sweep(now: now + 11, banChannel: users, policy: { _ in keeping }, inUse: { _ in true }, completion: $0)
        }
        #expect(lifted.map(\.publication.key) == ["42"])
        #expect(lifted.first?.publication.removed == true)
        #expect(try call(broker) { broker.bans(now: now + 11, completion: $0) }.isEmpty)
        #expect(try call(broker) { broker.read(users, StreamQuery(policy: keeping, includeState: true), now: now + 11, completion: $0) }.state.isEmpty)
    }

    // MARK: Helpers

    private func request(_ n: Int) -> PublishRequest {
        PublishRequest(channel: chat, policy: keeping, data: .int(Int64(n)))
    }

    private func change(_ key: String, _ value: Int64) -> PublishRequest {
        PublishRequest(channel: chat, policy: keeping, data: .int(value), change: .set(key: key))
    }

    @Test("presence: two contexts of a user are one join, one leave when both are gone; info changes are updates; a full channel refuses a new user", arguments: Engine.allCases)
    func presence(_ engine: Engine) throws {
        let (broker, listener) = try attached(engine)
        let room = try ChannelName("presence:room")
        func join(_ user: String, _ connection: UInt64, info: JSONValue? = nil, maxUsers: Int = 2) throws -> PresenceJoin {
            try call(broker) { broker.presenceJoin(room, user: user, connection: connection, info: info, maxUsers: maxUsers, completion: $0) }
        }
        #expect(try join("42", 1) == .joined)
        #expect(try join("42", 2, info: ["tab": 2]) == .joined)
        #expect(try join("7", 3) == .joined)
        #expect(try join("8", 4) == .full(maxUsers: 2), "a third user is refused")
        #expect(try join("42", 5) == .joined, "a present user's next context is never refused")
        #expect(try call(broker) { broker.presenceStats(of: room, completion: $0) } == PresenceStats(users: 2, contexts: 4))
        broker.presenceLeave([room], connection: 1)
        broker.presenceLeave([room], connection: 5)
        broker.presenceLeave([room], connection: 3)
        #expect(try call(broker) { broker.presence(of: room, completion: $0) } == [PresenceMember(user: "42", contexts: 1, info: ["tab": 2])])
        broker.presenceLeave([room], connection: 2)
        let expected: [PresenceChange] = [
            .join(room, user: "42", info: nil), .update(room, user: "42", info: ["tab": 2]), .join(room, user: "7", info: nil),
            .update(room, user: "42", info: nil), .update(room, user: "42", info: ["tab": 2]), .leave(room, user: "7"), .leave(room, user: "42"),
        ]
        try awaitTurns(broker) { listener.presence.count >= expected.count }
        #expect(listener.presence == expected, "every change once, in the order made")
        #expect(try call(broker) { broker.presence(of: room, completion: $0) } == [])
    }

    @Test("occupancy across nodes (Redis): the first node in reports occupied, the last out vacated; a dead node's channels are vacated by a live node when its lease ends")
    func occupancyAcrossNodes() throws {
        let nodes = try Engine.redisNodes(2, lease: 3)
        let (a, b) = (nodes[0], nodes[1])
        let listener = Listener()
        b.attach(listener)
        func occupancy(_ broker: RedisBroker, _ occupied: Bool) throws -> Bool {
            var answer: Bool?
            broker.occupancy(chat, occupied: occupied) { answer = $0 }
            broker.flush()
            return try #require(answer)
        }
        #expect(try occupancy(a, true), "the first node in: occupied")
        #expect(try !occupancy(b, true))
        #expect(try !occupancy(a, false))
        #expect(try occupancy(b, false), "the last node out: vacated")

        #expect(try occupancy(a, true))
        let users = try ChannelName("moderation:users")
        let sweep = { (broker: RedisBroker) in
            broker.sweep(now: now, banChannel: users, policy: { _ -> StreamPolicy? in nil }, inUse: { _ in false }) { _ in }
            broker.flush()
        }
        sweep(a)  // a takes its lease, then dies: its lease is ended in Redis rather than waited for
        let redis = try RedisConnection(host: a.configuration.host, port: a.configuration.port, timeoutMillis: 1000, ioTimeoutMillis: 1000)
        _ = try redis.command("ZADD", "\(a.configuration.prefix):nodes", "0", a.nodeID)
        sweep(b)
        #expect(listener.vacated == [chat], "b noticed a's end and reports the channel vacated")
    }

    @Test("session counts across nodes (Redis): a turn's opens and closes are stored together at its end; another node counts the live ones of nodes whose lease holds, not a session opened and closed within the turn")
    func sessionCountsAcrossNodes() throws {
        let nodes = try Engine.redisNodes(2, lease: 3)
        let (a, b) = (nodes[0], nodes[1])
        let users = try ChannelName("moderation:users")
        for node in nodes {  // each takes its lease
            node.sweep(now: now, banChannel: users, policy: { _ -> StreamPolicy? in nil }, inUse: { _ in false }) { _ in }
            node.flush()
        }
        for _ in 1...3 { a.sessionCounted(user: "u", opened: true) }
        a.sessionCounted(user: "u", opened: false)
        a.sessionCounted(user: "v", opened: true)
        a.sessionCounted(user: "v", opened: false)
        #expect(try call(b) { b.sessionsElsewhere(of: "u", completion: $0) } == 0, "nothing stored before a's turn ends")
        a.flush()
        #expect(try call(b) { b.sessionsElsewhere(of: "u", completion: $0) } == 2)
        #expect(try call(b) { b.sessionsElsewhere(of: "v", completion: $0) } == 0, "opened and closed within the turn")
        #expect(try call(a) { a.sessionsElsewhere(of: "u", completion: $0) } == 0, "a node does not count its own")
        a.sessionCounted(user: "u", opened: false)
        a.flush()
        #expect(try call(b) { b.sessionsElsewhere(of: "u", completion: $0) } == 1)
        let redis = try RedisConnection(host: a.configuration.host, port: a.configuration.port, timeoutMillis: 1000, ioTimeoutMillis: 1000)
        _ = try redis.command("ZADD", "\(a.configuration.prefix):nodes", "0", a.nodeID)  // a's lease ends
        #expect(try call(b) { b.sessionsElsewhere(of: "u", completion: $0) } == 0, "a dead node's sessions do not count")
    }

    /// Runs service turns until `done`: a networked engine's tail events are awaited (at most 10 s in all).
    private func awaitTurns(_ broker: any Broker, until done: () -> Bool) throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while !done(), ContinuousClock.now < deadline {
            if let redis = broker as? RedisBroker { redis.flush(waitingUpTo: 0.5) } else { broker.flush() }
        }
    }

    private func attached(_ engine: Engine) throws -> (any Broker, Listener) {
        let broker = try engine.makeBroker()
        let listener = Listener()
        broker.attach(listener)
        return (broker, listener)
    }

    /// One broker call as one service turn: the call, then the end of the turn (where SQLite
    /// commits and Redis's answers arrive); the completion must have run by then.
    private func call<Value>(_ broker: any Broker, _ body: (@escaping (Result<Value, BrokerError>) -> Void) -> Void) throws -> Value {
        var result: Result<Value, BrokerError>?
        body { result = $0 }
        broker.flush()
        guard let result else { throw TestFailure("the engine did not complete within the turn") }
        return try result.get()
    }
}

/// Records what the broker delivers (the broker holds its listener weakly: keep this alive).
private final class Listener: BrokerListener {
    var delivered: [SequencedPublication] = []
    var lost: [ChannelName] = []
    var presence: [PresenceChange] = []
    var vacated: [ChannelName] = []

    func broker(delivered publications: [SequencedPublication]) { delivered += publications }
    func broker(lost channel: ChannelName) { lost.append(channel) }
    func broker(received command: NodeCommand) {}
    func broker(presence changes: [PresenceChange], madeHere: Bool) { presence += changes }
    func broker(vacated channels: [ChannelName]) { vacated += channels }
}
