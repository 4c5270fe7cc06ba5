@testable import HybridSyncClient
import HybridSyncProtocol
import HybridSyncServer
import HybridSyncTesting
import Testing

private let lobby = try! ChannelName("room:lobby")

/// Presence through the runtime: asked (`MicroApp.presence`), and followed live
/// (`MicroApp.observePresence`): the pure follow, then the runtime against a real SyncServer in memory.
@Suite("Presence through the client runtime")
struct PresenceClientTests {
    let h = RuntimeHarness {
        $0.namespaces["room"] = NamespacePolicy(presence: true)
        $0.pingIntervalSeconds = 600  // no liveness traffic within these tests' minutes
    }

    private func member(_ user: String, _ info: JSONValue? = nil) -> PresenceMember { PresenceMember(user: user, contexts: 1, info: info) }
    private func change(_ kind: PresenceChange.Kind, _ user: String, _ info: JSONValue? = nil) -> PresenceChange {
        PresenceChange(kind, lobby, user: user, info: info)
    }

    @Test("a micro-app asks who is present on a channel it observes, and how many; off a presence namespace the server refuses (114)")
    func presence() async throws {
        let runtime = h.runtime(user: "1")
        try await runtime.start()
        let app = await runtime.mount("room")
        _ = try await app.observe("room:1")
        #expect(try await app.presence("room:1") == [PresenceMember(user: "1", contexts: 1, info: nil)])
        #expect(try await app.presenceStats("room:1") == PresenceStats(users: 1, contexts: 1))
        _ = try await app.observe("app:flags")
        do {
            _ = try await app.presence("app:flags")
            Issue.record("a namespace without presence is refused")
        } catch let error as ClientRuntimeError {
            #expect(error.code == .serverRefused && error.serverError?.code == .presenceDisabled)
        }
        await runtime.close()
    }

    @Test("follow: no list before a read answers; pushes held while it is out apply on top of it; a stale answer is ignored")
    func followRules() {
        var follow = PresenceFollow()
        func push(_ change: PresenceChange) -> Bool { follow.pushed(change) }
        func answer(_ ticket: UInt64, _ members: [PresenceMember]) -> Bool { follow.answered(ticket, members) }

        #expect(!push(change(.join, "a")), "no list to change before the first read")
        #expect(follow.list == nil)
        follow.reading(1)
        #expect(!push(change(.leave, "a")), "held while the read is out")
        #expect(!push(change(.join, "b", "x")))
        #expect(answer(1, [member("a"), member("c", 1)]))
        #expect(follow.list == [PresentUser(user: "b", info: "x"), PresentUser(user: "c", info: 1)])
        #expect(!push(change(.join, "b", "x")), "a join of a present user with the same info changes nothing")
        #expect(!push(change(.leave, "z")), "a leave of an absent user changes nothing")
        #expect(push(change(.update, "b", "y")))
        #expect(follow.list?.first == PresentUser(user: "b", info: "y"))
        follow.reading(2)
        follow.failed(2)
        #expect(!answer(2, []), "a failed read's late answer is ignored")
        #expect(push(change(.leave, "c")), "after a failed read the pushes apply to the list held")
        #expect(follow.list == [PresentUser(user: "b", info: "y")])
    }

    @Test("follow: a read taken after any change, with the pushes held from any point at or before it, ends at the server's state")
    func followConverges() {
        // One channel's changes in order, as the server makes them: what each user's presence is after each.
        let changes: [PresenceChange] = [
            change(.join, "a", 1), change(.join, "b"), change(.update, "a", 2), change(.leave, "b"),
            change(.join, "c", "x"), change(.leave, "a"), change(.join, "b", 3), change(.update, "c", "y"), change(.join, "a"),
        ]
        func state(after count: Int) -> [PresenceMember] {
            var users: [String: JSONValue?] = [:]
            for change in changes.prefix(count) {
                if change.kind == .leave { users[change.user] = nil } else { users[change.user] = .some(change.info) }
            }
            return users.map { PresenceMember(user: $0.key, contexts: 1, info: $0.value) }.sorted { $0.user < $1.user }
        }
        let final = state(after: changes.count).map { PresentUser(user: $0.user, info: $0.info) }
        for readAt in 0...changes.count {
            for holdFrom in 0...readAt {
                var follow = PresenceFollow()
                follow.reading(1)
                for change in changes[holdFrom..<readAt] { _ = follow.pushed(change) }
                _ = follow.answered(1, state(after: readAt))
                for change in changes[readAt...] { _ = follow.pushed(change) }
                #expect(follow.list == final, "read after \(readAt) changes, pushes held from \(holdFrom)")
            }
        }
    }

