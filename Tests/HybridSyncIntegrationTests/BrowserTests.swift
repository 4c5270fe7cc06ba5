import Foundation
import HybridSyncClient
import HybridSyncDaemonTesting
import Testing

/// hybridsync.js in headless Chromium against the real daemon (docs/BROWSER.md). Skipped, with the
/// reason printed, only where Chromium cannot start.
@Suite("Browser runtime in Chromium (real daemon)", .serialized)
struct BrowserTests {
    /// The demo's two micro-frontends, read from the page.
    static let chat = "document.querySelector('#chat').dataset"
    static let profile = "document.querySelector('#profile').dataset"
    static let connected = "document.body.dataset.connection === 'connected'"

    func startDemo(engine: TestDaemon.Engine = .memory) async throws -> TestDaemon {
        try await TestDaemon.start(arguments: ["--server-demo", "true"], engine: engine)
    }

    func say(_ daemon: TestDaemon, _ user: String, _ text: String) async throws {
        _ = try await daemon.api.publish(channel: "chat:lobby", data: ["user": .string(user), "text": .string(text)])
    }

    /// Waits until the page's chat has subscribed (a "connected" page may not have yet: what is
    /// published before is not its to see).
    func chatSubscribed(_ daemon: TestDaemon) async throws {
        try await eventually(.seconds(10), "the chat subscribed") {
            try await daemon.api.request("GET", "/api/channels/chat:lobby", nil)["subscribers"]?.intValue == 1
        }
    }

    func connections(_ daemon: TestDaemon) async throws -> Int64? {
        try await daemon.api.health()["connections"]?.intValue
    }

    @Test("the demo's two micro-frontends share one WebSocket; bans through the API update both (screenshot)")
    func demoSharesOneConnection() async throws {
        guard let browser = try await Browser.start() else { return }
        let daemon = try await startDemo()
        let page = try await browser.open("\(httpBase(daemon.webSocketURL))/demo/?user=42")
        try await browser.wait(page, until: "\(Self.connected) && \(Self.profile).standing === 'good'")
        #expect(try await browser.evaluate(page, "window.hybridsyncDemo.runtime.mode") == "local")
        #expect(try await connections(daemon) == 1, "one WebSocket for both micro-frontends")
        try await chatSubscribed(daemon)

        try await say(daemon, "7", "cheap watches")
        try await say(daemon, "42", "hello")
        try await browser.wait(page, until: "\(Self.chat).visible === '2'")

        // A ban of another user: chat hides their message, the profile is unchanged.
        _ = try await daemon.api.ban(user: "7", reason: "spam")
        try await browser.wait(page, until: "\(Self.chat).visible === '1' && \(Self.chat).hidden === '1'")
        #expect(try await browser.evaluate(page, "\(Self.profile).standing") == "good")

        // A ban of this page's user: both micro-frontends show it, and the runtime stops for good.
        _ = try await daemon.api.ban(user: "42", reason: "flooding")
        try await browser.wait(page, until: "\(Self.profile).standing === 'banned' && \(Self.chat).status === 'banned'")
        #expect(try await browser.evaluate(page, "document.querySelector('#profile .status').textContent") == "banned (flooding)")
        #expect(try await browser.evaluate(page, "document.querySelector('#chat .notice').textContent") == "You are banned: flooding")

        let screenshot = FileManager.default.temporaryDirectory.appendingPathComponent("hybridsync-demo-banned.png").path
        let bytes = try await browser.screenshot(page, to: screenshot)
        let png = try Data(contentsOf: URL(fileURLWithPath: screenshot))
        #expect(bytes > 1000 && png.prefix(4) == Data([0x89, 0x50, 0x4E, 0x47]), "a PNG of the banned page")
        print("screenshot of the banned demo page: \(screenshot) (\(bytes) bytes, \(browser.version))")
        try await eventually(.seconds(10), "the banned socket closed") { try await connections(daemon) == 0 }
        try await daemon.stop()
    }

