import Foundation
import HybridSyncClient
import HybridSyncDaemonTesting
import Testing

/// The page lifecycle in Chromium (docs/BROWSER.md, "Frozen tabs, the back/forward cache, offline"):
/// what a browser does to background tabs, Back and lost networks, against the real daemon.
extension BrowserTests {
    /// Subscribers of `channel` on the daemon.
    private func subscribers(_ daemon: TestDaemon, _ channel: String) async throws -> Int64? {
        try await daemon.api.request("GET", "/api/channels/\(channel)", nil)["subscribers"]?.intValue
    }

    @Test("shared-worker mode: a tab frozen until the worker released it joins again on resume and shows the bans made meanwhile")
    func frozenTabRejoins() async throws {
        guard let browser = try await Browser.start() else { return }
        let daemon = try await startDemo()
        let tab = try await browser.open("\(httpBase(daemon.webSocketURL))/demo/?user=42&shared=1")
        try await browser.wait(tab, until: "\(Self.connected) && \(Self.profile).standing === 'good'")
        try await chatSubscribed(daemon)
        try await say(daemon, "7", "cheap watches")
        try await browser.wait(tab, until: "\(Self.chat).visible === '1'")

        // What Chrome does to a background tab. A frozen tab sends no heartbeat: the worker
        // releases it after 15-20 s, and its channels are left on the server 1 s later.
        try await browser.devTools(tab, "Page.setWebLifecycleState", ["state": "frozen"])
        try await eventually(.seconds(40), "the worker released the frozen tab's channels") {
            try await subscribers(daemon, "chat:lobby") == 0
        }
        _ = try await daemon.api.ban(user: "7", reason: "spam")
        try await browser.devTools(tab, "Page.setWebLifecycleState", ["state": "active"])
        try await browser.wait(tab, until: "\(Self.connected) && \(Self.chat).hidden === '1' && \(Self.chat).visible === '0'")
        #expect(try await connections(daemon) == 1)

        // Live again, not a replay: the user's own ban arrives and stops the shared connection.
        _ = try await daemon.api.ban(user: "42", reason: "flooding")
        try await browser.wait(tab, until: "\(Self.profile).standing === 'banned' && \(Self.chat).status === 'banned'")
        try await daemon.stop()
    }

    @Test("shared-worker mode: a tab restored by Back from the back/forward cache joins again and shows the bans made meanwhile")
    func backForwardCacheRestores() async throws {
        guard let browser = try await Browser.start() else { return }
        let daemon = try await startDemo()
        let base = httpBase(daemon.webSocketURL)
        let tab = try await browser.open("\(base)/demo/?user=42&shared=1")
        try await browser.wait(tab, until: "\(Self.connected) && \(Self.profile).standing === 'good'")
        try await chatSubscribed(daemon)
        try await say(daemon, "7", "cheap watches")
        try await browser.wait(tab, until: "\(Self.chat).visible === '1'")
        try await browser.evaluate(tab, "addEventListener('pageshow', (event) => { window.restoredFromCache = event.persisted; })")

        // Away (the worker keeps the connection only while some tab uses it) and Back.
        try await browser.evaluate(tab, "location.href = '/client/hybridsync.js'")
        try await browser.wait(tab, until: "location.pathname === '/client/hybridsync.js' && document.readyState === 'complete'")
        _ = try await daemon.api.ban(user: "7", reason: "spam")
        try await browser.evaluate(tab, "history.back()")
        try await browser.wait(tab, until: "window.restoredFromCache === true", timeout: 20)
        try await browser.wait(tab, until: "\(Self.connected) && \(Self.chat).hidden === '1' && \(Self.chat).visible === '0'")
        #expect(try await connections(daemon) == 1)
        _ = try await daemon.api.ban(user: "42", reason: "flooding")
        try await browser.wait(tab, until: "\(Self.profile).standing === 'banned'")
        try await daemon.stop()
    }

