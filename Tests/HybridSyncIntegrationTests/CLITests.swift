import Foundation
import HybridSyncClient
import HybridSyncProtocol
import HybridSyncDaemonTesting
import Testing

/// Runs the `hybridsync` built next to the test executable, pointed at the API `api` with `key`.
func hybridsync(_ arguments: [String], api: String?, key: String? = nil) async throws -> ExecutableRun {
    var flags: [String] = []
    if let api { flags.append("--api=\(api)") }
    if let key { flags.append("--key=\(key)") }  // `=`: a generated key may start with '-'
    let needsAPI = !["token", "tail", "config", "--help"].contains(arguments.first ?? "")
    return try await runBuiltExecutable("hybridsync", arguments + (needsAPI ? flags : []))
}

/// Every `hybridsync` command against a real daemon: a success, and a failure with its exit code
/// (0 done, 1 the API refused, 2 usage, 3 unreachable).
@Suite("hybridsync CLI (real daemon)")
struct CLITests {
    @Test("publish, broadcast, state, history and channel: success output, --json, and refusals with exit 1")
    func channelCommands() async throws {
        let daemon = try await TestDaemon.start(engine: .memory)
        let api = daemon.apiURL
        let key = daemon.api.apiKey
        func run(_ arguments: String...) async throws -> ExecutableRun { try await hybridsync(arguments, api: api, key: key) }

        let published = try await run("publish", "chat:room-1", #"{"text":"hi"}"#)
        #expect(published.status == 0, "\(published.errors)")
        #expect(published.output == "published on chat:room-1: offset 1, 0 subscriber(s)\n")
        let refused = try await run("publish", "nowhere:x", "1")
        #expect(refused.status == 1)
        #expect(refused.errors.contains("invalid_channel"))
        #expect(try await run("publish", "chat:room-1", "{not json").status == 2)

        let broadcast = try await run("broadcast", #""notice""#, "chat:room-1", "chat:room-2")
        #expect(broadcast.output == "chat:room-1 offset 2\nchat:room-2 offset 1\n")
        #expect(try await run("broadcast", "1", "chat:ok", "bad channel").status == 1)

        #expect(try await run("state", "set", "app:flags", "dark", "true").output == "set app:flags dark: version 1\n")
        #expect(try await run("state", "get", "app:flags").output == "dark = true (version 1)\n")
        let asJSON = try await run("state", "get", "app:flags", "--json")
        #expect(try JSONValue.parse(asJSON.output.trimmingCharacters(in: .newlines))["state"]?["dark"]?["value"] == true)
        #expect(try await run("state", "rm", "app:flags", "dark").output == "removed dark from app:flags\n")
        #expect(try await run("state", "rm", "app:flags", "dark").output == "app:flags has no key dark\n")
        #expect(try await run("state", "get", "chat:room-1").status == 1, "chat retains no state")
        #expect(try await run("state", "set", "app:flags", "k").status == 2, "missing value")

        let history = try await run("history", "chat:room-1")
        #expect(history.output == "1\t{\"text\":\"hi\"}\n2\t\"notice\"\n")
        #expect(try await run("history", "no-namespace").status == 1)
        let channel = try await run("channel", "chat:room-1")
        #expect(channel.output.hasPrefix("chat:room-1: 0 subscriber(s), epoch "))
        #expect(channel.output.hasSuffix(", offset 2\n"))
        #expect(try await run("channel", "x").status == 1)
        #expect(try await daemon.stop() == 0)
    }

    @Test("ban, bans, unban, sessions, presence, disconnect, health and token; a wrong key exits 1, no daemon exits 3")
    func userCommands() async throws {
        let daemon = try await TestDaemon.start(arguments: ["--namespaces-chat-presence", "true"], engine: .memory)
        let api = daemon.apiURL
        let key = daemon.api.apiKey
        func run(_ arguments: String...) async throws -> ExecutableRun { try await hybridsync(arguments, api: api, key: key) }

        #expect(try await run("ban", "42", "--reason", "spam", "--for", "3600").output == "banned 42 (0 session(s) closed)\n")
        #expect(try await run("ban", "42", "--reason", "spam", "--for", "-1").status == 2)
        #expect(try await run("ban", "42").status == 2, "--reason is required")
        let bans = try await run("bans")
        #expect(bans.output.hasPrefix("42\tspam\t"))
        #expect(try await run("unban", "42").output == "lifted the ban on 42\n")
        #expect(try await run("unban", "42").output == "42 was not banned\n")
        #expect(try await hybridsync(["unban", "42"], api: api, key: "wrong").status == 1)
        #expect(try await run("bans").output == "(no bans)\n")
        #expect(try await run("sessions", "42").output == "(no sessions of 42)\n")
        var named = ClientRuntime.Configuration()
        named.clientName = "cli test"
        let runtime = daemon.runtime(user: "42", configuration: named)
        try await runtime.start()
        let watcher = await runtime.mount("watcher")
        // Held to the end: a dropped stream gives its hold back and the runtime unsubscribes after
        // its linger (1 s), which a slow machine reaches before the presence commands below.
        let lobby = try await watcher.observe("chat:lobby")
        let listed = try await run("sessions", "42").output.split(separator: "\t").map(String.init)
        #expect(listed.count == 5 && listed[1] == "cli test" && listed[2] == "127.0.0.1" && listed[4] == "chat:lobby\n", "\(listed)")
        #expect(try await run("presence", "chat:lobby").output == "42\t1\t-\n")
        #expect(try await run("presence", "chat:lobby", "--stats").output == "1 user(s), 1 connection(s) on chat:lobby\n")
        #expect(try await run("presence", "app:flags").status == 1, "a namespace without presence: the API refuses")
        _ = lobby
        await runtime.close()
        #expect(try await run("disconnect", "42", "--code", "4005").output == "closed 0 session(s) of 42\n")
        #expect(try await run("disconnect", "42", "--code", "1000").status == 2)

        let health = try await run("health")
        #expect(health.output.hasPrefix("ok: version "))
        let wrongKey = try await hybridsync(["health"], api: api, key: "wrong")
        #expect(wrongKey.status == 0, "/health needs no key")
        let refused = try await hybridsync(["bans"], api: api, key: "wrong")
        #expect(refused.status == 1)
        #expect(refused.errors.contains("unauthorized"))

        let token = try await hybridsync(["token", "--user", "7", "--secret", "s"], api: nil)
        #expect(token.status == 0)
        #expect(token.output.split(separator: ".").count == 3, "a JWT")
        #expect(try await hybridsync(["token", "--user", "7", "--ttl", "0"], api: nil).status == 2)
        #expect(try await daemon.stop() == 0)

        let unreachable = try await hybridsync(["health"], api: api, key: key)
        #expect(unreachable.status == 3, "the daemon is gone")
        #expect(unreachable.errors.contains("cannot reach"))
    }

    @Test("tail follows a channel over a real connection and stops after --count; a refused channel exits 1, an invalid one 2")
    func tail() async throws {
        let daemon = try await TestDaemon.start(engine: .memory)
        let arguments = ["tail", "chat:room-1", "--url", daemon.webSocketURL, "--secret=\(daemon.tokens.secret)", "--count", "2"]
        let following = Task { try await hybridsync(arguments, api: nil) }
        try await eventually(.seconds(20), "tail subscribed") {
            try await daemon.api.channelInfo("chat:room-1")["subscribers"] == 1
        }
        try await daemon.api.publish(channel: "chat:room-1", data: ["text": "one"])
        try await daemon.api.setState(channel: "app:flags", key: "x", value: true)  // another channel: not shown
        try await daemon.api.publish(channel: "chat:room-1", data: "two")
        let run = try await following.value
        #expect(run.status == 0, "\(run.errors)")
        #expect(run.output == "1\t{\"text\":\"one\"}\n2\t\"two\"\n")

        let refused = try await hybridsync(["tail", "nowhere:x", "--url", daemon.webSocketURL, "--secret=\(daemon.tokens.secret)"], api: nil)
        #expect(refused.status == 1)
        #expect(refused.errors.contains("serverRefused"))
        let invalid = try await hybridsync(["tail", "no namespace", "--url", daemon.webSocketURL, "--secret=\(daemon.tokens.secret)"], api: nil)
        #expect(invalid.status == 2)
        #expect(try await daemon.stop() == 0)
    }

    @Test("config check: the shipped file is valid (exit 0); a wrong type and an unknown key are reported with file and line (exit 1)")
    func configCheck() async throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let shipped = try await hybridsync(["config", "check", root.appendingPathComponent("Config/hybridsyncd.yaml").path], api: nil)
        #expect(shipped.status == 0, "\(shipped.errors)")
        #expect(shipped.output.hasSuffix(": valid\n"))

        let file = FileManager.default.temporaryDirectory.appendingPathComponent("check-\(UUID().uuidString).yaml")
        defer { try? FileManager.default.removeItem(at: file) }
        try "api:\n  key: k\nauth:\n  tokenSecret: s\nlimits:\n  maxMessageBytes: lots\n".write(to: file, atomically: true, encoding: .utf8)
        let wrongType = try await hybridsync(["config", "check", file.path], api: nil)
        #expect(wrongType.status == 1)
        #expect(wrongType.errors.contains("\(file.path):6: limits.maxMessageBytes: expected int"), "\(wrongType.errors)")

        try "api:\n  key: k\n  prot: 1\nauth:\n  tokenSecret: s\n".write(to: file, atomically: true, encoding: .utf8)
        let unknown = try await hybridsync(["config", "check", file.path], api: nil)
        #expect(unknown.status == 1)
        #expect(unknown.errors.contains("\(file.path):3: api.prot"), "\(unknown.errors)")
        #expect(try await hybridsync(["config", "check", "/nonexistent.yaml"], api: nil).status == 2)

        let printed = try await hybridsync(["config", "print", root.appendingPathComponent("Config/hybridsyncd.yaml").path], api: nil)
        #expect(printed.status == 0, "\(printed.errors)")
        #expect(printed.output.contains("server.port: 8080\n"))
        #expect(printed.output.contains("namespaces.chat.clientPublish: true\n"))
        #expect(printed.output.contains("limits.commandBurst: 100.0\n"), "a default is printed too")
        #expect(printed.output.contains("api.key: <redacted, 11 bytes>\n"))
        #expect(!printed.output.contains("dev-api-key") && !printed.output.contains("dev-token-secret-change-me"), "no secret")
        #expect(try await hybridsync(["config", "print", file.path], api: nil).status == 1, "the unknown key again")
    }

    @Test("API commands take the address and key from a daemon configuration file given with --config")
    func configFileSource() async throws {
        let daemon = try await TestDaemon.start(engine: .memory)
        let port = daemon.apiURL.split(separator: ":").last.map(String.init) ?? ""
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("cli-\(UUID().uuidString).yaml")
        defer { try? FileManager.default.removeItem(at: file) }
        try "api:\n  host: 0.0.0.0\n  port: \(port)\n  key: \"\(daemon.api.apiKey)\"\n".write(to: file, atomically: true, encoding: .utf8)
        let bans = try await hybridsync(["bans", "--config", file.path], api: nil)
        #expect(bans.status == 0, "\(bans.errors)")
        #expect(bans.output == "(no bans)\n")
        let wrongKey = try await hybridsync(["bans", "--config", file.path, "--key=wrong"], api: nil)
        #expect(wrongKey.status == 1, "a flag wins over the file")
        #expect(try await hybridsync(["bans", "--config", "/nonexistent.yaml"], api: nil).status == 2)
        #expect(try await daemon.stop() == 0)
    }
}

extension CLITests {
    @Test("bench: fanout and ban-storm (also over 2 processes) measure real client runtimes and report every delivery; bad counts exit 2")
    func bench() async throws {
        let daemon = try await TestDaemon.start(engine: .memory)
        let target = ["--url", daemon.webSocketURL, "--secret=\(daemon.tokens.secret)", "--clients", "20"]
        let fanout = try await hybridsync(["bench", "fanout", "--messages", "5", "--rate", "50"] + target, api: daemon.apiURL, key: daemon.api.apiKey)
        #expect(fanout.status == 0, "\(fanout.errors)")
        #expect(fanout.output.contains("deliveries: 100/100 (lost 0, duplicated 0)"), "\(fanout.output)")
        let storm = try await hybridsync(["bench", "ban-storm"] + target, api: daemon.apiURL, key: daemon.api.apiKey)
        #expect(storm.status == 0, "\(storm.errors)")
        #expect(storm.output.contains("observed by 20/20 (never: 0)"), "\(storm.output)")
        #expect(try await daemon.api.bans()["bans"] == [], "the bench lifts its ban")
        let spread = try await hybridsync(["bench", "ban-storm", "--processes", "2"] + target, api: daemon.apiURL, key: daemon.api.apiKey)
        #expect(spread.status == 0, "\(spread.errors)")
        #expect(spread.output.contains("in 2 processes") && spread.output.contains("observed by 20/20 (never: 0)"), "\(spread.output)")
        let refused = try await hybridsync(["bench", "fanout", "--clients", "0"], api: daemon.apiURL, key: daemon.api.apiKey)
        #expect(refused.status == 2)
        #expect(refused.errors.contains("--clients must be at least 1"))
        #expect(try await daemon.stop() == 0)
    }
}
