// docs/CLIENT.md's Swift blocks, verbatim (compiled; the ones that need a daemon are not run).
import HybridSyncClient
import HybridSyncTesting
import Observation
public import ServiceLifecycle
import Testing

func lifetime() async throws {
let runtime = ClientRuntime(url: "wss://sync.example.com/") { try await backend.freshToken() }
try await runtime.start()          // returns once connected; throws a ClientRuntimeError if refused for good

let chat = await runtime.mount("chat")        // a scope: owns observations and tasks
await chat.unmount()                           // or drop the last reference to `chat`
await runtime.close()                          // ends every wait, stream and observer with .closed
}

func structured() async throws {
try await withClientRuntime(ClientRuntime(url: url) { try await backend.freshToken() }) { runtime in
    let chat = await runtime.mount("chat")
    for try await event in try await chat.observe("chat:room-7") { show(event) }
}   // closed here, also when the body throws or the task is cancelled
}

extension ClientRuntime: Service {}

func runServices(_ runtime: ClientRuntime) async throws {
    let group = ServiceGroup(services: [runtime], logger: logger)
    try await group.run()
}

func bounds(runtime: ClientRuntime) {
var configuration = ClientRuntime.Configuration()
configuration.startTimeout = .seconds(10)      // start() throws .timeout after 10 s (it keeps trying)
configuration.commandTimeout = .seconds(5)     // observe, publish, backfill, load
let publishing = Task { try await runtime.publish("chat:room-7", data: "hi") }
publishing.cancel()                            // a queued offline publish is dropped, never sent
_ = configuration
}

func errors(runtime: ClientRuntime) async throws {
do {
    try await runtime.start()
} catch let error as ClientRuntimeError {
    switch error.code {
    case .banned: showBanScreen(reason: error.ban?.reason)
    case .unauthorized: signOut()
    case .timeout: showOfflineBanner()
    default: print("sync unavailable: \(error)")
    }
}
}

func sharedState(runtime: ClientRuntime, chat: MicroApp, profile: MicroApp) async throws {
struct BanInfo: Codable, Sendable { var banned: Bool; var reason: String }

let theme = StateKey<String>(local: "theme", default: "light")                        // client-owned
let user42 = StateKey<BanInfo?>(channel: "moderation:users", key: "42", default: nil)  // one server key
let bans = StateKey<[String: BanInfo]>(channelMap: "moderation:users")                // a channel's state

try await runtime.set(theme, "dark")           // observers of `theme` see it; server keys are read-only
let current = try await runtime.get(bans)

for try await banned in try await chat.observe(bans) { hideMessages(from: banned.keys) }   // current value first
let token = try await profile.observe(user42) { ban in render(ban) }                       // callback form
token.cancel()
_ = current
}

func channels(runtime: ClientRuntime, chat: MicroApp) async throws {
for try await event in try await chat.observe("chat:room-7") {
    switch event {
    case .publication(let publication):
        show(publication.data)
    case .resynced(let gap):
        let backfill = try await chat.backfill("chat:room-7", after: gap.from)
        for publication in backfill.publications { show(publication.data) }
        if !backfill.complete { showNotice("some messages could not be loaded") }
    }
}
try await runtime.publish("chat:room-7", data: ["text": "hi"])   // where the namespace allows it
}

func subscriptionTokens(runtime: ClientRuntime) async throws {
let billing = await runtime.mount("billing", subscriptionToken: { channel in
    try await billingBackend.subscriptionToken(for: channel)   // a JWT: sub, channel, exp; nil: none needed
})
for try await event in try await billing.observe("billing:invoices") { show(event) }
}

func presence(room: MicroApp) async throws {
for try await users in try await room.observePresence("room:7") {   // [PresentUser]: user, info
    render(users)                                                    // sorted by user
}
}

func loaders(runtime: ClientRuntime, shop: MicroApp) async throws {
let catalog = StateKey<[Item]>(local: "catalog", default: [])
let items = try await shop.load(catalog) { try await api.fetchCatalog() }   // one run for concurrent callers
await runtime.invalidate(catalog)                                           // run it again; observers update
_ = items
}

func suspendResume(runtime: ClientRuntime) async {
await runtime.suspend()     // the app goes to the background: socket closed, subscriptions kept
await runtime.resume()      // back: reconnects now (no backoff) and recovers every channel from its position
let report = await runtime.diagnostics()
print(report.connection, report.reconnects, report.lastError ?? "-", report.offlineQueue, report.inFlight)
// offlineQueue: publishes waiting for the connection; inFlight: commands sent, reply not yet in
for app in report.apps { print(app.name, app.channels, app.observers) }
for channel in report.channels { print(channel.name, channel.status, channel.position as Any) }
}

struct AppTransport: ClientTransport {
    func connect(to url: String) async throws -> any ClientConnection {
        try await AppWebSocket.open(url, subprotocol: HybridSyncWire.subprotocol)
    }
}

func makeRuntime() -> ClientRuntime {
    ClientRuntime(url: "wss://sync.example.com/", transport: AppTransport()) { try await backend.freshToken() }
}

@Suite("docs/CLIENT.md snippets that run without a daemon")
struct ClientGuideSnippetTests {
    @Test("a custom transport that says retrying cannot help stops start() with invalidURL")
    func customTransportRuns() async throws {
        let runtime = makeRuntime()
        let error = await #expect(throws: ClientRuntimeError.self) { try await runtime.start() }
        #expect(error?.code == .invalidURL)
    }

    @Test("the suspend/resume and diagnostics snippet runs against an in-memory server")
    func suspendResumeRuns() async throws {
        let server = InMemoryServer()
        let runtime = server.runtime(user: "1")
        try await runtime.start()
        await suspendResume(runtime: runtime)
        try await eventually(.seconds(10), "connected again") {
            if case .connected = await runtime.connectionState { return true }
            return false
        }
        await runtime.close()
    }
}