    @Test("offline: the page reports reconnecting and drops its socket at once; online: it connects at once and shows the ban made meanwhile")
    func offlineAndOnline() async throws {
        guard let browser = try await Browser.start() else { return }
        let daemon = try await startDemo()
        let tab = try await browser.open("\(httpBase(daemon.webSocketURL))/demo/?user=42")
        try await browser.wait(tab, until: "\(Self.connected) && \(Self.profile).standing === 'good'")
        try await chatSubscribed(daemon)
        try await say(daemon, "7", "cheap watches")
        try await browser.wait(tab, until: "\(Self.chat).visible === '1'")

        try await browser.devTools(tab, "Network.enable")
        let network = { (offline: Bool) -> JSONValue in
            ["offline": .bool(offline), "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1]
        }
        try await browser.devTools(tab, "Network.emulateNetworkConditions", network(true))
        try await browser.wait(tab, until: "document.body.dataset.connection === 'reconnecting' && !navigator.onLine", timeout: 5)
        try await eventually(.seconds(10), "the page's socket closed") { try await connections(daemon) == 0 }
        _ = try await daemon.api.ban(user: "7", reason: "spam")

        try await browser.devTools(tab, "Network.emulateNetworkConditions", network(false))
        // At once: the first attempt after 'online' has no backoff before it (one that waited for a
        // timer set while offline came 8-15.7 s later).
        try await browser.wait(tab, until: "\(Self.connected) && \(Self.chat).hidden === '1'", timeout: 5)
        #expect(try await connections(daemon) == 1)
        try await daemon.stop()
    }

    @Test("a publish over the server's maxMessageBytes is refused in the page with messageTooBig; the shared connection stays")
    func oversizePublishIsRefusedLocally() async throws {
        guard let browser = try await Browser.start() else { return }
        let daemon = try await startDemo()
        let tab = try await browser.open("\(httpBase(daemon.webSocketURL))/demo/?user=42")
        try await browser.wait(tab, until: "\(Self.connected) && \(Self.profile).standing === 'good'")
        let refused = try await browser.evaluate(tab, """
            window.hybridsyncDemo.runtime.publish('chat:lobby', { user: '42', text: 'x'.repeat(70000) })
              .then(() => 'sent', (error) => error.code)
            """)
        #expect(refused == "messageTooBig")
        #expect(try await browser.evaluate(tab, "document.body.dataset.connection") == "connected")
        #expect(try await connections(daemon) == 1, "the connection every micro-frontend shares stays")
        let sent = try await browser.evaluate(tab, """
            window.hybridsyncDemo.runtime.publish('chat:lobby', { user: '42', text: 'small' }).then((result) => typeof result.offset)
            """)
        #expect(sent == "number")
        try await daemon.stop()
    }
}

/// Micro-frontends that spell the server's URL differently, or load their own copy of the module.
extension BrowserTests {
    @Test("URL spellings share one connection (a second loopback name is reported); two copies of the module share runtimes and recognise each other's errors")
    func spellingsAndCopies() async throws {
        guard let browser = try await Browser.start() else { return }
        let daemon = try await startDemo()
        let page = try await browser.open("\(httpBase(daemon.webSocketURL))/client/hybridsync.js")
        let outcome = try await browser.evaluate(page, """
            (async () => {
              const a = await import('/client/hybridsync.js');
              const b = await import('/client/hybridsync.js?v=2');
              const getToken = async () => (await (await fetch('/demo/token?user=42')).json()).token;
              const reports = [];
              const onError = (report) => reports.push(report.error.message);
              const spellings = [`ws://${location.host}/`, `ws://${location.host}`, `WS://${location.host}/`];
              const runtimes = spellings.map((url, index) => (index % 2 ? b : a).runtimeFor({ url, getToken, onError }));
              const other = b.runtimeFor({ url: `ws://localhost:${location.port}/`, getToken, onError });
              for (const runtime of [...runtimes, other]) runtime.mount('mfe').observeChannel('chat:lobby', () => {});
              await new Promise((resolve) => { const stop = runtimes[0].onStatus((s) => s.state === 'connected' && resolve()); });
              return {
                shared: runtimes.every((runtime) => runtime === runtimes[0]),
                versions: a.version === b.version && /^\\d+\\.\\d+\\.\\d+$/.test(a.version),
                brand: new b.HybridSyncError('banned', 'x') instanceof a.HybridSyncError,
                reports,
              };
            })()
            """)
        #expect(outcome["shared"] == true, "three spellings and two copies: one runtime")
        #expect(outcome["versions"] == true)
        #expect(outcome["brand"] == true, "errors are recognised across copies")
        let reports = outcome["reports"]?.arrayValue?.compactMap(\.stringValue) ?? []
        #expect(reports.count == 1 && reports.first?.contains("two runtimes target one server") == true, "\(reports)")
        try await eventually(.seconds(10), "the two connections (127.0.0.1 and localhost)") { try await connections(daemon) == 2 }
        try await daemon.stop()
    }
}

/// The React bindings (clients/js/react.js) with Debian's React 18 in Chromium.
extension BrowserTests {
    /// React and ReactDOM's UMD builds from Debian's node-react and node-react-dom.
    private static func reactSources() throws -> [String] {
        try ["/usr/share/nodejs/react/umd/react.development.js", "/usr/share/nodejs/react-dom/umd/react-dom.development.js"]
            .map { try String(contentsOfFile: $0, encoding: .utf8) }
    }

