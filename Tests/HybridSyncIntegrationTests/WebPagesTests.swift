import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import HybridSyncClient
import HybridSyncDaemonTesting
import Testing

/// One plain HTTP request (no cache, no cookies); header names lower-cased.
func httpRequest(_ url: String, method: String = "GET", headers: [String: String] = [:]) async throws
    -> (status: Int, headers: [String: String], body: Data)
{
    var request = URLRequest(url: URL(string: url)!, cachePolicy: .reloadIgnoringLocalAndRemoteCacheData, timeoutInterval: 10)
    request.httpMethod = method
    for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
    let session = URLSession(configuration: .ephemeral)
    defer { session.finishTasksAndInvalidate() }
    let (body, response) = try await session.data(for: request)
    let http = response as! HTTPURLResponse
    var fields: [String: String] = [:]
    for (name, value) in http.allHeaderFields { fields[String(describing: name).lowercased()] = String(describing: value) }
    return (http.statusCode, fields, body)
}

func httpBase(_ webSocketURL: String) -> String {
    webSocketURL.replacingOccurrences(of: "ws://", with: "http://").trimmingCharacters(in: ["/"])
}

/// The browser files the daemon serves (docs/BROWSER.md), checked over plain HTTP.
@Suite("Web pages: the browser module, the demo, the console (real daemon)", .serialized)
struct WebPagesTests {
    static let moduleSource = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("clients/js/hybridsync.js")

    @Test("/client/hybridsync.js: the file of clients/js, a JavaScript type, ETag and 304, HEAD, CORS for any origin by default")
    func module() async throws {
        let daemon = try await TestDaemon.start(engine: .memory)
        let url = "\(httpBase(daemon.webSocketURL))/client/hybridsync.js"
        let full = try await httpRequest(url, headers: ["Origin": "https://shop.example", "Accept-Encoding": "identity"])
        #expect(full.status == 200)
        #expect(full.body == (try Data(contentsOf: Self.moduleSource)), "the embedded file is the one in clients/js")
        #expect(full.headers["content-type"] == "text/javascript; charset=utf-8")
        #expect(full.headers["access-control-allow-origin"] == "*")
        #expect(full.headers["x-content-type-options"] == "nosniff")
        #expect(full.headers["cache-control"] == "no-cache")
        let etag = try #require(full.headers["etag"])
        #expect(etag.hasPrefix("\"") && etag.count > 4)

        let revalidated = try await httpRequest(url, headers: ["If-None-Match": etag, "Accept-Encoding": "identity"])
        #expect(revalidated.status == 304)
        #expect(revalidated.body.isEmpty)
        let changed = try await httpRequest(url, headers: ["If-None-Match": "\"other\""])
        #expect(changed.status == 200)

        let head = try await httpRequest(url, method: "HEAD", headers: ["Accept-Encoding": "identity"])
        #expect(head.status == 200)
        #expect(head.body.isEmpty)
        #expect(head.headers["content-length"] == String(full.body.count))
        #expect(full.headers["vary"] == "Accept-Encoding" && full.headers["content-encoding"] == nil)

        #expect(try await httpRequest(url, method: "POST").status == 405)
        #expect(try await httpRequest("\(httpBase(daemon.webSocketURL))/demo/").status == 426, "no demo unless server.demo")
        #expect(try await httpRequest("\(httpBase(daemon.webSocketURL))/").status == 426)
        try await daemon.stop()
    }

    @Test("gzip for clients that accept it: the same file (checked by Python's gzip), its own ETag and 304; identity otherwise")
    func moduleCompressed() async throws {
        let daemon = try await TestDaemon.start(engine: .memory)
        let url = "\(httpBase(daemon.webSocketURL))/client/hybridsync.js"
        // Python's urllib does not decompress: it sees the bytes on the wire.
        let script = """
            import gzip, hashlib, sys, urllib.request
            def get(encoding, etag=None):
                headers = {"Accept-Encoding": encoding}
                if etag: headers["If-None-Match"] = etag
                try:
                    with urllib.request.urlopen(urllib.request.Request(sys.argv[1], headers=headers)) as r:
                        return r.status, r.headers, r.read()
                except urllib.error.HTTPError as e:
                    return e.code, e.headers, b""
            status, headers, body = get("gzip, deflate, br")
            print(status, headers["Content-Encoding"], headers["Vary"], len(body), hashlib.sha256(gzip.decompress(body)).hexdigest())
            print(get("gzip", headers["ETag"])[0], get("identity", headers["ETag"])[0], get("gzip;q=0, identity")[1]["Content-Encoding"])
            """
        let run = try await runProcess("python3", ["-c", script, url])
        let lines = run.output.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        let source = try Data(contentsOf: Self.moduleSource)
        let digest = try await runProcess("sha256sum", [Self.moduleSource.path]).output.prefix(64)
        #expect(lines.count == 2, "\(run.output) \(run.errors)")
        #expect(lines.first?.prefix(3) == ["200", "gzip", "Accept-Encoding"], "\(run.output)")
        let compressed = Int(lines.first?[3] ?? "") ?? 0
        #expect(compressed > 0 && compressed * 3 < source.count, "gzip is under a third of \(source.count) bytes: \(compressed)")
        #expect(lines.first?[4] == String(digest), "the decompressed body is the file")
        #expect(lines.last == ["304", "200", "None"], "a 304 for the gzip tag, the identity file for another tag, none when gzip is refused")
        print("/client/hybridsync.js: \(source.count) bytes, \(compressed) gzipped on the wire")
        try await daemon.stop()
    }

