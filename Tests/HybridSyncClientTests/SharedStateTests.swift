import HybridSyncHTTP
import HybridSyncClient
import HybridSyncProtocol
import HybridSyncServer
import HybridSyncTesting
import Logging
import Synchronization
import Testing

struct Profile: Codable, Sendable, Equatable {
    var name: String
}

struct BanInfo: Codable, Sendable, Equatable {
    var banned: Bool
    var reason: String
}

/// A flag that counts how often it is decoded (only the map-decoding test uses it).
struct CountedFlag: Codable, Sendable, Equatable {
    static let decodes = Mutex(0)
    var on: Bool

    init(on: Bool) { self.on = on }

    init(from decoder: any Decoder) throws {
        on = try decoder.singleValueContainer().decode(Bool.self)
        Self.decodes.withLock { $0 += 1 }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(on)
    }
}

/// Keeps every log line at `level` or above as "level: message".
struct RecordingLogHandler: LogHandler {
    let lines: Recorder<String>
    var logLevel: Logger.Level = .trace
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        lines.append("\(event.level): \(event.message)")
    }
}

/// Collects values from callbacks, for assertions.
final class Recorder<Value: Sendable>: Sendable {
    private let values = Mutex<[Value]>([])
    func append(_ value: Value) { values.withLock { $0.append(value) } }
    var all: [Value] { values.withLock { $0 } }
}

/// The client runtime against a real SyncServer in memory, with manual clocks on both sides.
struct RuntimeHarness {
    let serverClock = ManualServerClock()
    let clock = ManualClock()
    let server: InMemoryServer
    let tokens = TokenMinter(secret: "s")
    let tokenRequests = Recorder<String>()
    let errors = Recorder<String>()

    init(history: Int = 100, leeway: Double = 0, _ configure: (inout ServerConfiguration) -> Void = { _ in }) {
        var configuration = ServerConfiguration(apiKey: "k", tokenSecret: "s", tokenLeewaySeconds: leeway)
        configuration.namespaces["app"]?.historySize = history
        configure(&configuration)
        server = InMemoryServer(configuration: configuration, clock: serverClock)
    }

    func runtime(
        user: String = "1", linger: Duration = .seconds(1), tokenTTL: Double = 3600, offlineQueue: Int = 100,
        observerBuffer: Int = 1024, logger: Logger = Logger(label: "hybridsync.client")
    ) -> ClientRuntime {
        var configuration = ClientRuntime.Configuration()
        configuration.observerBufferLimit = observerBuffer
        configuration.subscriptionLinger = linger
        configuration.offlineQueueLimit = offlineQueue
        let (tokens, serverClock, requests, errors) = (tokens, serverClock, tokenRequests, errors)
        return ClientRuntime(
            url: "memory://", configuration: configuration, transport: server.clientTransport, clock: clock,
            random: SeededGenerator(seed: 11), logger: logger,
            onError: { errors.append("\($0.app ?? "-"): \($0.context): \($0.error)") }
        ) {
            requests.append(user)
            return tokens.token(user: user, expiresIn: tokenTTL, now: serverClock.now())
        }
    }

    @discardableResult
    func api(_ method: String, _ path: String, _ body: JSONValue? = nil) -> JSONValue {
        let response = server.handle(HTTPRequest(method: method, path: path, headers: [("authorization", "Bearer k")], body: body?.jsonBytes ?? []))
        return (try? JSONValue.parse(response.body)) ?? .null
    }

    /// Drops `user`'s connections with a reconnect code (4005), runs `whileOffline` once the
    /// runtime is waiting to reconnect, then lets the backoff elapse until it is connected again.
    func bounce(_ runtime: ClientRuntime, user: String = "1", whileOffline: () async throws -> Void = {}) async throws {
        api("POST", "/api/disconnect", ["user": .string(user), "code": 4005])
        try await eventually(.seconds(30), "waiting to reconnect") {
            if case .reconnecting = await runtime.connectionState { return true }
            return false
        }
        try await whileOffline()
        clock.advance(by: .seconds(1))  // attempt 0 waits at most 0.5 s
        try await eventually(.seconds(30), "connected again") {
            if case .connected = await runtime.connectionState { return true }
            return false
        }
    }

    func setState(_ channel: String, _ key: String, _ value: JSONValue) {
        api("POST", "/api/state/set", ["channel": .string(channel), "key": .string(key), "value": value])
    }
}

