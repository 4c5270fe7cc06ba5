import HybridSyncHTTP
import Testing

@Suite("HTTP/1.1 request parser")
struct HTTPRequestParserTests {
    private func parse(_ text: String, maxBody: Int = 1024) throws(HTTPError) -> [HTTPRequestParser.Step] {
        var parser = HTTPRequestParser(limits: .init(maxHeadBytes: 512, maxBodyBytes: maxBody))
        parser.append(Array(text.utf8))
        var steps: [HTTPRequestParser.Step] = []
        while true {
            let step = try parser.next()
            steps.append(step)
            if case .needMore = step { return steps }
            if case .complete = step { return steps }
        }
    }

    private func status(_ text: String, maxBody: Int = 1024) -> Int? {
        do {
            _ = try parse(text, maxBody: maxBody)
            return nil
        } catch {
            return error.status
        }
    }

    @Test("a POST with a body is one complete request; a pipelined one stays buffered")
    func pipelined() throws {
        var parser = HTTPRequestParser(limits: .init())
        parser.append(Array("POST /api/publish?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\nHost: a\r\n\r\n".utf8))
        guard case .complete(let head) = try parser.next() else { Issue.record("no request"); return }
        #expect(head.method == "POST")
        #expect(head.path == "/api/publish")
        #expect(head.query == "x=1")
        #expect(head.body == Array("abc".utf8))
        #expect(parser.bufferedCount == 27)
        #expect(parser.takeBuffered().count == 27)
        #expect(parser.isIdle)
    }

    @Test("the head is reported once before a body that has not arrived")
    func headFirst() throws {
        var parser = HTTPRequestParser(limits: .init())
        parser.append(Array("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\nab".utf8))
        guard case .head(let head, let length) = try parser.next() else { Issue.record("no head"); return }
        #expect(length == 4)
        #expect(head.tokens("expect") == ["100-continue"])
        #expect(try parser.next() == .needMore)
        parser.append(Array("cd".utf8))
        var complete = head
        complete.body = Array("abcd".utf8)
        #expect(try parser.next() == .complete(complete))
    }

    @Test("header names are lower-cased, values trimmed of spaces and tabs, list tokens split and trimmed")
    func fieldsAndTokens() throws {
        let text = "GET / HTTP/1.1\r\nHost: a\r\nX-Mixed-CASE:\t value \t\r\nConnection: keep-alive, ,Upgrade ,\r\n"
            + "Sec-WebSocket-Protocol: hybridsync.v1,\tother\r\nX-Note: caf\u{e9}\r\n\r\n"
        guard case .complete(let head) = try parse(text).last else { Issue.record("no request"); return }
        #expect(head.headers.map(\.name) == ["host", "x-mixed-case", "connection", "sec-websocket-protocol", "x-note"])
        #expect(head.header("X-MIXED-case") == "value")
        #expect(head.tokens("Connection") == ["keep-alive", "Upgrade"])
        #expect(head.tokens("sec-websocket-protocol") == ["hybridsync.v1", "other"])
        #expect(head.header("x-note") == "café")
        #expect(head.tokens("absent").isEmpty)
    }

    @Test("bytes dripped one at a time give the same request")
    func drip() throws {
        var parser = HTTPRequestParser(limits: .init())
        let text = Array("GET /health HTTP/1.1\r\nHost: a\r\n\r\n".utf8)
        for (index, byte) in text.enumerated() {
            parser.append([byte])
            let step = try parser.next()
            if index < text.count - 1 { #expect(step == .needMore) } else { #expect(step == .complete(HTTPRequest(method: "GET", path: "/health", headers: [("host", "a")]))) }
        }
    }

    @Test("ambiguous or malformed framing is refused with 400, never guessed")
    func ambiguous() {
        #expect(status("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc") == 400)
        #expect(status("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\nabc") == 400)
        #expect(status("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n") == 400)
        #expect(status("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\nabc") == 400)
        #expect(status("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n") == 400)
        #expect(status("GET / HTTP/1.1\nHost: a\n\n\r\n\r\n") == 400)
        #expect(status("GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n") == 400)
        #expect(status("GET / HTTP/1.1\r\nHost : a\r\n\r\n") == 400)
        #expect(status("GET / HTTP/1.1\r\nNoColon\r\n\r\n") == 400)
        #expect(status("GET  / HTTP/1.1\r\nHost: a\r\n\r\n") == 400)
        #expect(status("GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n") == 400)
        #expect(status("GET / HTTP/1.1\r\n\r\n") == 400, "Host is required on HTTP/1.1")
        #expect(status("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n") == 400)
        #expect(status("GET / HTTP/1.1\r\nHost: a\r\nX: a\u{01}b\r\n\r\n") == 400)
    }

    @Test("limits: 413 before the body is read, 431 for big heads, 501 for chunked, 505 for HTTP/2")
    func limits() {
        #expect(status("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2000\r\n\r\n", maxBody: 1024) == 413)
        #expect(status("GET / HTTP/1.1\r\nHost: a\r\nX: \(String(repeating: "a", count: 600))\r\n\r\n") == 431)
        #expect(status("GET / HTTP/1.1\r\nHost: a\r\nX: \(String(repeating: "a", count: 600))") == 431, "refused before the head ends")
        #expect(status("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n") == 501)
        #expect(status("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") == 505, "the HTTP/2 preface")
        #expect(status("GET / HTTP/2.0\r\nHost: a\r\n\r\n") == 505)
    }

    @Test("Content-Length: 0 completes at the head; keep-alive follows the version and Connection")
    func keepAlive() throws {
        let steps = try parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        guard case .complete(let head) = steps.last else { Issue.record("incomplete"); return }
        #expect(head.body.isEmpty)
        #expect(!head.keepAlive)
        guard case .complete(let old) = try parse("GET / HTTP/1.0\r\n\r\n").last else { Issue.record("incomplete"); return }
        #expect(!old.keepAlive)
        guard case .complete(let new) = try parse("GET / HTTP/1.1\r\nHost: a\r\n\r\n").last else { Issue.record("incomplete"); return }
        #expect(new.keepAlive)
    }
}
