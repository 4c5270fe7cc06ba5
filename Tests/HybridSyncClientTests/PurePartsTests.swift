@testable import HybridSyncClient
import Testing

private let room = try! ChannelName("chat:room")
private let bans = try! ChannelName("moderation:users")

@Suite("Client runtime parts (pure, no sockets)")
struct PurePartsTests {
    @Test("command channel: wire ids per command, bounded offline queue, abandon drops a queued command, loss returns what was on the wire")
    func commandChannel() throws {
        var channel = CommandChannel(queueLimit: 2)
        guard case .send(let frame) = channel.submit(.ping, .init(ticket: 10, purpose: .call), online: true, queueable: false) else {
            Issue.record("online commands are sent")
            return
        }
        #expect(try JSONValue.parse(frame)["id"] == 1)
        #expect(channel.submit(.ping, .init(ticket: 11, purpose: .call), online: false, queueable: false) == .refused(.notConnected))
        #expect(channel.submit(.publish(channel: room, data: 1), .init(ticket: 12, purpose: .call), online: false, queueable: true) == .queued)
        #expect(channel.submit(.publish(channel: room, data: 2), .init(ticket: 13, purpose: .call), online: false, queueable: true) == .queued)
        #expect(channel.submit(.publish(channel: room, data: 3), .init(ticket: 14, purpose: .call), online: false, queueable: true)
            == .refused(.offlineQueueFull(2)))
        let wasQueued = channel.abandon(12)
        #expect(wasQueued, "a cancelled queued publish leaves the queue")
        #expect(channel.connectionLost() == [.init(ticket: 10, purpose: .call)])
        let sent = channel.reconnected()
        #expect(sent.frames.count == 1 && sent.refused.isEmpty)
        #expect(try JSONValue.parse(sent.frames[0])["data"] == 2)
        #expect(channel.replied(2) == .init(ticket: 13, purpose: .call))
        #expect(channel.replied(2) == nil, "one reply per command")
        #expect(channel.sentCounts == ["ping": 1, "publish": 1])
    }

    @Test("command channel: a command over the server's message limit is refused, online or queued, and nothing is sent")
    func messageLimit() throws {
        var channel = CommandChannel(queueLimit: 10)
        let big = JSONValue.string(String(repeating: "x", count: 200))
        #expect(channel.submit(.publish(channel: room, data: big), .init(ticket: 1, purpose: .call), online: false, queueable: true) == .queued,
                "the limit is not known before the first connect")
        channel.maxMessageBytes = 200
        let size = ClientCommand(id: UInt32.max, .publish(channel: room, data: big)).encoded().count
        #expect(channel.submit(.publish(channel: room, data: big), .init(ticket: 2, purpose: .call), online: true, queueable: true)
            == .refused(.messageTooBig(size, limit: 200)))
        let sent = channel.reconnected()
        #expect(sent.frames.isEmpty, "the queued one is checked once the limit is known")
        #expect(sent.refused.map(\.entry.ticket) == [1])
        #expect(sent.refused.first?.error.code == .messageTooBig)
        // At the limit exactly it is sent: the worst-case id is counted, so any real id fits.
        let fitting = JSONValue.string(String(repeating: "x", count: 200 - (size - 200)))
        #expect(ClientCommand(id: UInt32.max, .publish(channel: room, data: fitting)).encoded().count == 200)
        guard case .send = channel.submit(.publish(channel: room, data: fitting), .init(ticket: 3, purpose: .call), online: true, queueable: true) else {
            Issue.record("a command at the limit is sent")
            return
        }
        #expect(channel.sentCounts == ["publish": 1])
    }

    @Test("subscription table: one subscribe for many holders, linger, recovery, snapshot with resync, gaps")
    func subscriptionTable() {
        var table = SubscriptionTable()
        #expect(table.hold(room, online: true) == [.subscribe(room, since: nil)])
        table.sent(room, ticket: 1, since: nil)
        #expect(table.hold(room, online: true).isEmpty, "the second holder shares the subscribe in flight")
        let first = StreamPosition(epoch: "e1", offset: 3)
        #expect(table.answered(room, ticket: 1, .subscribed(SubscribeResult(channel: room, position: first)))
            == .ready(snapshot: [:], resync: nil, retainsState: false), "no state in the result: a namespace without state")
        #expect(table.deliver(Publication(channel: room, offset: 4, data: 1)) == .apply)
        #expect(table.deliver(Publication(channel: room, offset: 4, data: 1)) == .ignore, "already applied")
        #expect(table.deliver(Publication(channel: room, offset: 6, data: 1)) == .gap(since: StreamPosition(epoch: "e1", offset: 4)))

        table.connectionLost()
        #expect(table.resubscribeAll() == [.subscribe(room, since: StreamPosition(epoch: "e1", offset: 4))])
        table.sent(room, ticket: 2, since: StreamPosition(epoch: "e1", offset: 4))
        let restarted = StreamPosition(epoch: "e2", offset: 9)
        #expect(table.answered(room, ticket: 2, .subscribed(SubscribeResult(channel: room, position: restarted, recovered: false, state: [:])))
            == .ready(snapshot: [:], resync: ChannelResync(channel: room, from: StreamPosition(epoch: "e1", offset: 4), to: restarted),
                      retainsState: true))

        #expect(table.release(room, linger: true).isEmpty)
        #expect(table.release(room, linger: true) == [.startLinger(room)])
        #expect(table.hold(room, online: true) == [.cancelLinger(room)], "a remount during the linger keeps the subscription")
        #expect(table.release(room, linger: true) == [.startLinger(room)])
        #expect(table.lingerEnded(room) == [.unsubscribe(room), .forget(room)])
        #expect(table[room] == nil)
        #expect(table.answered(room, ticket: 2, .subscribed(SubscribeResult(channel: room, position: restarted))) == .stale(undo: true))
    }

    @Test("state store: unknown until the first snapshot; observers indexed by binding; later snapshots notify only changed keys")
    func stateStore() {
        var store = StateStore()
        store.watch(.serverKey(channel: bans.rawValue, key: "1"), by: 7)
        store.watch(.serverMap(channel: bans.rawValue), by: 8)
        store.watch(.local("theme"), by: 9)
        #expect(!store.isKnown(.serverKey(channel: bans.rawValue, key: "1")), "no snapshot yet: a default would be a guess")
        #expect(store.isKnown(.local("theme")))
        #expect(store.apply(Publication(channel: bans, offset: 1, data: true, key: "1")).isEmpty, "nothing applies before the snapshot")
        #expect(store.watchers(of: store.replace(bans, with: [:]).map(\.binding)).sorted() == [7, 8], "the first snapshot, even empty, tells every observer")
        #expect(store.isKnown(.serverKey(channel: bans.rawValue, key: "1")))
        let changed = store.apply(Publication(channel: bans, offset: 1, data: true, key: "1"))
        #expect(store.watchers(of: changed.map(\.binding)).sorted() == [7, 8])
        #expect(changed.last == BindingChange(binding: .serverMap(channel: bans.rawValue), keys: ["1"]), "a map's observers learn which key changed")
        #expect(store.value(of: .serverMap(channel: bans.rawValue)) == ["1": true])
        let same = store.replace(bans, with: ["1": StateEntry(value: true, version: 5)])
        #expect(same.isEmpty, "an equal snapshot changes nothing")
        let removed = store.replace(bans, with: [:])
        #expect(store.watchers(of: removed.map(\.binding)).sorted() == [7, 8])
        #expect(removed.last?.keys == ["1"])
        #expect(store.setLocal("theme", "dark") == [BindingChange(binding: .local("theme"))])
        #expect(store.setLocal("theme", "dark").isEmpty)
        #expect(store.value(of: .serverKey(channel: "moderation:other", key: "1")) == nil)
    }

    @Test("deadlines fire earliest first, once")
    func deadlines() {
        var deadlines = Deadlines<String>()
        deadlines.set("b", at: .seconds(2))
        deadlines.set("a", at: .seconds(1))
        deadlines.set("c", at: .seconds(5))
        #expect(deadlines.next == .seconds(1))
        #expect(deadlines.expired(at: .seconds(3)) == ["a", "b"])
        #expect(deadlines.expired(at: .seconds(3)).isEmpty)
        deadlines.remove("c")
        #expect(deadlines.next == nil)
    }
}
