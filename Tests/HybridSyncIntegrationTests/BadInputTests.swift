import Foundation
import HybridSyncCrypto
import HybridSyncProtocol
import HybridSyncDaemonTesting
import Testing

/// Bad input over the real wire gets a clear answer, and the daemon keeps serving a bystander.
@Suite("Bad input (real daemon)")
struct BadInputTests {
    /// A healthy subscriber that must keep receiving while others misbehave.
    private func bystander(_ daemon: TestDaemon) async throws -> RawClient {
        let client = try await RawClient.open(daemon.webSocketURL)
        #expect(try await client.connect(token: daemon.tokens.token(user: "bystander")).isSuccess)
        client.send(#"{"id":2,"op":"subscribe","channel":"app:health"}"#)
        #expect(try await client.next().isSuccess)
        return client
    }

    private func expectBystanderServed(_ daemon: TestDaemon, _ client: RawClient, _ n: Int64) async throws {
        try await daemon.api.publish(channel: "app:health", data: .int(n))
        guard case .message(.push(.publication(let publication))) = try await client.next() else {
            Issue.record("bystander got no publication")
            return
        }
        #expect(publication.data == .int(n))
    }

    @Test("token failures: missing, invalid, expired, alg none")
    func tokenFailures() async throws {
        let daemon = try await TestDaemon.start()
        let bystander = try await bystander(daemon)
        let secret = Array(daemon.tokens.secret.utf8)
        let now = Double(Int(Date.now.timeIntervalSince1970))
        let algNone = Base64URL.encode(Array(#"{"alg":"none","typ":"JWT"}"#.utf8)) + "."
            + Base64URL.encode(Array(#"{"sub":"42"}"#.utf8)) + "."
        let cases: [(String, String, ErrorCode, CloseCode)] = [
            ("missing", #"{"id":1,"op":"connect"}"#, .unauthorized, .invalidToken),
            ("invalid", #"{"id":1,"op":"connect","token":"a.b.c"}"#, .unauthorized, .invalidToken),
            ("wrong key", #"{"id":1,"op":"connect","token":"\#(JSONWebToken.signHS256(claims: ["sub": "1"], secret: Array("x".utf8)))"}"#,
             .unauthorized, .invalidToken),
            ("expired", #"{"id":1,"op":"connect","token":"\#(JSONWebToken.signHS256(claims: ["sub": "1", "exp": .int(Int64(now - 60))], secret: secret))"}"#,
             .tokenExpired, .tokenExpired),
            ("alg none", #"{"id":1,"op":"connect","token":"\#(algNone)"}"#, .unauthorized, .invalidToken),
        ]
        for (index, (name, command, error, close)) in cases.enumerated() {
            let client = try await RawClient.open(daemon.webSocketURL)
            client.send(command)
            #expect(try await client.next().errorCode == error, "\(name)")
            #expect(try await client.closeCode() == close, "\(name)")
            try await expectBystanderServed(daemon, bystander, Int64(index))
        }
        try await daemon.stop()
    }

    @Test("protocol errors: malformed JSON, unknown command, subscribe before connect")
    func protocolErrors() async throws {
        let daemon = try await TestDaemon.start()
        let bystander = try await bystander(daemon)
        let client = try await RawClient.open(daemon.webSocketURL)

        client.send(#"{"id":1,"op":"subscribe","channel":"moderation:bans"}"#)
        #expect(try await client.next().errorCode == .notConnected)
        client.send("{definitely not json")
        #expect(try await client.next().errorCode == .badRequest)
        client.send(#"{"id":2,"op":"teleport"}"#)
        #expect(try await client.next().errorCode == .unknownCommand)
        // The same connection still works afterwards.
        #expect(try await client.connect(token: daemon.tokens.token(user: "9")).isSuccess)
        try await expectBystanderServed(daemon, bystander, 1)
        try await daemon.stop()
    }

    @Test("an oversize message closes that socket with 1009; others are unaffected")
    func oversizeMessage() async throws {
        let daemon = try await TestDaemon.start(arguments: ["--limits-max-message-bytes", "4096"])
        let bystander = try await bystander(daemon)
        let client = try await RawClient.open(daemon.webSocketURL)
        client.send(#"{"id":1,"op":"ping","pad":""# + String(repeating: "x", count: 10_000) + #""}"#)
        #expect(try await client.closeCode() == .messageTooBig)
        try await expectBystanderServed(daemon, bystander, 1)
        try await daemon.stop()
    }

    @Test("the API answers 401 for a wrong key and 413 for an oversize body")
    func apiErrors() async throws {
        let daemon = try await TestDaemon.start(arguments: ["--api-max-body-bytes", "2048"])
        let body = Array(#"{"channel":"app:b","data":1}"#.utf8)
        #expect(try await daemon.api.send(method: "POST", path: "/api/publish", body: body, authorization: "Bearer wrong").status == 401)
        #expect(try await daemon.api.send(method: "POST", path: "/api/publish", body: body, authorization: "").status == 401)
        let big = Array(#"{"channel":"app:b","data":""#.utf8) + Array(repeating: UInt8(ascii: "x"), count: 5000) + Array(#""}"#.utf8)
        let tooLarge = try await daemon.api.send(method: "POST", path: "/api/publish", body: big)
        #expect(tooLarge.status == 413)
        #expect(tooLarge.json?["error"]?["code"]?.stringValue == "payload_too_large")
        // The API keeps serving after both.
        #expect(try await daemon.api.send(method: "POST", path: "/api/publish", body: body).status == 200)
        try await daemon.stop()
    }
}
