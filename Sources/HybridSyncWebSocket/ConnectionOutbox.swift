/// The output policy of one server-side WebSocket, without I/O: what the server may still send it,
/// the byte budget of what is queued and not written, and when a message may wait for the write
/// delay. The daemon's transport and the testing library's in-memory one both follow it, so a slow
/// consumer (4001) and "nothing after close" behave alike in memory and on sockets.
///
/// ```swift
/// var outbox = ConnectionOutbox(maxQueuedBytes: 1 << 20, delaysWrites: false)
/// switch outbox.offer(message.count, mayCoalesce: true) {
/// case .writeNow, .writeLater: queue(message)
/// case .drop: break                          // closing: nothing after the close
/// case .overflow: dropBacklogAndFail(4001)   // not reading: its queue is freed
/// }
/// outbox.wrote(written)                      // as the socket takes bytes
/// ```
public struct ConnectionOutbox: Sendable {
    /// Where the connection is, as far as output goes.
    public enum State: Sendable, Equatable {
        /// Messages are queued.
        case open
        /// The server closed it: the close frame is queued after what was there; nothing more.
        case closing
        /// Its queue overflowed: the backlog is dropped and it closes with 4001.
        case overflowed
    }

    /// What to do with an offered message.
    public enum Decision: Sendable, Equatable {
        /// Queue it and write it at once (a reply, a push; or any message without a write delay).
        case writeNow
        /// Queue it; its write may wait for the current write-delay window.
        case writeLater
        /// Queue nothing: the connection is closing or gone over its budget.
        case drop
        /// The message takes the queue over the budget: drop the backlog, close with 4001 without
        /// waiting for the peer. The state is ``State/overflowed`` from now on.
        case overflow
    }

    /// Queued bytes allowed before a connection counts as not reading (`limits.maxQueuedBytes`).
    public let maxQueuedBytes: Int
    /// Whether publications may wait for a write delay (`limits.writeDelayMillis` > 0).
    public let delaysWrites: Bool
    /// Bytes queued and not yet written (messages, control frames and HTTP alike).
    public private(set) var queuedBytes = 0
    /// Where the connection is.
    public private(set) var state = State.open

    /// An open outbox with a budget of `maxQueuedBytes`.
    public init(maxQueuedBytes: Int, delaysWrites: Bool) {
        self.maxQueuedBytes = maxQueuedBytes
        self.delaysWrites = delaysWrites
    }

    /// A message of `count` bytes from the server; `mayCoalesce` for a publication.
    public mutating func offer(_ count: Int, mayCoalesce: Bool) -> Decision {
        guard state == .open else { return .drop }
        queuedBytes += count
        guard queuedBytes <= maxQueuedBytes else {
            state = .overflowed
            return .overflow
        }
        return mayCoalesce && delaysWrites ? .writeLater : .writeNow
    }

    /// Bytes queued outside the server's messages (a close or pong frame, an HTTP answer, the rest
    /// of a partial write): they always go, and count against nothing but ``queuedBytes``.
    public mutating func queued(_ count: Int) {
        queuedBytes += count
    }

    /// The socket took `count` queued bytes.
    public mutating func wrote(_ count: Int) {
        queuedBytes -= count
    }

    /// The backlog was dropped, `kept` bytes of it stay (the rest of a frame the socket started).
    public mutating func droppedBacklog(kept: Int) {
        queuedBytes = kept
    }

    /// The server closes the connection: true the first time (queue the close frame now), false
    /// when it is already closing or overflowed.
    public mutating func close() -> Bool {
        guard state == .open else { return false }
        state = .closing
        return true
    }
}
