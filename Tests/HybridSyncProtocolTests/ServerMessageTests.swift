import HybridSyncProtocol
import Testing

@Suite("Server messages and frames")
struct ServerMessageTests {
    @Test("a publication encoded once decodes to the same publication")
    func publicationRoundTrip() throws {
        let data = try JSONValue.parse(#"{"user":"42","banned":true,"note":"line\nbreak \"quoted\"","n":9007199254740993}"#)
        let channel = try ChannelName("moderation:bans")
        let bytes = ServerMessage.encodePublication(channel: channel, offset: 7, data: data.jsonBytes)
        let decoded = try ServerMessage.decode(bytes)
        #expect(decoded == .push(.publication(Publication(channel: channel, offset: 7, data: data))))
        #expect(!bytes.contains(UInt8(ascii: "\n")), "a message must stay on one line")
    }

    @Test("a JSON value prints as JSON text (README's print(ban.data)), and history results round-trip")
    func jsonDescriptionAndHistory() throws {
        let ban: JSONValue = ["user": "42", "banned": true]
        #expect("\(ban)" == #"{"banned":true,"user":"42"}"#)
        let channel = try ChannelName("chat:room")
        let history = HistoryResult(channel: channel, position: StreamPosition(epoch: "e", offset: 5), publications: [
            Publication(channel: channel, offset: 4, data: "a"), Publication(channel: channel, offset: 5, data: .null, key: "k", removed: true),
        ])
        #expect(HistoryResult(history.json) == history)
        let command = ClientCommand(id: 3, .history(channel: channel, since: StreamPosition(epoch: "e", offset: 3)))
        #expect(ClientCommand.decode(command.encoded()) == .success(command))
    }

    @Test("replies and errors round-trip")
    func replies() throws {
        let ok = ServerMessage.reply(id: 3, .success(.object(["a": .int(1)])))
        #expect(try ServerMessage.decode(ok.encoded()) == ok)
        let error = ServerMessage.reply(id: 4, .failure(ReplyError(.notConnected, "connect first")))
        #expect(try ServerMessage.decode(error.encoded()) == error)
        let disconnect = ServerMessage.push(.disconnect(code: .banned, reason: "banned"))
        #expect(try ServerMessage.decode(disconnect.encoded()) == disconnect)
    }

    @Test("one frame carries several newline-separated messages")
    func frameSplitting() throws {
        let messages = [Array(#"{"id":1,"result":{}}"#.utf8), Array(#"{"id":2,"result":{}}"#.utf8)]
        let frame = FrameCodec.frame(messages) + Array("\n\n".utf8)
        let lines = FrameCodec.messages(in: frame).map(Array.init)
        #expect(lines == messages)
    }

    @Test("channel names are validated", arguments: [
        ("moderation:bans", true), ("chat:room-7", true), ("user:user#42", true), ("app:b", true),
        ("nocolon", false), (":name", false), ("ns:", false), ("NS:upper-namespace", false), ("ns:sp ace", false),
        ("ns:" + String(repeating: "x", count: 191), false),
    ])
    func channelNames(_ name: String, _ valid: Bool) {
        #expect(((try? ChannelName(name)) != nil) == valid)
    }
}

@Suite("Presence pushes and results on the wire")
struct PresenceWireTests {
    @Test("join, leave and presence_update encode as PROTOCOL.md says and decode back")
    func pushes() throws {
        let room = try ChannelName("room:1")
        let changes: [PresenceChange] = [
            .join(room, user: "42", info: ["name": "Ada"]), .leave(room, user: "42"), .update(room, user: "7", info: nil),
        ]
        let lines = changes.map { String(decoding: ServerMessage.push(.presence($0)).encoded(), as: UTF8.self) }
        #expect(lines == [
            #"{"channel":"room:1","info":{"name":"Ada"},"push":"join","user":"42"}"#,
            #"{"channel":"room:1","push":"leave","user":"42"}"#,
            #"{"channel":"room:1","info":null,"push":"presence_update","user":"7"}"#,
        ])
        #expect(try lines.map { try ServerMessage.decode(Array($0.utf8)) } == changes.map { .push(.presence($0)) })
    }
}