    @Test("React: useHybridState renders the current value first, re-renders on change; usePresence renders who is here; unmounting releases the server subscriptions")
    func reactBindings() async throws {
        guard let browser = try await Browser.start() else { return }
        let daemon = try await TestDaemon.start(arguments: ["--server-demo", "true", "--namespaces-chat-presence", "true"], engine: .memory)
        let page = try await browser.open("\(httpBase(daemon.webSocketURL))/client/hybridsync.js")
        for source in try Self.reactSources() { try await browser.evaluate(page, source) }
        // `import 'react'` in react.js resolves through an import map to the UMD global.
        try await browser.evaluate(page, """
            const shim = 'const R = window.React; export default R; export const { createContext, createElement, useContext, '
              + 'useEffect, useMemo, useState, useSyncExternalStore } = R;';
            const map = document.createElement('script');
            map.type = 'importmap';
            map.textContent = JSON.stringify({ imports: { react: URL.createObjectURL(new Blob([shim], { type: 'text/javascript' })) } });
            document.head.append(map);
            """)
        try await browser.evaluate(page, """
            (async () => {
              const { createRuntime, stateKey } = await import('/client/hybridsync.js');
              const { HybridSyncProvider, useHybridState, usePresence } = await import('/client/react.js');
              const getToken = async () => (await (await fetch('/demo/token?user=42')).json()).token;
              const runtime = createRuntime({ url: `ws://${location.host}/`, getToken });
              const renders = [];
              function Standing() {
                const ban = useHybridState(stateKey('moderation:users', '7', null));
                renders.push(ban.ready ? (ban.value ? `banned: ${ban.value.reason}` : 'good') : 'loading');
                return React.createElement('output', { id: 'standing' }, renders[renders.length - 1]);
              }
              function Here() {
                const here = usePresence('chat:lobby');
                return React.createElement('output', { id: 'here' }, here.ready ? here.value.map((u) => u.user).join(',') : 'loading');
              }
              const container = document.createElement('div');
              document.body.append(container);
              const root = ReactDOM.createRoot(container);
              root.render(React.createElement(HybridSyncProvider, { runtime, name: 'profile' }, React.createElement(Standing), React.createElement(Here)));
              window.reactTest = { renders, root };
            })()
            """)
        try await browser.wait(page, until: "document.querySelector('#standing')?.textContent === 'good'")
        #expect(try await browser.evaluate(page, "window.reactTest.renders.filter((r) => r !== 'loading')[0]") == "good",
                "the first value rendered is the server's, not a default")
        #expect(try await subscribers(daemon, "moderation:users") == 1)
        try await browser.wait(page, until: "document.querySelector('#here')?.textContent === '42'")

