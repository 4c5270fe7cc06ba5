import HybridSyncBroker
import HybridSyncProtocol
import Testing

@Suite("PresenceTable: presence per user across contexts and nodes (#36's rules, pure)")
struct PresenceTableTests {
    let room = try! ChannelName("presence:room")  // a constant, valid name
    let tab1 = PresenceTable.Context(node: "a#1", connection: 1)
    let tab2 = PresenceTable.Context(node: "a#1", connection: 2)
    let phone = PresenceTable.Context(node: "b#1", connection: 1)

    @Test("two tabs of one user are one join; closing one is no leave; closing both is one leave")
    func tabs() throws {
        var presence = PresenceTable()
        #expect(try presence.join(room, user: "42", context: tab1, info: nil, maxUsers: 10) == [.join(room, user: "42", info: nil)])
        #expect(try presence.join(room, user: "42", context: tab2, info: nil, maxUsers: 10) == [])
        #expect(presence.stats(of: room) == PresenceStats(users: 1, contexts: 2))
        #expect(presence.leave(room, context: tab1) == nil)
        #expect(presence.members(of: room) == [.init(user: "42", contexts: 1, info: nil)])
        #expect(presence.leave(room, context: tab2) == .leave(room, user: "42"))
        #expect(presence.members(of: room).isEmpty)
        #expect(presence.leave(room, context: tab2) == nil, "a second leave of the same context changes nothing")
    }

    @Test("an info change is one update, never a leave and a join; the newest context's info is the user's")
    func infoUpdates() throws {
        var presence = PresenceTable()
        _ = try presence.join(room, user: "42", context: tab1, info: ["status": "away"], maxUsers: 10)
        #expect(presence.update(room, context: tab1, info: ["status": "here"]) == .update(room, user: "42", info: ["status": "here"]))
        #expect(presence.update(room, context: tab1, info: ["status": "here"]) == nil, "the same info again is no change")
        // A second tab with other info: the user's info is the newest context's.
        #expect(try presence.join(room, user: "42", context: tab2, info: ["status": "busy"], maxUsers: 10)
            == [.update(room, user: "42", info: ["status": "busy"])])
        // That tab closes: the user is still here, with the other tab's info again.
        #expect(presence.leave(room, context: tab2) == .update(room, user: "42", info: ["status": "here"]))
    }

    @Test("a node that dies takes its contexts with it when its lease ends; a user with a context elsewhere stays")
    func leases() throws {
        var presence = PresenceTable()
        presence.renew(node: "a#1", until: 30)
        presence.renew(node: "b#1", until: 30)
        _ = try presence.join(room, user: "42", context: tab1, info: nil, maxUsers: 10)
        _ = try presence.join(room, user: "42", context: phone, info: nil, maxUsers: 10)
        _ = try presence.join(room, user: "7", context: tab2, info: nil, maxUsers: 10)
        presence.renew(node: "b#1", until: 60)  // b lives on; a stops renewing
        #expect(presence.expire(now: 29.9) == [])
        #expect(presence.expire(now: 30) == [.leave(room, user: "7")], "42 is still on node b")
        #expect(presence.members(of: room) == [.init(user: "42", contexts: 1, info: nil)])
    }

    @Test("a restarted node's clients back within the lease: nobody blinks out and in")
    func restartWithinLease() throws {
        var presence = PresenceTable()
        presence.renew(node: "a#1", until: 30)
        _ = try presence.join(room, user: "42", context: tab1, info: nil, maxUsers: 10)
        // a restarts as a new incarnation; its client reconnects before the old lease ends.
        presence.renew(node: "a#2", until: 60)
        #expect(try presence.join(room, user: "42", context: .init(node: "a#2", connection: 1), info: nil, maxUsers: 10) == [])
        #expect(presence.expire(now: 31) == [], "the old incarnation's context goes, the user stays")
        #expect(presence.stats(of: room) == PresenceStats(users: 1, contexts: 1))
    }

    @Test("past maxUsers a new user is refused with a typed error; a present user's second context is not")
    func limit() throws {
        var presence = PresenceTable()
        _ = try presence.join(room, user: "1", context: tab1, info: nil, maxUsers: 1)
        #expect(throws: PresenceLimitReached(channel: room, maxUsers: 1)) {
            try presence.join(room, user: "2", context: phone, info: nil, maxUsers: 1)
        }
        #expect(try presence.join(room, user: "1", context: tab2, info: nil, maxUsers: 1) == [])
        #expect(presence.members(of: room).map(\.user) == ["1"])
    }

    @Test("a closed context leaves every channel it was on; a context that changes user leaves for the old one first")
    func closeAndSwitch() throws {
        var presence = PresenceTable()
        let lobby = try ChannelName("presence:lobby")
        _ = try presence.join(room, user: "42", context: tab1, info: nil, maxUsers: 10)
        _ = try presence.join(lobby, user: "42", context: tab1, info: nil, maxUsers: 10)
        #expect(presence.closed(tab1) == [.leave(lobby, user: "42"), .leave(room, user: "42")])
        _ = try presence.join(room, user: "42", context: tab2, info: nil, maxUsers: 10)
        #expect(try presence.join(room, user: "43", context: tab2, info: nil, maxUsers: 10)
            == [.leave(room, user: "42"), .join(room, user: "43", info: nil)])
    }
}
