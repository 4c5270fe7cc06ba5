import Foundation
import HybridSyncCrypto
import HybridSyncProtocol
@testable import HybridSyncServer
import HybridSyncDaemonTesting
import Testing

/// Token verification matrix. RS256 and ES256 tokens are signed by the `openssl` command, an
/// implementation independent of the verifier under test.
@Suite("JWT verification")
struct JWTTests {
    /// An RSA-2048 and an EC P-256 key pair made with openssl, in a temporary folder.
    struct Keys {
        let directory: URL
        var rsaPrivate: String { directory.appendingPathComponent("rsa.pem").path }
        var rsaPublic: String { directory.appendingPathComponent("rsa.pub").path }
        var ecPrivate: String { directory.appendingPathComponent("ec.pem").path }
        var ecPublic: String { directory.appendingPathComponent("ec.pub").path }

        init() async throws {
            directory = try makeTemporaryDirectory("hybridsync-jwt")
            let rsaPrivate = directory.appendingPathComponent("rsa.pem").path
            let ecPrivate = directory.appendingPathComponent("ec.pem").path
            try await openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", rsaPrivate])
            try await openssl(["pkey", "-in", rsaPrivate, "-pubout", "-out", directory.appendingPathComponent("rsa.pub").path])
            try await openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", ecPrivate])
            try await openssl(["pkey", "-in", ecPrivate, "-pubout", "-out", directory.appendingPathComponent("ec.pub").path])
        }

        /// The public half of a new key made by `openssl genpkey` with `options` (for keys the
        /// server must refuse).
        func otherPublicKey(_ options: [String]) async throws -> String {
            let privateKey = directory.appendingPathComponent("other-\(UUID().uuidString).pem").path
            try await openssl(["genpkey"] + options + ["-out", privateKey])
            return String(decoding: try await openssl(["pkey", "-in", privateKey, "-pubout"]), as: UTF8.self)
        }

        func publicKey(_ path: String) throws -> PublicKey {
            try PublicKey(pem: String(contentsOfFile: path, encoding: .utf8))
        }

        /// A token signed by openssl: RS256 as is, ES256 converted from DER to JWS's R||S.
        func sign(alg: String, claims: JSONValue, key: String) async throws -> String {
            let input = Base64URL.encode(JSONValue.object(["alg": .string(alg), "typ": "JWT"]).jsonBytes) + "."
                + Base64URL.encode(claims.jsonBytes)
            let inputFile = directory.appendingPathComponent("input-\(UUID().uuidString)")
            try Data(input.utf8).write(to: inputFile)
            var signature = try await openssl(["dgst", "-sha256", "-sign", key, inputFile.path])
            if alg == "ES256" { signature = try Self.rawECDSA(fromDER: signature) }
            return input + "." + Base64URL.encode(signature)
        }

        /// SEQUENCE { INTEGER r, INTEGER s } → r||s, each left-padded to 32 bytes.
        static func rawECDSA(fromDER der: [UInt8]) throws -> [UInt8] {
            var index = 2
            if der[1] & 0x80 != 0 { index += Int(der[1] & 0x7F) }
            var out: [UInt8] = []
            for _ in 0..<2 {
                guard der[index] == 0x02 else { throw TestFailure("not a DER ECDSA signature") }
                let length = Int(der[index + 1])
                var integer = Array(der[(index + 2)..<(index + 2 + length)])
                while integer.count > 32, integer.first == 0 { integer.removeFirst() }
                out += [UInt8](repeating: 0, count: 32 - integer.count) + integer
                index += 2 + length
            }
            return out
        }

        /// Off the cooperative pool: RSA key generation takes a while.
        @discardableResult
        private func openssl(_ arguments: [String]) async throws -> [UInt8] {
            let run = try await runProcess("openssl", arguments)
            guard run.status == 0 else { throw TestFailure("openssl \(arguments.first ?? "") failed: \(run.errors)") }
            return run.outputBytes
        }
    }

    private func harness(keys: Keys?, hmac: String? = "unit-test-secret", audience: String? = nil, issuer: String? = nil,
                         leeway: Double = 0) throws -> Harness {
        let publicKeys = try keys.map { [try $0.publicKey($0.rsaPublic), try $0.publicKey($0.ecPublic)] } ?? []
        return Harness { configuration in
            configuration.auth = TokenPolicy(hmacSecret: hmac, publicKeys: publicKeys, audience: audience, issuer: issuer,
                                             leewaySeconds: leeway)
        }
    }