@Suite("Shared state")
struct SharedStateTests {
    @Test("a micro-app mounted after 100 changes gets the current value first, then only new ones")
    func lateMount() async throws {
        let h = RuntimeHarness()
        let runtime = h.runtime()
        try await runtime.start()
        let early = await runtime.mount("early")
        let earlyProfile = try await early.observe(StateKey<Profile?>(channel: "app:profiles", key: "7", default: nil))
        for n in 1...100 { h.setState("app:profiles", "7", ["name": .string("v\(n)")]) }
        let key = StateKey<Profile?>(channel: "app:profiles", key: "7", default: nil)
        try await eventually(.seconds(30), "the runtime has applied all 100 changes") {
            (try? await runtime.get(key)) == Profile(name: "v100")
        }

        let late = await runtime.mount("late")
        let profile = try await late.observe(key)
        var iterator = profile.makeAsyncIterator()
        #expect(try await iterator.next() == Profile(name: "v100"), "the current value first")
        h.setState("app:profiles", "7", ["name": "v101"])
        #expect(try await iterator.next() == Profile(name: "v101"), "then the next change, nothing older")
        #expect(try await runtime.get(key) == Profile(name: "v101"))
        #expect(await runtime.sentCommandCounts["subscribe"] == 1, "both micro-apps share one subscription")
        _ = (earlyProfile, early, late)
    }

    @Test("the whole retained state of a channel as a typed map")
    func channelMap() async throws {
        let h = RuntimeHarness()
        h.api("POST", "/api/ban", ["user": "42", "reason": "spam"])
        let runtime = h.runtime(user: "mod")
        try await runtime.start()
        let app = await runtime.mount("review")
        let bans = try await app.observe(StateKey<[String: BanInfo]>(channelMap: "moderation:users"))
        var iterator = bans.makeAsyncIterator()
        #expect(try await iterator.next() == ["42": BanInfo(banned: true, reason: "spam")])
        h.api("DELETE", "/api/ban/42")
        #expect(try await iterator.next() == [:])
        _ = app
    }