    @Test("shared-worker mode: two tabs hold one WebSocket, both see a ban, closing one keeps the other working")
    func sharedWorkerTabs() async throws {
        guard let browser = try await Browser.start() else { return }
        let daemon = try await startDemo()
        let url = "\(httpBase(daemon.webSocketURL))/demo/?user=42&shared=1"
        let first = try await browser.open(url)
        let second = try await browser.open(url)
        for tab in [first, second] {
            try await browser.wait(tab, until: "\(Self.connected) && \(Self.profile).standing === 'good'")
            #expect(try await browser.evaluate(tab, "window.hybridsyncDemo.runtime.mode") == "shared-worker")
        }
        #expect(try await connections(daemon) == 1, "one WebSocket for both tabs")
        try await chatSubscribed(daemon)

        try await say(daemon, "7", "cheap watches")
        try await say(daemon, "9", "hi all")
        _ = try await daemon.api.ban(user: "7", reason: "spam")
        for tab in [first, second] {
            try await browser.wait(tab, until: "\(Self.chat).visible === '1' && \(Self.chat).hidden === '1'")
        }

        try await browser.close(first)
        try await say(daemon, "9", "still here?")
        try await browser.wait(second, until: "\(Self.chat).visible === '2'")
        #expect(try await connections(daemon) == 1)
        try await browser.close(second)
        try await daemon.stop()
    }

    @Test("presence: the demo's chat shows who is in the lobby, live, in shared-worker and local mode; another user's page joins, then leaves")
    func presenceLive() async throws {
        guard let browser = try await Browser.start() else { return }
        let daemon = try await TestDaemon.start(arguments: ["--server-demo", "true", "--namespaces-chat-presence", "true"], engine: .memory)
        let base = "\(httpBase(daemon.webSocketURL))/demo/"
        let mine = try await browser.open("\(base)?user=42&shared=1")
        try await browser.wait(mine, until: "\(Self.chat).present === '42'")
        let theirs = try await browser.open("\(base)?user=7")
        for page in [mine, theirs] {
            try await browser.wait(page, until: "\(Self.chat).present === '42,7'")
        }
        #expect(try await browser.evaluate(mine, "document.querySelector('#chat .here').textContent") == "here: 42 (you), 7")
        try await browser.close(theirs)
        try await browser.wait(mine, until: "\(Self.chat).present === '42'")
        try await daemon.stop()
    }

    @Test("a daemon restart while the page is open: the page converges to the server's state")
    func restartConverges() async throws {
        guard let browser = try await Browser.start() else { return }
        var daemon = try await startDemo(engine: .memory)
        let page = try await browser.open("\(httpBase(daemon.webSocketURL))/demo/?user=42")
        try await browser.wait(page, until: Self.connected)
        try await chatSubscribed(daemon)
        try await say(daemon, "7", "cheap watches")
        try await say(daemon, "9", "hi")
        _ = try await daemon.api.ban(user: "7", reason: "spam")
        try await browser.wait(page, until: "\(Self.chat).visible === '1' && \(Self.chat).hidden === '1'")

        // The memory engine forgets everything, the ban of 7 included: the page's cached state is
        // now stale and must be replaced by the new server state, not kept.
        // The bans' snapshot and the chat's `recovered: false` arrive in either order: wait for both
        // (the wait fails the test if the gap is never signalled).
        daemon = try await daemon.restart()
        try await browser.wait(page, until: "\(Self.connected) && \(Self.chat).hidden === '0' && \(Self.chat).visible === '2'"
            + " && document.querySelector('#chat .notice').textContent.includes('may be missing')", timeout: 30)

        _ = try await daemon.api.ban(user: "9", reason: "after the restart")
        try await say(daemon, "9", "one more")
        try await browser.wait(page, until: "\(Self.chat).visible === '1' && \(Self.chat).hidden === '2'")
        #expect(try await connections(daemon) == 1)
        try await daemon.stop()
    }