    @Test("the runtime follows who is present: the current list first, then the list after another user joins and after their last tab leaves")
    func live() async throws {
        let runtime = h.runtime(user: "1")
        try await runtime.start()
        let app = await runtime.mount("roster")
        let roster = try await app.observePresence("room:lobby")
        #expect(try await roster.first(within: .seconds(10)) == [PresentUser(user: "1", info: nil)], "its own user, from the read")

        let other = h.runtime(user: "2")
        try await other.start()
        let otherApp = await other.mount("roster")
        let otherEvents = try await otherApp.observe("room:lobby")
        #expect(try await roster.first(within: .seconds(10)) == [PresentUser(user: "1", info: nil), PresentUser(user: "2", info: nil)])
        let second = h.runtime(user: "2")  // a second tab of user 2, closed first: user 2 stays
        try await second.start()
        let secondApp = await second.mount("tab")
        let secondEvents = try await secondApp.observe("room:lobby")
        await second.close()
        _ = (secondApp, secondEvents)
        await other.close()
        _ = otherEvents
        #expect(try await roster.first(within: .seconds(10)) == [PresentUser(user: "1", info: nil)], "user 2's last tab closed: one leave")
        await runtime.close()
    }

    @Test("after a reconnect the list is read again: a user who joined while this runtime was offline is in it")
    func rereadAfterReconnect() async throws {
        let runtime = h.runtime(user: "1")
        try await runtime.start()
        let app = await runtime.mount("roster")
        let roster = try await app.observePresence("room:lobby")
        #expect(try await roster.first(within: .seconds(10)) == [PresentUser(user: "1", info: nil)])
        let other = h.runtime(user: "2")
        let otherApp = await other.mount("roster")  // held to the end: a dropped micro-app unmounts
        var otherEvents: ClientRuntime.ChannelEvents?
        try await h.bounce(runtime) {
            try await other.start()
            otherEvents = try await otherApp.observe("room:lobby")
        }
        #expect(try await roster.first(within: .seconds(10)) == [PresentUser(user: "1", info: nil), PresentUser(user: "2", info: nil)])
        #expect(await runtime.sentCommandCounts["presence"] == 2, "one read per subscribe")
        _ = (otherApp, otherEvents)
        await other.close()
        await runtime.close()
    }

    @Test("where the namespace keeps no presence the stream ends with serverRefused 114; the last follower gone, the channel is released")
    func refusedAndReleased() async throws {
        let runtime = h.runtime(user: "1")
        try await runtime.start()
        let app = await runtime.mount("roster")
        let refused = await #expect(throws: ClientRuntimeError.self) {
            _ = try await app.observePresence("app:flags").first(within: .seconds(10))
        }
        #expect(refused?.code == .serverRefused && refused?.serverError?.code == .presenceDisabled)

        var roster: ClientRuntime.PresentUsers? = try await app.observePresence("room:lobby")
        _ = try await roster?.first(within: .seconds(10))
        #expect(h.api("GET", "/api/presence_stats/room:lobby")["users"] == 1)
        roster = nil
        try await eventually(.seconds(30), "the follower's hold given back") { await runtime.diagnostics().apps.first?.observers == 0 }
        h.clock.advance(by: .seconds(1))  // the linger
        try await eventually(.seconds(30), "unsubscribed: user 1 left") { h.api("GET", "/api/presence_stats/room:lobby")["users"] == 0 }
        await runtime.close()
    }

    @Test("ObservedState(presenceOf:) is the live list as an @Observable value: loading and empty first, then the list and its changes")
    @MainActor
    func observedPresence() async throws {
        let runtime = h.runtime(user: "1")
        try await runtime.start()
        let app = await runtime.mount("roster")
        let here = ObservedState(presenceOf: "room:lobby", in: app)
        #expect(here.isLoading && here.value.isEmpty)
        try await eventually(.seconds(10), "the list") {
            await MainActor.run { here.value == [PresentUser(user: "1", info: nil)] && !here.isLoading && !here.isStale }
        }
        let other = h.runtime(user: "2")
        try await other.start()
        let otherApp = await other.mount("chat")
        let otherEvents = try await otherApp.observe("room:lobby")
        try await eventually(.seconds(10), "user 2 joined") { await MainActor.run { here.value.map(\.user) == ["1", "2"] } }
        await other.close()
        try await eventually(.seconds(10), "user 2 left") { await MainActor.run { here.value.map(\.user) == ["1"] } }
        _ = (otherApp, otherEvents)
        here.cancel()
        await runtime.close()
    }
}