    @Test("with server.allowedOrigins, CORS names an allowed origin and no other")
    func moduleCORS() async throws {
        let daemon = try await TestDaemon.start(arguments: ["--server-allowed-origins", "https://shop.example"], engine: .memory)
        let url = "\(httpBase(daemon.webSocketURL))/client/hybridsync.js"
        let allowed = try await httpRequest(url, headers: ["Origin": "https://shop.example"])
        #expect(allowed.headers["access-control-allow-origin"] == "https://shop.example")
        #expect(allowed.headers["vary"] == "Accept-Encoding, Origin")
        let other = try await httpRequest(url, headers: ["Origin": "https://evil.example"])
        #expect(other.status == 200)
        #expect(other.headers["access-control-allow-origin"] == nil, "the browser refuses the module to that origin")
        try await daemon.stop()
    }

    @Test("server.demo: the page, and a token for the user asked that the daemon accepts; refused off loopback")
    func demo() async throws {
        let daemon = try await TestDaemon.start(arguments: ["--server-demo", "true"], engine: .memory)
        let base = httpBase(daemon.webSocketURL)
        let page = try await httpRequest("\(base)/demo/")
        #expect(page.status == 200)
        #expect(page.headers["content-type"] == "text/html; charset=utf-8")
        #expect(page.headers["content-security-policy"]?.contains("default-src 'self'") == true)
        #expect(String(decoding: page.body, as: UTF8.self).contains("/demo/demo.js"))

        let minted = try await httpRequest("\(base)/demo/token?user=demo-7")
        let token = try #require(try JSONValue.parse(Array(minted.body))["token"]?.stringValue)
        let client = try await RawClient.open(daemon.webSocketURL)
        #expect(try await client.connect(token: token).isSuccess, "the daemon accepts the demo's token")
        #expect(try await httpRequest("\(base)/demo/token?user=a%20b").status == 400)
        try await daemon.stop()

        let check = try await runBuiltExecutable("hybridsyncd", [
            "--engine-kind", "memory", "--api-key", "k", "--auth-token-secret", "s", "--server-demo", "true", "--server-host", "0.0.0.0",
            "--check-config",
        ])
        #expect(check.status == 1)
        #expect((check.output + check.errors).contains("server.demo mints tokens for anyone"), "\(check.output)\(check.errors)")
    }

    @Test("the console on the API listener: a strict Content-Security-Policy, no framing; the API still needs the key")
    func console() async throws {
        let daemon = try await TestDaemon.start(engine: .memory)
        let page = try await httpRequest("\(daemon.apiURL)/console/")
        #expect(page.status == 200)
        let policy = try #require(page.headers["content-security-policy"])
        for directive in ["default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'", "form-action 'none'"] {
            #expect(policy.contains(directive), "\(policy)")
        }
        #expect(!policy.contains("unsafe-inline"))
        #expect(page.headers["x-frame-options"] == "DENY")
        let html = String(decoding: page.body, as: UTF8.self)
        #expect(!html.contains("<script>") && !html.contains("style="), "no inline code or style: the policy would block it")
        #expect(try await httpRequest("\(daemon.apiURL)/console/console.js").status == 200)
        #expect(try await httpRequest("\(daemon.apiURL)/api/bans").status == 401)
        #expect(try await httpRequest("\(httpBase(daemon.webSocketURL))/console/").status == 426, "not on the public listener")
        try await daemon.stop()

        let off = try await TestDaemon.start(arguments: ["--api-console", "false"], engine: .memory)
        #expect(try await httpRequest("\(off.apiURL)/console/").status == 404)
        try await off.stop()
    }
}
