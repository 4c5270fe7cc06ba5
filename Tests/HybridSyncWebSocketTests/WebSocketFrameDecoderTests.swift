import HybridSyncHTTP
import HybridSyncWebSocket
import Testing

/// A masked client frame, as a browser would send it.
func clientFrame(_ opcode: UInt8, _ payload: [UInt8], fin: Bool = true, masked: Bool = true, rsv: UInt8 = 0) -> [UInt8] {
    var bytes: [UInt8] = [(fin ? 0x80 : 0) | rsv << 4 | opcode]
    let maskBit: UInt8 = masked ? 0x80 : 0
    if payload.count < 126 {
        bytes.append(maskBit | UInt8(payload.count))
    } else if payload.count <= 0xFFFF {
        bytes += [maskBit | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
    } else {
        bytes.append(maskBit | 127)
        for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: UInt64(payload.count) >> UInt64(56 - 8 * i))) }
    }
    guard masked else { return bytes + payload }
    let mask: [UInt8] = [0x37, 0xFA, 0x21, 0x3D]
    return bytes + mask + payload.enumerated().map { $0.element ^ mask[$0.offset % 4] }
}

@Suite("WebSocket frame decoder (server side)")
struct WebSocketFrameDecoderTests {
    private func events(_ bytes: [UInt8], max: Int = 1000) -> ([WebSocketEvent], WebSocketProtocolError?) {
        var decoder = WebSocketFrameDecoder(maxMessageBytes: max)
        decoder.append(bytes)
        var events: [WebSocketEvent] = []
        do {
            while let event = try decoder.next() { events.append(event) }
            return (events, nil)
        } catch {
            return (events, error)
        }
    }

    @Test("masked text, fragmented text with a ping in between, binary, close")
    func wellFormed() {
        let bytes = clientFrame(1, Array("hello".utf8))
            + clientFrame(1, Array("he".utf8), fin: false) + clientFrame(9, [1, 2]) + clientFrame(0, Array("llo".utf8))
            + clientFrame(2, [0, 255]) + clientFrame(8, [0x03, 0xE8] + Array("bye".utf8))
        let (events, error) = events(bytes)
        #expect(error == nil)
        #expect(events == [.text(Array("hello".utf8)), .ping([1, 2]), .text(Array("hello".utf8)), .binary([0, 255]), .close(code: 1000, reason: "bye")])
    }

    @Test("frames split at every byte still decode")
    func byteByByte() throws {
        let bytes = clientFrame(1, Array(repeating: UInt8(ascii: "a"), count: 300))
        var decoder = WebSocketFrameDecoder(maxMessageBytes: 1000)
        var got: WebSocketEvent?
        for byte in bytes {
            decoder.append([byte])
            if let event = try decoder.next() { got = event }
        }
        #expect(got == .text(Array(repeating: UInt8(ascii: "a"), count: 300)))
    }

    @Test("RFC 6455 violations close with 1002")
    func violations() {
        #expect(events(clientFrame(1, Array("x".utf8), masked: false)).1?.code == 1002, "unmasked client frame")
        #expect(events(clientFrame(1, Array("x".utf8), rsv: 4)).1?.code == 1002, "RSV1 without an extension")
        #expect(events(clientFrame(3, [])).1?.code == 1002, "reserved opcode")
        #expect(events(clientFrame(9, [], fin: false)).1?.code == 1002, "fragmented ping")
        #expect(events(clientFrame(9, Array(repeating: 0, count: 126))).1?.code == 1002, "ping over 125 bytes")
        #expect(events(clientFrame(0, Array("x".utf8))).1?.code == 1002, "continuation with nothing to continue")
        #expect(events(clientFrame(1, [0x61], fin: false) + clientFrame(1, [0x62])).1?.code == 1002, "new message inside a fragmented one")
        #expect(events(clientFrame(8, [0x03])).1?.code == 1002, "1-byte close payload")
        #expect(events(clientFrame(8, [0x03, 0xED])).1?.code == 1002, "close code 1005 may not be sent")
        #expect(events(clientFrame(8, [0x03, 0xE8, 0xFF])).1?.code == 1007, "close reason not UTF-8")
    }

    @Test("invalid UTF-8 fails with 1007 at the first bad fragment, before the message ends")
    func invalidUTF8() {
        let (events, error) = events(clientFrame(1, [0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xCF, 0x83, 0xCE, 0xBC, 0xCE, 0xB5, 0xED, 0xA0, 0x80], fin: false))
        #expect(events.isEmpty)
        #expect(error?.code == 1007)
        #expect(self.events(clientFrame(1, [0xC3])).1?.code == 1007, "ends inside a character")
        #expect(self.events(clientFrame(1, [0xC3], fin: false) + clientFrame(0, [0xA9])).0 == [.text([0xC3, 0xA9])], "a character split over frames is fine")
    }

    @Test("a message over the limit is refused with 1009 from its declared length")
    func tooBig() {
        var decoder = WebSocketFrameDecoder(maxMessageBytes: 100)
        decoder.append(Array(clientFrame(1, Array(repeating: 0x61, count: 70_000)).prefix(14)))
        #expect(throws: WebSocketProtocolError.self) { try decoder.next() }
        #expect(events(clientFrame(1, Array(repeating: 0x61, count: 60), fin: false) + clientFrame(0, Array(repeating: 0x61, count: 60)), max: 100).1?.code == 1009)
    }

