import HybridSyncProtocol
import HybridSyncServerTransport
import HybridSyncServer
import HybridSyncTesting
import Testing

/// The edge's output and input rules, reproduced by the in-memory transport (the daemon's are in
/// EdgeHardeningTests): what a micro-app's unit test sees when its client stops reading, sends too
/// much, or is closed.
@Suite("In-memory edge: slow consumer (4001), oversize message (1009), nothing after close")
struct InMemoryEdgeTests {
    @Test("a subscriber that stops reading is closed with 4001 once maxQueuedBytes wait for it; a reading one gets everything")
    func slowConsumer() throws {
        let h = Harness(maxQueuedBytes: 4096)
        let slow = try h.connected("1")
        let reader = try h.connected("2")
        _ = try h.subscribe(slow, "chat:room")
        _ = try h.subscribe(reader, "chat:room")
        slow.pauseReading()
        let text = String(repeating: "x", count: 1000)
        for n in 1...10 {
            #expect(h.api("POST", "/api/publish", ["channel": "chat:room", "data": .string("\(n) \(text)")]).status == 200)
        }
        #expect(slow.closed?.code == .slowConsumer)
        #expect(reader.closed == nil)
        #expect(reader.takeMessages().compactMap(\.publication).count == 10)
        #expect(h.server.connectionCount == 1, "the server was told")
        slow.resumeReading()
        #expect(slow.takeMessages().compactMap(\.publication).isEmpty, "the backlog was dropped, not delivered")
    }

    @Test("a subscriber that reads again within the budget gets what waited, in order")
    func pausedWithinBudget() throws {
        let h = Harness(maxQueuedBytes: 64 * 1024)
        let client = try h.connected()
        _ = try h.subscribe(client, "chat:room")
        client.pauseReading()
        for n in 1...5 { h.api("POST", "/api/publish", ["channel": "chat:room", "data": .int(Int64(n))]) }
        #expect(client.takeMessages().isEmpty)
        client.resumeReading()
        #expect(client.takeMessages().compactMap(\.publication).map(\.data) == [1, 2, 3, 4, 5])
        #expect(client.closed == nil)
    }

    @Test("a client message over maxMessageBytes closes with 1009 and the server forgets the connection")
    func oversizeMessage() throws {
        let h = Harness { $0.maxMessageBytes = 1024 }
        let client = try h.connected()
        client.send(#"{"id":2,"op":"publish","channel":"chat:room","data":"\#(String(repeating: "x", count: 2000))"}"#)
        #expect(client.closed?.code == .messageTooBig)
        #expect(h.server.connectionCount == 0)
        #expect(client.takeMessages().isEmpty, "no reply to the refused message")
    }

    @Test("nothing after close: a message sent after the server closed a connection never reaches it")
    func nothingAfterClose() throws {
        let h = Harness()
        let client = try h.connected()
        func push(_ reason: String) -> OutboundMessage {
            OutboundMessage(ServerMessage.push(.disconnect(code: .forceReconnect, reason: reason)).encoded())
        }
        h.server.withServer { _ in
            h.server.send(push("before"), to: client.id)
            h.server.close(client.id, code: .forceReconnect, reason: "test")
            h.server.send(push("after"), to: client.id)
            h.server.close(client.id, code: .banned, reason: "second close")
        }
        #expect(client.closed?.code == .forceReconnect, "the first close counts")
        #expect(client.takeMessages() == [.push(.disconnect(code: .forceReconnect, reason: "before"))])
    }
}