    /// The connect outcome: the reply's error code (nil = accepted) and the close code.
    private func connect(_ h: Harness, _ token: String) -> (error: ErrorCode?, close: CloseCode?) {
        let connection = h.server.openConnection()
        connection.send(#"{"id":1,"op":"connect","token":"\#(token)"}"#)
        return (connection.takeMessages().errorCode(id: 1), connection.closed?.code)
    }

    @Test("the set-up HMAC key gives RFC 4231's HMAC-SHA256 and the one-shot result, for any key length")
    func hmacKey() {
        // RFC 4231 test case 2: key "Jefe".
        let code = HMACSHA256Key(Array("Jefe".utf8)).authenticationCode(for: Array("what do ya want for nothing?".utf8))
        #expect(code.map { String(format: "%02x", $0) }.joined() == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        for length in [0, 1, 31, 64, 65, 200] {
            let key = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37) }
            let message = Array("header.payload \(length)".utf8)
            #expect(HMACSHA256Key(key).authenticationCode(for: message) == CryptoPrimitives.hmacSHA256(key: key, message: message))
        }
        // A policy whose secret is changed after init checks with the new one.
        var policy = TokenPolicy(hmacSecret: "first")
        let token = JSONWebToken.signHS256(claims: ["sub": "u1"], secret: Array("second".utf8))
        #expect(Authenticator(policy: policy, clock: ManualServerClock()).authenticate(token) != .success(Identity(userID: "u1", channels: [])))
        policy.hmacSecret = Array("second".utf8)
        #expect(Authenticator(policy: policy, clock: ManualServerClock()).authenticate(token) == .success(Identity(userID: "u1", channels: [])))
    }

    @Test("a compact token is exactly three parts; the signature covers the first two as sent")
    func compactShape() throws {
        let token = JSONWebToken.signHS256(claims: ["sub": "u1"], secret: Array("s".utf8))
        let parts = token.split(separator: ".").map(String.init)
        let parsed = try JSONWebToken(compact: token)
        #expect(parts.count == 3)
        #expect(parsed.signingInput == Array("\(parts[0]).\(parts[1])".utf8))
        #expect(parsed.signature == Base64URL.decode(parts[2]))
        #expect(parsed.claims["sub"]?.stringValue == "u1")
        for shape in ["\(parts[0]).\(parts[1])", token + ".", token + ".x", "..", "\(parts[0])..\(parts[2])", ""] {
            #expect(throws: JSONWebToken.Failure.self, "\(shape)") { try JSONWebToken(compact: shape) }
        }
        let error = #expect(throws: JSONWebToken.Failure.self) { try JSONWebToken(compact: "a.b") }
        #expect(error?.description == "token is not a compact JWS (header.payload.signature)")
    }

    @Test("RS256 and ES256 tokens signed by openssl are accepted; tampered ones are not")
    func asymmetricAccepted() async throws {
        let keys = try await Keys()
        let h = try harness(keys: keys, hmac: nil)
        let claims: JSONValue = ["sub": "7", "exp": .double(h.clock.now() + 60)]
        for (alg, key) in [("RS256", keys.rsaPrivate), ("ES256", keys.ecPrivate)] {
            let token = try await keys.sign(alg: alg, claims: claims, key: key)
            #expect(connect(h, token).error == nil, "\(alg)")
            let parts = token.split(separator: ".")
            let forged = "\(parts[0]).\(Base64URL.encode(JSONValue.object(["sub": "admin"]).jsonBytes)).\(parts[2])"
            #expect(connect(h, forged) == (.unauthorized, .invalidToken), "\(alg) with swapped claims")
        }
        // HS256 is not configured here, so an HMAC token is refused whatever its secret.
        #expect(connect(h, h.token("7")) == (.unauthorized, .invalidToken))
    }

    @Test("refused: alg none/None/NONE, HS256 keyed with the RSA public key, a key used for the wrong alg")
    func algorithmConfusion() async throws {
        let keys = try await Keys()
        let h = try harness(keys: keys)
        let claims: JSONValue = ["sub": "7"]
        for alg in ["none", "None", "NONE", "nOnE"] {
            let token = Base64URL.encode(JSONValue.object(["alg": .string(alg)]).jsonBytes) + "." + Base64URL.encode(claims.jsonBytes) + "."
            #expect(connect(h, token) == (.unauthorized, .invalidToken), "\(alg)")
        }
        for publicKeyFile in [keys.rsaPublic, keys.ecPublic] {
            let pem = try String(contentsOfFile: publicKeyFile, encoding: .utf8)
            let confused = JSONWebToken.signHS256(claims: claims, secret: Array(pem.utf8))
            #expect(connect(h, confused) == (.unauthorized, .invalidToken), "HS256 keyed with \(publicKeyFile)")
        }
        // An ES256 signature presented as RS256 and the reverse.
        let es = try await keys.sign(alg: "ES256", claims: claims, key: keys.ecPrivate).split(separator: ".")
        let relabeled = Base64URL.encode(JSONValue.object(["alg": "RS256"]).jsonBytes) + ".\(es[1]).\(es[2])"
        #expect(connect(h, relabeled) == (.unauthorized, .invalidToken))
        let hs512 = try await keys.sign(alg: "HS512", claims: claims, key: keys.rsaPrivate)
        #expect(connect(h, hs512) == (.unauthorized, .invalidToken))
    }

    @Test("aud and iss are checked when configured")
    func audienceAndIssuer() throws {
        let h = try harness(keys: nil, audience: "hybridsync", issuer: "https://auth.test")
        func token(_ claims: [String: JSONValue]) -> String { h.token("7", claims: claims) }
        #expect(connect(h, token(["aud": "hybridsync", "iss": "https://auth.test"])).error == nil)
        #expect(connect(h, token(["aud": ["other", "hybridsync"], "iss": "https://auth.test"])).error == nil)
        #expect(connect(h, token(["aud": "other", "iss": "https://auth.test"])) == (.unauthorized, .invalidToken))
        #expect(connect(h, token(["aud": ["other"], "iss": "https://auth.test"])) == (.unauthorized, .invalidToken))
        #expect(connect(h, token(["iss": "https://auth.test"])) == (.unauthorized, .invalidToken), "missing aud")
        #expect(connect(h, token(["aud": "hybridsync", "iss": "https://evil.test"])) == (.unauthorized, .invalidToken))
        #expect(connect(h, token(["aud": "hybridsync"])) == (.unauthorized, .invalidToken), "missing iss")
    }

    @Test("exp and nbf with leeway: refused beyond it, accepted at the boundary")
    func timeClaims() throws {
        let leeway = 30.0
        let h = try harness(keys: nil, leeway: leeway)
        let now = h.clock.now()
        func token(_ claims: [String: JSONValue]) -> String {
            JSONWebToken.signHS256(claims: .object(claims.merging(["sub": "7"]) { $1 }), secret: Array(h.secret.utf8))
        }
        #expect(connect(h, token(["exp": .double(now - leeway)])).error == nil, "exp exactly at the leeway boundary")
        #expect(connect(h, token(["exp": .double(now - leeway - 1)])) == (.tokenExpired, .tokenExpired))
        #expect(connect(h, token(["nbf": .double(now + leeway)])).error == nil, "nbf exactly at the leeway boundary")
        #expect(connect(h, token(["nbf": .double(now + leeway + 1)])) == (.unauthorized, .invalidToken))
        #expect(connect(h, token(["exp": "soon"])) == (.unauthorized, .invalidToken))
    }

    @Test("a connection whose token expires is closed with a reconnect code")
    func expiryWhileConnected() throws {
        let h = try harness(keys: nil, leeway: 5)
        let connection = h.server.openConnection()
        connection.send(#"{"id":1,"op":"connect","token":"\#(h.token("7", expiresIn: 60))"}"#)
        _ = connection.takeMessages()
        for step in 1...4 {  // 64 s in steps, answering pings so liveness is not what closes it
            h.clock.advance(by: 16)
            h.server.tick()
            connection.send(#"{"id":\#(step + 1),"op":"ping"}"#)
        }
        #expect(connection.closed == nil, "still inside exp + leeway")
        h.clock.advance(by: 2)
        h.server.tick()
        #expect(connection.closed?.code == .tokenExpired)
        #expect(connection.closed?.code.shouldReconnect == true)
    }

    @Test("keys load only as RSA >= 2048 or EC P-256, and each refusal says why")
    func keyLoading() async throws {
        #expect(throws: PublicKey.LoadError.self) { try PublicKey(pem: "not a key") }
        let keys = try await Keys()
        #expect(try keys.publicKey(keys.rsaPublic).kind == .rsa)
        #expect(try keys.publicKey(keys.ecPublic).kind == .ecP256)
        let refusals = [
            (["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024"], "at least 2048 bits (this one has 1024)"),
            (["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"], "only RSA (RS256) and EC P-256 (ES256)"),
            (["-algorithm", "ED25519"], "only RSA (RS256) and EC P-256 (ES256)"),
        ]
        for (options, message) in refusals {
            let pem = try await keys.otherPublicKey(options)
            let error = #expect(throws: PublicKey.LoadError.self, "\(options)") { try PublicKey(pem: pem) }
            #expect(error?.description.contains(message) == true, "\(options): \(error?.description ?? "")")
        }
    }
}
