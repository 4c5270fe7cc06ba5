import HybridSyncProtocol
import Testing

@Suite("Client commands")
struct ClientCommandTests {
    private func decode(_ text: String) -> Result<ClientCommand, ClientCommand.DecodingError> {
        ClientCommand.decode(Array(text.utf8))
    }

    @Test("every command survives encode then decode")
    func roundTrip() throws {
        let channel = try ChannelName("moderation:bans")
        let commands = [
            ClientCommand(id: 1, .connect(token: "a.b.c", name: "ios")),
            ClientCommand(id: 2, .connect(token: "a.b.c", name: nil)),
            ClientCommand(id: 3, .subscribe(channel: channel)),
            ClientCommand(id: 4, .unsubscribe(channel: channel)),
            ClientCommand(id: UInt32.max, .ping),
        ]
        for command in commands {
            #expect(try ClientCommand.decode(command.encoded()).get() == command)
        }
    }

    @Test("PROTOCOL.md: null for an optional member counts as absent (since, name, a publish's key); data null is data")
    func nullMembersAreAbsent() throws {
        let channel = try ChannelName("chat:room")
        #expect(try decode(#"{"id":1,"op":"subscribe","channel":"chat:room","since":null}"#).get() == ClientCommand(id: 1, .subscribe(channel: channel)))
        #expect(try decode(#"{"id":2,"op":"history","channel":"chat:room","since":null}"#).get() == ClientCommand(id: 2, .history(channel: channel, since: nil)))
        #expect(try decode(#"{"id":3,"op":"connect","token":"a.b.c","name":null}"#).get() == ClientCommand(id: 3, .connect(token: "a.b.c", name: nil)))
        #expect(try decode(#"{"id":4,"op":"publish","channel":"chat:room","data":1,"key":null}"#).get() == ClientCommand(id: 4, .publish(channel: channel, data: 1)))
        #expect(try decode(#"{"id":5,"op":"publish","channel":"chat:room","data":null}"#).get() == ClientCommand(id: 5, .publish(channel: channel, data: .null)))
        guard case .failure(let failure) = decode(#"{"id":6,"op":"publish","channel":"chat:room","data":1,"key":"k"}"#) else {
            Issue.record("a key that is not null is still refused")
            return
        }
        #expect(failure.error.code == .badRequest)
    }

    @Test("the connect result carries the limits a client must respect, and reads back")
    func connectResultLimits() throws {
        let result = ConnectResult(client: "c1", version: "0.2.0", pingInterval: 25, pongTimeout: 10.5,
                                   limits: ConnectionLimits(maxMessageBytes: 65536, commandsPerSecond: 50, commandBurst: 100))
        #expect(String(decoding: result.json.jsonBytes, as: UTF8.self)
            == #"{"client":"c1","limits":{"commandBurst":100,"commandsPerSecond":50,"maxMessageBytes":65536},"ping":25,"pong":10.5,"version":"0.2.0"}"#)
        #expect(ConnectResult(result.json) == result)
        #expect(ConnectResult(["client": "c1", "version": "0.1.0", "ping": 25, "pong": 10])?.limits == nil, "an older server sends none")
    }

    @Test("malformed JSON is a bad request without id")
    func malformedJSON() {
        guard case .failure(let failure) = decode("{not json") else { Issue.record("accepted"); return }
        #expect(failure.id == nil)
        #expect(failure.error.code == .badRequest)
        #expect(failure.error.message.contains("malformed JSON"))
    }

    @Test("a missing or invalid id is a bad request", arguments: [#"{"op":"ping"}"#, #"{"id":0,"op":"ping"}"#, #"{"id":"1","op":"ping"}"#, #"{"id":-4,"op":"ping"}"#, "[1,2]"])
    func missingID(_ text: String) {
        guard case .failure(let failure) = decode(text) else { Issue.record("accepted \(text)"); return }
        #expect(failure.id == nil)
        #expect(failure.error.code == .badRequest)
    }

    @Test("an unknown op is answered with 104 and the command's id")
    func unknownOp() {
        guard case .failure(let failure) = decode(#"{"id":9,"op":"teleport"}"#) else { Issue.record("accepted"); return }
        #expect(failure.id == 9)
        #expect(failure.error.code == .unknownCommand)
        #expect(failure.error.message.contains("teleport"))
    }

    @Test("an invalid channel is answered with 102")
    func invalidChannel() {
        for text in [#"{"id":5,"op":"subscribe","channel":"nonamespace"}"#, #"{"id":5,"op":"subscribe","channel":"app:b c"}"#] {
            guard case .failure(let failure) = decode(text) else { Issue.record("accepted \(text)"); continue }
            #expect(failure.id == 5)
            #expect(failure.error.code == .invalidChannel)
        }
        guard case .failure(let missing) = decode(#"{"id":6,"op":"subscribe"}"#) else { Issue.record("accepted"); return }
        #expect(missing.error.code == .badRequest)
    }

    @Test("connect without a token is unauthorized")
    func connectWithoutToken() {
        guard case .failure(let failure) = decode(#"{"id":1,"op":"connect"}"#) else { Issue.record("accepted"); return }
        #expect(failure.error.code == .unauthorized)
    }
}

@Suite("WebSocket URLs")
struct WebSocketURLTests {
    @Test("ws:// and wss:// URLs are taken apart: default ports, IPv6, path and query; unusable ones are permanent errors")
    func parts() throws {
        let plain = try WebSocketURL("ws://127.0.0.1:8080")
        #expect(plain == WebSocketURL(secure: false, host: "127.0.0.1", port: 8080, path: "/"))
        #expect(plain.hostHeader == "127.0.0.1:8080" && plain.isIPAddress)
        let secure = try WebSocketURL("WSS://sync.example.com/app?x=1#frag")
        #expect(secure == WebSocketURL(secure: true, host: "sync.example.com", port: 443, path: "/app?x=1"))
        #expect(secure.hostHeader == "sync.example.com" && !secure.isIPAddress)
        #expect(secure.description == "wss://sync.example.com:443/app?x=1")
        let six = try WebSocketURL("ws://[::1]:9000/")
        #expect(six.host == "::1" && six.port == 9000 && six.hostHeader == "[::1]:9000" && six.isIPAddress)
        for bad in ["http://h/", "ws://", "ws://:80/", "ws://user@h/", "ws://h:0/", "ws://h:70000/", "ws://[::1/", "ws://h:x/"] {
            #expect(throws: ClientTransportError.self, "\(bad)") { try WebSocketURL(bad) }
            #expect((try? WebSocketURL(bad)) == nil)
        }
    }
}