    @Test("server frame headers use the shortest length form")
    func serverHeaders() {
        #expect(WebSocketFrameHeader.frame(.text, Array("hi".utf8)) == [0x81, 2, 0x68, 0x69])
        #expect(WebSocketFrameHeader.frame(.text, Array(repeating: 0, count: 126)).prefix(4) == [0x81, 126, 0, 126])
        #expect(WebSocketFrameHeader.frame(.binary, Array(repeating: 0, count: 70_000)).prefix(10) == [0x82, 127, 0, 0, 0, 0, 0, 0x01, 0x11, 0x70])
        #expect(WebSocketFrameHeader.closePayload(code: 1000, reason: String(repeating: "é", count: 100)).count <= 125)
    }
}

@Suite("WebSocket handshake")
struct WebSocketHandshakeTests {
    private func head(_ headers: [(String, String)], method: String = "GET") -> HTTPRequest {
        HTTPRequest(method: method, path: "/", headers: headers.map { ($0.0.lowercased(), $0.1) })
    }

    private let good: [(String, String)] = [
        ("Host", "a"), ("Upgrade", "websocket"), ("Connection", "keep-alive, Upgrade"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="), ("Sec-WebSocket-Version", "13"), ("Sec-WebSocket-Protocol", "chat, hybridsync.v1"),
    ]

    @Test("RFC 6455's example key gives its example accept value")
    func acceptValue() throws {
        #expect(WebSocketHandshake.acceptValue(forKey: "dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        let response = String(decoding: try WebSocketHandshake.accept(head(good), subprotocol: "hybridsync.v1"), as: UTF8.self)
        #expect(response.hasPrefix("HTTP/1.1 101 Switching Protocols\r\n"))
        #expect(response.contains("Sec-WebSocket-Protocol: hybridsync.v1\r\n"))
    }

    @Test("h2c, a missing subprotocol, a bad key or version are refused with an HTTP status")
    func refusals() {
        func status(_ headers: [(String, String)], method: String = "GET") -> Int? {
            do { _ = try WebSocketHandshake.accept(head(headers, method: method), subprotocol: "hybridsync.v1"); return nil } catch { return error.status }
        }
        #expect(status(good.map { $0.0 == "Upgrade" ? ($0.0, "h2c") : $0 }) == 400)
        #expect(status(good.filter { $0.0 != "Sec-WebSocket-Protocol" }) == 400)
        #expect(status(good.map { $0.0 == "Sec-WebSocket-Key" ? ($0.0, "c2hvcnQ=") : $0 }) == 400)
        #expect(status(good.map { $0.0 == "Sec-WebSocket-Version" ? ($0.0, "8") : $0 }) == 426)
        #expect(status(good, method: "POST") == 400)
        #expect(WebSocketHandshake.isUpgradeRequest(head([("Upgrade", "h2c"), ("Connection", "Upgrade, HTTP2-Settings")])))
    }

    @Test("Upgrade and Connection tokens match without ASCII case; the key must be canonical padded base64 of 16 bytes")
    func tokensAndKey() {
        func status(_ change: (String, String)) -> Int? {
            let headers = good.map { $0.0 == change.0 ? change : $0 }
            do { _ = try WebSocketHandshake.accept(head(headers), subprotocol: "hybridsync.v1"); return nil } catch { return error.status }
        }
        #expect(status(("Upgrade", "WebSocket")) == nil)
        #expect(status(("Connection", "UPGRADE")) == nil)
        #expect(status(("Connection", "keep-alive,upgrade")) == nil)
        #expect(status(("Upgrade", "web\u{212A}socket")) == 400, "no Unicode case mapping (KELVIN SIGN is not k)")
        #expect(status(("Upgrade", "websockets")) == 400)
        #expect(status(("Connection", "keep-alive")) == 400)
        #expect(status(("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAAAA==")) == nil)
        for key in ["AAAAAAAAAAAAAAAAAAAAAA=", "AAAAAAAAAAAAAAAAAAAAA===", "AAAAAAAAAAAAAAAAAAAA=AAA", "AAAAAAAAAAAAAAAAAAAAAA-_", "AAAAAAAAAAAAAAAAAAAAAAAA"] {
            #expect(status(("Sec-WebSocket-Key", key)) == 400, "\(key)")
        }
    }

    @Test("UTF-8 validator: overlongs, surrogates and values past U+10FFFF are invalid")
    func utf8() {
        #expect(UTF8Validator.isValid(Array("κόσμε €𝄞".utf8)))
        #expect(!UTF8Validator.isValid([0xC0, 0xAF]))
        #expect(!UTF8Validator.isValid([0xE0, 0x80, 0xAF]))
        #expect(!UTF8Validator.isValid([0xED, 0xA0, 0x80]))
        #expect(!UTF8Validator.isValid([0xF4, 0x90, 0x80, 0x80]))
        #expect(!UTF8Validator.isValid([0xFF]))
    }
}

@Suite("WebSocket frame decoder, large frames")
struct WebSocketLargeFrameTests {
    @Test("frames of 64 KiB and more, fed in socket-sized chunks, decode back to back", arguments: [125, 126, 65535, 65536, 1 << 20])
    func chunked(size: Int) throws {
        let payload = (0..<size).map { UInt8(ascii: "a") + UInt8($0 % 26) }
        let bytes = clientFrame(1, payload) + clientFrame(1, payload)
        var decoder = WebSocketFrameDecoder(maxMessageBytes: 2 << 20)
        var got: [WebSocketEvent] = []
        var offset = 0
        while offset < bytes.count {
            let end = min(bytes.count, offset + 4093)
            decoder.append(bytes[offset..<end])
            offset = end
            while let event = try decoder.next() { got.append(event) }
        }
        #expect(got == [.text(payload), .text(payload)])
    }
}