    @Test("state observed on a namespace that keeps none ends with stateNotRetained, never a default presented as state")
    func stateNotRetained() async throws {
        let h = RuntimeHarness()
        let runtime = h.runtime(user: "7")
        try await runtime.start()
        let app = await runtime.mount("chat")
        let key = StateKey<String?>(channel: "chat:lobby", key: "topic", default: nil)
        // Connected: the subscribe result shows the namespace keeps no state.
        let error = await #expect(throws: ClientRuntimeError.self) {
            for try await value in try await app.observe(key) { Issue.record("got \(String(describing: value))") }
        }
        #expect(error?.code == .stateNotRetained)
        // Known from then on: a second observer fails at once.
        let again = await #expect(throws: ClientRuntimeError.self) { _ = try await app.observe(key) }
        #expect(again?.code == .stateNotRetained)
        // The channel's events still work.
        let events = try await app.observe("chat:lobby")
        _ = events
    }

    @Test("a channel-map observer decodes only the entries that changed: one decode per change, whatever the map's size")
    func mapObserverDecodesPerKey() async throws {
        let h = RuntimeHarness()
        for n in 0..<2000 { h.api("POST", "/api/state/set", ["channel": "app:flags", "key": .string("k\(n)"), "value": true]) }
        let runtime = h.runtime()
        try await runtime.start()
        let app = await runtime.mount("flags")
        let flags = try await app.observe(StateKey<[String: CountedFlag]>(channelMap: "app:flags"))
        var iterator = flags.makeAsyncIterator()
        #expect(try await iterator.next()?.count == 2000)
        let before = CountedFlag.decodes.withLock { $0 }
        h.api("POST", "/api/state/set", ["channel": "app:flags", "key": "k7", "value": false])
        let changed = try await iterator.next()
        #expect(changed?["k7"] == CountedFlag(on: false))
        #expect(changed?.count == 2000)
        #expect(CountedFlag.decodes.withLock { $0 } - before == 1, "one changed key, one decode")
        h.api("POST", "/api/state/remove", ["channel": "app:flags", "key": "k8"])
        #expect(try await iterator.next()?.count == 1999)
        #expect(CountedFlag.decodes.withLock { $0 } - before == 1, "a removal decodes nothing")
        _ = app
    }

    @Test("local keys: set, get, observe; server keys are read-only")
    func localKeys() async throws {
        let h = RuntimeHarness()
        let runtime = h.runtime()
        let theme = StateKey<String>(local: "theme", default: "light")
        #expect(try await runtime.get(theme) == "light")
        let app = await runtime.mount("settings")
        let values = try await app.observe(theme)
        var iterator = values.makeAsyncIterator()
        #expect(try await iterator.next() == "light")
        try await runtime.set(theme, "dark")
        #expect(try await iterator.next() == "dark")
        await #expect(throws: ClientRuntimeError.readOnly("'moderation:users' key '1'")) {
            try await runtime.set(StateKey<String?>(channel: "moderation:users", key: "1", default: nil), "x")
        }
        _ = app
    }

    @Test("a throwing observer does not stop delivery to others; its error reaches the sink with the app name")
    func throwingObserver() async throws {
        struct Boom: Error {}
        let h = RuntimeHarness()
        let runtime = h.runtime()
        let counter = StateKey<Int>(local: "counter", default: 0)
        let crashy = await runtime.mount("crashy")
        let steady = await runtime.mount("steady")
        let seen = Recorder<Int>()
        _ = try await crashy.observe(counter) { _ in throw Boom() }
        _ = try await steady.observe(counter) { seen.append($0) }
        for n in 1...5 { try await runtime.set(counter, n) }
        try await eventually(.seconds(5), "steady sees the last value") { seen.all.last == 5 }
        try await eventually(.seconds(5), "the sink hears from crashy") { h.errors.all.contains { $0.hasPrefix("crashy:") } }
        #expect(!h.errors.all.contains { $0.hasPrefix("steady:") })
        #expect(seen.all == seen.all.sorted(), "in order")
        _ = (crashy, steady)
    }

    @Test("loaders run once for concurrent callers, report failures with the app name, retry, and reload on invalidate")
    func loaders() async throws {
        struct Down: Error {}
        let h = RuntimeHarness()
        let runtime = h.runtime()
        let app = await runtime.mount("catalog")
        let key = StateKey<[String]>(local: "catalog", default: [])
        let calls = Recorder<Int>()
        let failNext = Mutex(true)
        let loader: @Sendable () async throws -> [String] = {
            calls.append(1)
            if failNext.withLock({ let fail = $0; $0 = false; return fail }) { throw Down() }
            return ["item-\(calls.all.count)"]
        }
        await #expect(throws: Down.self) { _ = try await app.load(key, loader) }
        #expect(h.errors.all.contains { $0.hasPrefix("catalog: loader of local 'catalog'") })
        let results = try await withThrowingTaskGroup(of: [String].self) { group in
            for _ in 0..<5 { group.addTask { try await app.load(key, loader) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(Set(results) == [["item-2"]], "one run served all five callers")
        #expect(calls.all.count == 2)
        #expect(try await app.load(key, loader) == ["item-2"], "loaded: no new run")
        let values = try await app.observe(key)
        var iterator = values.makeAsyncIterator()
        #expect(try await iterator.next() == ["item-2"])
        await runtime.invalidate(key)
        #expect(try await iterator.next() == ["item-3"], "invalidate reran the loader and observers saw it")
    }
}

extension SharedStateTests {
    @Test("a publication observer that falls too far behind is ended with an error, never silently skipped; others get everything")
    func boundedObserverBuffer() async throws {
        let h = RuntimeHarness()
        let runtime = h.runtime(observerBuffer: 3)
        try await runtime.start()
        let stalled = await runtime.mount("stalled")
        let reader = await runtime.mount("reader")
        let stalledStream = try await stalled.observe("chat:room")
        let readerStream = try await reader.observe("chat:room")
        let readerSaw = Recorder<UInt64>()
        let received = Task {
            for try await event in readerStream {
                guard let publication = event.publication else { continue }
                readerSaw.append(publication.offset)
                if readerSaw.all.count == 5 { break }
            }
        }
        for n in 1...5 {
            h.api("POST", "/api/publish", ["channel": "chat:room", "data": .int(Int64(n))])
            // The reader keeps up (never more than its 3-publication buffer behind); the stalled one does not read.
            try await eventually(.seconds(5), "reader consumed \(n)") { readerSaw.all.count == n }
        }
        try await received.value
        #expect(readerSaw.all == [1, 2, 3, 4, 5])
        var delivered: [UInt64] = []
        do {
            for try await event in stalledStream { if let publication = event.publication { delivered.append(publication.offset) } }
            Issue.record("the stalled stream ended without an error")
        } catch let error as ClientRuntimeError {
            #expect(error == .observerOverflow(3))
        }
        #expect(delivered == [1, 2, 3], "what it did get is a gap-free prefix")
        #expect(h.errors.all.contains { $0.hasPrefix("stalled:") })
        _ = (stalled, reader)
    }
}