        _ = try await daemon.api.ban(user: "7", reason: "spam")
        try await browser.wait(page, until: "document.querySelector('#standing')?.textContent === 'banned: spam'")

        try await browser.evaluate(page, "window.reactTest.root.unmount()")
        try await eventually(.seconds(10), "the subscriptions released after the linger") {
            let (bans, lobby) = (try await subscribers(daemon, "moderation:users"), try await subscribers(daemon, "chat:lobby"))
            return bans == 0 && lobby == 0
        }
        try await daemon.stop()
    }
}

/// Leader-tab mode: where SharedWorker is missing, one tab holds the connection (Web Locks) for the others.
extension BrowserTests {
    @Test("no SharedWorker: three tabs hold one WebSocket through the leader tab; when it closes another takes over, reconnecting meanwhile")
    func leaderTabFallback() async throws {
        guard let browser = try await Browser.start() else { return }
        let daemon = try await startDemo()
        let url = "\(httpBase(daemon.webSocketURL))/demo/?user=42&shared=1"
        // What Android Chrome before 148 is: no SharedWorker, with Web Locks and BroadcastChannel.
        let noSharedWorker = "delete window.SharedWorker;"
        var tabs: [Browser.Tab] = []
        for _ in 0..<3 {
            let tab = try await browser.open(url, initScript: noSharedWorker)
            try await browser.wait(tab, until: "\(Self.connected) && \(Self.profile).standing === 'good'")
            #expect(try await browser.evaluate(tab, "window.hybridsyncDemo.runtime.mode") == "leader-tab")
            tabs.append(tab)
        }
        #expect(try await connections(daemon) == 1, "one WebSocket for three tabs")
        try await chatSubscribed(daemon)
        try await say(daemon, "7", "cheap watches")
        _ = try await daemon.api.ban(user: "7", reason: "spam")
        for tab in tabs { try await browser.wait(tab, until: "\(Self.chat).visible === '0' && \(Self.chat).hidden === '1'") }

        var leaders: [Bool] = []
        for tab in tabs { leaders.append(try await browser.evaluate(tab, "window.hybridsyncDemo.runtime.diagnostics().then((d) => d.leader)") == true) }
        #expect(leaders.filter { $0 }.count == 1, "exactly one leader: \(leaders)")
        let leader = tabs[leaders.firstIndex(of: true) ?? 0]
        let followers = tabs.filter { $0.id != leader.id }
        for tab in followers {
            try await browser.evaluate(tab, "window.statuses = []; window.hybridsyncDemo.runtime.onStatus((s) => window.statuses.push(s.state))")
        }

        try await browser.close(leader)
        let started = ContinuousClock.now
        _ = try await daemon.api.ban(user: "9", reason: "during the handover")
        // Connected again only through the new leader: the followers stop being current when the
        // leader says it is going, and become current once they joined the next one.
        for tab in followers {
            try await browser.wait(tab, until: "\(Self.connected) && window.statuses.includes('reconnecting')", timeout: 20)
        }
        let handover = ContinuousClock.now - started
        try await eventually(.seconds(10), "one WebSocket again, the new leader's") { try await connections(daemon) == 1 }
        try await chatSubscribed(daemon)
        // The ban made during the handover is state: current at once. A chat message from 9 now
        // is hidden in both tabs (what was published during the handover is signalled as
        // `resynced`, not replayed).
        try await say(daemon, "9", "hello?")
        for tab in followers {
            try await browser.wait(tab, until: "\(Self.chat).visible === '0' && Number(\(Self.chat).hidden) >= 2")
        }
        print("leader-tab handover: both followers connected again \(handover) after the leader closed")
        try await eventually(.seconds(10), "one WebSocket again") { try await connections(daemon) == 1 }
        var newLeaders = 0
        for tab in followers where try await browser.evaluate(tab, "window.hybridsyncDemo.runtime.diagnostics().then((d) => d.leader)") == true {
            newLeaders += 1
        }
        #expect(newLeaders == 1)
        try await daemon.stop()
    }
}