    @Test("the console shows the API's counts; its ban form reaches a connected client; bans sorted and searchable; a channel's subscribers, presence and history; a user's sessions; no key, no API")
    func console() async throws {
        guard let browser = try await Browser.start() else { return }
        let daemon = try await TestDaemon.start(arguments: ["--namespaces-chat-presence", "true"], engine: .memory)
        let runtime = daemon.runtime(user: "5", configuration: .init())
        try await runtime.start()
        let app = await runtime.mount("watcher")
        let events = await app.events()

        let console = try await browser.open("\(daemon.apiURL)/console/")
        try await browser.wait(console, until: "document.body.dataset.connections === '1'")
        let health = try await daemon.api.health()
        #expect(try await browser.evaluate(console, "document.querySelector('#connections').textContent") == .string("\(health["connections"]?.intValue ?? -1)"))
        #expect(try await browser.evaluate(console, "document.querySelector('#channels').textContent") == .string("\(health["channels"]?.intValue ?? -1)"))

        // Without the key the API refuses, from the page as from anywhere.
        #expect(try await browser.evaluate(console, "fetch('/api/bans').then((r) => r.status)") == 401)
        try await browser.evaluate(console, """
            document.querySelector('#ban [name=user]').value = '5';
            document.querySelector('#ban [value=ban]').click();
            """)
        try await browser.wait(console, until: "document.querySelector('#log .failed')?.textContent.includes('401')")

        try await browser.evaluate(console, """
            document.querySelector('#key [name=key]').value = \(String(decoding: JSONValue.string(daemon.api.apiKey).jsonBytes, as: UTF8.self));
            document.querySelector('#key button').click();
            document.querySelector('#ban [name=user]').value = '5';
            document.querySelector('#ban [name=reason]').value = 'from the console';
            document.querySelector('#ban [value=ban]').click();
            """)
        let ban = try await withTimeout(.seconds(15), "the console's ban at the client") { () -> Ban? in
            for await event in events { if case .banned(let ban) = event { return ban } }
            return nil
        }
        #expect(ban?.reason == "from the console")
        try await browser.wait(console, until: "document.querySelector('#bans [data-user=\"5\"]') !== null")
        #expect(try await browser.evaluate(console, "document.querySelector('#key [name=key]').value") == "", "the key is not left in the form")

        // Bans sorted by user (numbers in order) and searchable.
        for user in ["10", "9", "2"] { _ = try await daemon.api.ban(user: user, reason: "spam \(user)") }
        try await browser.evaluate(console, "document.querySelector('#ban [name=user]').value = '3'; document.querySelector('#ban [value=ban]').click()")
        try await browser.wait(console, until: "document.querySelectorAll('#bans li').length === 5")
        #expect(try await browser.evaluate(console, "[...document.querySelectorAll('#bans li')].map((li) => li.dataset.user).join(',')") == "2,3,5,9,10")
        try await browser.evaluate(console, "const search = document.querySelector('#ban-search'); search.value = 'console'; search.dispatchEvent(new Event('input'))")
        #expect(try await browser.evaluate(console, "[...document.querySelectorAll('#bans li')].map((li) => li.dataset.user).join(',')") == "3,5")

        // A channel that keeps no state: its subscribers and history; a user's live sessions.
        let reader = daemon.runtime(user: "8", configuration: .init())
        try await reader.start()
        let chat = await reader.mount("chat")
        let lobby = try await chat.observe("chat:lobby")
        for text in ["first", "second"] { _ = try await daemon.api.publish(channel: "chat:lobby", data: ["text": .string(text)]) }
        try await browser.evaluate(console, "document.querySelector('#channel [name=channel]').value = 'chat:lobby'; document.querySelector('#channel button').click()")
        try await browser.wait(console, until: "document.querySelectorAll('#history li').length === 2")
        #expect(try await browser.evaluate(console, "document.querySelector('#channel-info').dataset.subscribers") == "1")
        #expect(try await browser.evaluate(console, "document.querySelector('#history li').textContent") == #"{"text":"second"}"#)
        #expect(try await browser.evaluate(console, "document.querySelector('#state-view').textContent") == "(this namespace keeps no state)")
        try await browser.wait(console, until: "document.querySelector('#presence-list').dataset.count === '1'")
        #expect(try await browser.evaluate(console, "document.querySelector('#presence-list li').textContent") == "8: 1 connection(s)")
        try await browser.evaluate(console, "document.querySelector('#sessions [name=user]').value = '8'; document.querySelector('#sessions button').click()")
        try await browser.wait(console, until: "document.querySelector('#session-list').dataset.count === '1'")
        #expect(try await browser.evaluate(console, "document.querySelector('#session-list li').textContent.includes('chat:lobby')") == true)
        _ = lobby
        await reader.close()
        await runtime.close()
        try await daemon.stop()
    }
}
