import Foundation
import HybridSyncBroker
import HybridSyncProtocol
import HybridSyncServer
import HybridSyncSQLite
import HybridSyncTesting
import Logging
import Testing

/// What only a durable engine promises: a restart (the same file opened again, as after `kill -9`)
/// forgets no ban, no state, no history, and keeps every epoch.
@Suite("SQLite engine across restarts", .timeLimit(.minutes(1)))
struct DurableEngineTests {
    let path = Engine.temporaryDatabasePath()
    let clock = ManualServerClock()

    /// Opens the file (again). The lock of a broker that is gone can outlive it by a moment here:
    /// when another test of this process spawns a process (a daemon) just then, the child holds
    /// a copy of every descriptor, the lock file's included, from its fork until its exec (which
    /// O_CLOEXEC closes), and a `flock` lasts while any copy is open. So when the holder named is
    /// this very process, the open waits for that release (a blocking `flock`, which the kernel
    /// ends the moment the last copy closes; the suite's time limit bounds it) and tries once more.
    /// Another holder fails at once.
    private func open() throws -> Harness {
        do {
            return Harness(broker: try Engine.sqlite.makeBroker(path: path), clock: clock)
        } catch let error as BrokerError where error.message.contains("pid \(getpid()) host") {
            let lock = Glibc.open(path + ".lock", O_RDWR | O_CLOEXEC)
            if lock >= 0 {
                flock(lock, LOCK_EX)
                flock(lock, LOCK_UN)
                close(lock)
            }
            return Harness(broker: try Engine.sqlite.makeBroker(path: path), clock: clock)
        }
    }

    @Test("after a restart: the ban holds, the snapshot is identical, a resubscribe recovers exactly what it missed")
    func restartKeepsEverything() throws {
        let position: StreamPosition
        let stateBefore: JSONValue
        do {
            let before = try open()
            let client = try before.connected("7")
            let (subscribed, _) = try before.subscribe(client, "chat:room")
            _ = before.publish("chat:room", "seen")
            position = StreamPosition(epoch: subscribed.position.epoch, offset: 1)
            for n in 2...6 { _ = before.publish("chat:room", .int(Int64(n))) }
            #expect(before.api("POST", "/api/ban", ["user": "42", "reason": "spam"]).status == 200)
            _ = before.api("POST", "/api/state/set", ["channel": "app:flags", "key": "dark", "value": true])
            _ = before.api("POST", "/api/state/set", ["channel": "app:flags", "key": "beta", "value": ["rollout": 0.5]])
            stateBefore = before.api("GET", "/api/state/moderation:users").body
        }

        let after = try open()
        let banned = after.server.openConnection()
        banned.send(#"{"id":1,"op":"connect","token":"\#(after.token("42"))"}"#)
        #expect(banned.takeMessages().errorCode(id: 1) == .banned)
        #expect(banned.closed?.code == .banned)

        #expect(after.api("GET", "/api/state/moderation:users").body == stateBefore)
        let flags = after.api("GET", "/api/state/app:flags").body["state"]
        #expect(flags == ["dark": ["value": true, "version": 1], "beta": ["value": ["rollout": 0.5], "version": 2]])

        let again = try after.connected("7")
        let (result, missed) = try after.subscribe(again, "chat:room", since: position)
        #expect(result.position.epoch == position.epoch, "a persisted stream keeps its epoch")
        #expect(result.recovered == true)
        #expect(missed.map(\.offset) == [2, 3, 4, 5, 6])
        #expect(missed.map(\.data) == [2, 3, 4, 5, 6])
        _ = after.publish("chat:room", 7)
        #expect(again.takeMessages().compactMap(\.publication).map(\.offset) == [7], "the sequence goes on from the stored offset")
    }

    @Test("a ban whose until passes while the daemon is down is lifted after the restart")
    func expiredBanLiftsAfterRestart() throws {
        do {
            let before = try open()
            _ = before.api("POST", "/api/ban", ["user": "42", "reason": "cool down", "until": .double(clock.now() + 60)])
            _ = before.api("POST", "/api/ban", ["user": "43", "reason": "for good"])
        }
        clock.advance(by: 120)
        let after = try open()
        _ = try after.connected("42")  // the deny-list never refuses an expired ban, even before the sweep
        after.server.tick()
        #expect(after.api("GET", "/api/state/moderation:users").body["state"]?["42"] == nil, "the sweep removed its state key")
        #expect(after.api("GET", "/api/bans").body["bans"] == [["user": "43", "reason": "for good", "until": nil]])
    }

    @Test("an idempotency key stored before a restart still answers the repeat after it")
    func idempotencyAcrossRestart() throws {
        let body: JSONValue = ["channel": "app:orders", "data": 1, "idempotencyKey": "order-9"]
        let first = try open().api("POST", "/api/publish", body)
        let after = try open()
        let repeated = after.api("POST", "/api/publish", body)
        #expect(repeated.body["offset"] == first.body["offset"])
        #expect(after.api("GET", "/api/channels/app:orders").body["offset"] == 1, "not published twice")
        #expect(after.api("POST", "/api/publish", ["channel": "app:orders", "data": 2, "idempotencyKey": "order-9"]).status == 409)
    }

    @Test("a file that is not a database is refused at start with a message that names it and says what to do")
    func corruptFile() throws {
        try Data(repeating: 0x5A, count: 8192).write(to: URL(fileURLWithPath: path))
        do {
            _ = try SQLiteBroker(path: path, logger: Logger(label: "test"))
            Issue.record("a garbage file was opened")
        } catch {
            #expect(error.message.contains(path))
            #expect(error.message.contains("move it away"))
        }
    }

    @Test("a second owner of the same file is refused, naming the lock file and its holder; the first keeps working")
    func oneOwnerPerFile() throws {
        let first = try open()
        #expect(first.publish("app:orders", 1)["offset"] == 1)
        do {
            _ = try SQLiteBroker(path: path, logger: Logger(label: "test"))
            Issue.record("a second broker opened a file that another one owns")
        } catch {
            #expect(error.message.contains(path + ".lock"))
            #expect(error.message.contains("pid \(ProcessInfo.processInfo.processIdentifier) host"))
            #expect(error.message.contains("redis engine"))
        }
        #expect(first.publish("app:orders", 2)["offset"] == 2, "the owner is not disturbed")
    }

    @Test("the lock goes with its owner: the same file opens again once the first broker is gone")
    func lockReleasedWithOwner() throws {
        do { _ = try open().publish("app:orders", 1) }
        #expect(try open().api("GET", "/api/channels/app:orders").body["offset"] == 1)
    }

    @Test("a lost data file means new epochs: the client gets recovered:false and a snapshot, never a silent gap")
    func lostFile() throws {
        let position: StreamPosition
        do {
            let before = try open()
            let client = try before.connected()
            let (subscribed, _) = try before.subscribe(client, "app:users")
            _ = before.publish("app:users", 1, key: "a")
            position = StreamPosition(epoch: subscribed.position.epoch, offset: 1)
        }
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        let after = try open()
        _ = after.publish("app:users", 2, key: "b")
        let (result, missed) = try after.subscribe(try after.connected(), "app:users", since: position)
        #expect(result.position.epoch != position.epoch)
        #expect(result.recovered == false)
        #expect(missed.isEmpty)
        #expect(result.state == ["b": StateEntry(value: 2, version: 1)])
    }
}
