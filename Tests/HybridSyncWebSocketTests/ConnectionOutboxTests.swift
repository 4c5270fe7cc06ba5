import HybridSyncWebSocket
import Testing

@Suite("ConnectionOutbox: the output policy both server transports follow")
struct ConnectionOutboxTests {
    @Test("within the budget: replies now, publications later when writes are delayed; writing frees the budget")
    func budget() {
        var outbox = ConnectionOutbox(maxQueuedBytes: 100, delaysWrites: true)
        let reply = outbox.offer(40, mayCoalesce: false)
        let publication = outbox.offer(40, mayCoalesce: true)
        #expect(reply == .writeNow && publication == .writeLater)
        #expect(outbox.queuedBytes == 80)
        outbox.wrote(80)
        let full = outbox.offer(100, mayCoalesce: true)
        #expect(full == .writeLater, "exactly the budget is allowed")
        var undelayed = ConnectionOutbox(maxQueuedBytes: 100, delaysWrites: false)
        #expect(undelayed.offer(1, mayCoalesce: true) == .writeNow)
    }

    @Test("one byte over the budget overflows once; after that nothing is queued")
    func overflow() {
        var outbox = ConnectionOutbox(maxQueuedBytes: 100, delaysWrites: false)
        outbox.queued(60)  // a control frame counts too
        let over = outbox.offer(41, mayCoalesce: true)
        #expect(over == .overflow)
        #expect(outbox.state == .overflowed)
        outbox.droppedBacklog(kept: 10)
        #expect(outbox.queuedBytes == 10)
        let afterOverflow = outbox.offer(1, mayCoalesce: false)
        #expect(afterOverflow == .drop)
        let closedAgain = outbox.close()
        #expect(!closedAgain, "an overflowed connection is closing already")
    }

    @Test("nothing after a close: the first close counts, later messages are dropped, raw bytes (the close frame) still go")
    func nothingAfterClose() {
        var outbox = ConnectionOutbox(maxQueuedBytes: 100, delaysWrites: false)
        let before = outbox.offer(10, mayCoalesce: false)
        #expect(before == .writeNow)
        let first = outbox.close()
        let second = outbox.close()
        #expect(first && !second)
        #expect(outbox.state == .closing)
        let after = outbox.offer(10, mayCoalesce: false)
        #expect(after == .drop)
        outbox.queued(4)
        #expect(outbox.queuedBytes == 14)
    }
}
