import Foundation
@testable import HybridSyncClient
import HybridSyncProtocol
import Testing

/// The client behaviour spec both runtimes run (Tests/Fixtures/client-behaviour.json; hybridsync.js
/// runs it in clients/js/test/spec.test.js): channel grammar, close-code actions, the rule of three
/// expired tokens, backoff, the error vocabulary, a live presence list.
@Suite("Client behaviour spec (shared with hybridsync.js)")
struct BehaviourSpecTests {
    private static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    private static func spec() throws -> JSONValue {
        try JSONValue.parse(Array(Data(contentsOf: root.appendingPathComponent("Tests/Fixtures/client-behaviour.json"))))
    }

    private static func strings(_ value: JSONValue?) -> [String] { value?.arrayValue?.compactMap(\.stringValue) ?? [] }

    @Test("channel grammar")
    func channels() throws {
        let spec = try Self.spec()
        for name in Self.strings(spec["channels"]?["valid"]) { #expect(throws: Never.self, "\(name)") { _ = try ChannelName(name) } }
        for name in Self.strings(spec["channels"]?["invalid"]) { #expect(throws: (any Error).self, "\(name)") { _ = try ChannelName(name) } }
    }

    @Test("what each close code does")
    func closeCodes() throws {
        for rule in try Self.spec()["closeCodes"]?.arrayValue ?? [] {
            let code = CloseCode(rawValue: UInt16(rule["code"]?.intValue ?? 0))
            let then = rule["then"]?.stringValue ?? ""
            #expect(code.shouldReconnect == then.hasPrefix("reconnect"), "\(code)")
            if then == "stop" {
                let error = ClientRuntimeError.terminal(code: code, reason: "", refusal: nil, ban: nil)
                #expect(error.code.description == rule["error"]?.stringValue, "\(code)")
            }
            if then.contains("fresh token") { #expect(code == .tokenExpired) }
        }
    }

    @Test("expired tokens in a row, and the backoff")
    func tokensAndBackoff() throws {
        let spec = try Self.spec()
        #expect(ConnectionStateMachine.maxExpiredTokenRefusals == Int(spec["expiredTokensInARowStop"]?.intValue ?? 0))
        let backoff = BackoffPolicy()
        let base = Int64(spec["backoff"]?["baseMilliseconds"]?.intValue ?? 0)
        let max = Int64(spec["backoff"]?["maxMilliseconds"]?.intValue ?? 0)
        #expect(backoff.initial == .milliseconds(base))
        #expect(backoff.maximum == .milliseconds(max))
        #expect(backoff.multiplier == spec["backoff"]?["multiplier"]?.doubleValue)
        for attempt in 0..<10 {
            let expected = Swift.min(max, base << Int64(attempt))
            #expect(backoff.ceiling(attempt: attempt) == .milliseconds(expected), "attempt \(attempt)")
        }
    }

    @Test("the error vocabulary: the codes this SDK declares, and docs/CLIENT.md names exactly these")
    func errorCodes() throws {
        let spec = try Self.spec()
        var swiftOnly: [String] = []
        if case .object(let members)? = spec["errorCodes"]?["swiftOnly"] { swiftOnly = Array(members.keys) }
        let expected = (Self.strings(spec["errorCodes"]?["both"]) + swiftOnly).sorted()
        #expect(ClientRuntimeError.Code.all.map(\.description).sorted() == expected)
        // `all` lists every code the type declares.
        let source = try String(contentsOf: Self.root.appendingPathComponent("Sources/HybridSyncClient/ClientRuntimeError.swift"), encoding: .utf8)
        let declared = source.matches(of: /public static let (\w+) = Code\("(\w+)"\)/).map { String($0.output.2) }
        #expect(declared.sorted() == expected)
        let guide = try String(contentsOf: Self.root.appendingPathComponent("docs/CLIENT.md"), encoding: .utf8)
        let table = guide[guide.range(of: "| code | meaning, what to do |")!.lowerBound...].prefix { $0 != "#" }
        let documented = table.split(separator: "\n").filter { $0.hasPrefix("| `") }
            .flatMap { $0.split(separator: "|")[0].matches(of: /`(\w+)`/).map { String($0.output.1) } }
        #expect(documented.sorted() == expected)
    }

    @Test("a live presence list: pushes held during the read apply on top of its answer; later ones as they come")
    func presenceFollow() throws {
        let cases = try Self.spec()["presence"]?["cases"]?.arrayValue ?? []
        #expect(!cases.isEmpty, "the fixture has presence cases")
        for rule in cases {
            let name = rule["name"]?.stringValue ?? "?"
            let changes = { (key: String) in (rule[key]?.arrayValue ?? []).compactMap(PresenceChange.init(pushJSON:)) }
            var follow = PresenceFollow()
            var lists: [[PresentUser]] = []  // compared as the fixture writes them: [{"user", "info"}]
            follow.reading(1)
            for change in changes("heldDuringRead") { _ = follow.pushed(change) }
            if follow.answered(1, (rule["answer"]?.arrayValue ?? []).compactMap(PresenceMember.init)), let list = follow.list { lists.append(list) }
            for change in changes("after") where follow.pushed(change) { lists.append(follow.list ?? []) }
            let json = JSONValue.array(lists.map { .array($0.map { ["user": .string($0.user), "info": $0.info ?? .null] }) })
            #expect(json == rule["lists"], "\(name)")
        }
    }
}
