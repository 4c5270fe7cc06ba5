import CLibWebSockets
import DequeModule
import Glibc
import HybridSyncWebSocket

/// Writing: eagerly at the end of each turn, not one socket per POLLOUT.
///
/// A connection with output is put in this thread's write queue (``scheduleWrite(_:)``), and the
/// end of the turn writes the queue in order, one chunk per connection per visit (the pending
/// messages packed into one frame). Only a socket whose kernel buffer was full waits for lws to say
/// it is writable again. The writing stops early when input is waiting (a batch from another
/// thread, a request on the API's sockets) or when it has run for several times what one poll of
/// every socket costs; the next turn then polls without waiting and goes on. So an API publish is
/// read and answered during a long fan-out, and what it publishes joins the frames of the sockets
/// not written yet: under load a write carries several publications, and the poll (lws 4.1 polls
/// every socket on each turn) stays a small part of the cost.
extension EdgeWorker {
    /// Queues `edge` for the end of this turn (API answers ahead of everything else).
    func scheduleWrite(_ edge: EdgeConnection) {
        guard !edge.writeScheduled else { return }
        edge.writeScheduled = true
        if edge.listener == .api { writes.answers.append(edge) } else { writes.scheduled.append(edge) }
    }

    /// End of a turn: writes what is queued; true when some is left for the next turn.
    /// `serviceSeconds` is what the turn's poll and callbacks took.
    func flushWriteQueue(serviceSeconds: Double) -> Bool {
        while let edge = writes.answers.popFirst() { writeNow(edge) }
        guard !writes.scheduled.isEmpty else { return false }
        let start = Self.monotonicSeconds()
        let budget = max(Self.minimumWriteBudget, serviceSeconds * Self.writeBudgetPerServiceSecond)
        var written = 0
        while let edge = writes.scheduled.popFirst() {
            if written % Self.warmingBatch == 0, writes.scheduled.count >= Self.warmingBatch - 1 { warmSockets(after: edge) }
            writeNow(edge)
            written += 1
            if written % Self.writesBetweenChecks == 0,
               inputWaiting() || Self.monotonicSeconds() - start > budget {
                break
            }
        }
        return !writes.scheduled.isEmpty || !writes.answers.isEmpty
    }

    /// Sockets polled together ahead of their writes (``warmSockets(after:)``), when that many are
    /// queued: a fan-out, not a few answers (a poll for those would only add a system call to the
    /// turn).
    static let warmingBatch = 64

    /// Polls, without waiting, `first` and the sockets queued after it, up to ``warmingBatch``. The
    /// poll reads each socket's kernel state (file, socket, TCP) for a batch at a time, so the cache
    /// misses of a fan-out larger than the caches overlap instead of stalling each `send` in turn:
    /// measured on S2L (10,000 sockets, docs/PERFORMANCE.md), a delivery costs the server about 8 %
    /// less this way. What the poll reports is not used: a full socket still shows as a short
    /// send.
    private func warmSockets(after first: EdgeConnection) {
        writes.warmingPollSet.removeAll(keepingCapacity: true)
        writes.warmingPollSet.append(pollfd(fd: first.socket, events: Int16(POLLOUT), revents: 0))
        for edge in writes.scheduled.prefix(Self.warmingBatch - 1) {
            writes.warmingPollSet.append(pollfd(fd: edge.socket, events: Int16(POLLOUT), revents: 0))
        }
        _ = writes.warmingPollSet.withUnsafeMutableBufferPointer { Glibc.poll($0.baseAddress, nfds_t($0.count), 0) }
    }

    /// The write budget of a turn is at least this long.
    static let minimumWriteBudget = 0.002
    /// Writes up to this many times as long as the turn's poll took, so polling stays a small share.
    static let writeBudgetPerServiceSecond = 16.0
    /// Writes between checks for waiting input and for the budget.
    static let writesBetweenChecks = 64

    /// lws's WRITEABLE: the socket takes more (lws has written what it held first).
    func writeable(_ edge: EdgeConnection) -> Int32 {
        edge.awaitsWriteable = false
        guard writeChunk(edge) else { return -1 }
        if wantsWrite(edge) { lws_callback_on_writable(edge.wsi) }
        return 0
    }

    /// One visit of the write queue: the next chunk now, unless the socket took only part of an
    /// earlier one (then WRITEABLE says when it takes more).
    private func writeNow(_ edge: EdgeConnection) {
        edge.writeScheduled = false
        guard edge.isOpen, wantsWrite(edge), !edge.awaitsWriteable else { return }
        guard writeChunk(edge) else {
            // The socket failed; lws closes it (and reports RAW_CLOSE) on its next turn.
            edge.queue.removeAll()
            edge.outbox.droppedBacklog(kept: 0)
            lws_set_timeout(edge.wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC)
            return
        }
        guard wantsWrite(edge), !edge.awaitsWriteable else { return }
        scheduleWrite(edge)  // to the back: every connection gets its turn
    }

    private func wantsWrite(_ edge: EdgeConnection) -> Bool {
        edge.wantsWriteNow || edge.closesAfterFlush
    }

    /// Writes the next chunk: a raw one, or the pending messages packed into one frame. With the
    /// queue written and a close due, shuts our side (the peer's rest is read and dropped). False
    /// when the socket failed.
    private func writeChunk(_ edge: EdgeConnection) -> Bool {
        guard let first = edge.queue.first else {
            if edge.closesAfterFlush {
                edge.phase = .closing(.halfClosed)
                _ = Glibc.shutdown(edge.socket, Int32(SHUT_WR))
            }
            return true
        }
        let written: Bool
        switch first {
        case .raw(let bytes), .rest(let bytes):
            edge.queue.removeFirst()
            edge.outbox.wrote(bytes.count)
            written = write(edge, bytes.payload, count: bytes.count)
        case .message(let message):
            let single: Bool
            if edge.queue.count == 1 || message.count >= coalescing.capacity {
                single = true
            } else if case .message = edge.queue[1] {
                single = false
            } else {
                single = true
            }
            if single {
                edge.queue.removeFirst()
                edge.outbox.wrote(message.count)
                let header = WebSocketFrameHeader.write(opcode: .text, length: message.count, endingAt: message.payload)
                written = write(edge, message.payload - header, count: message.count + header)
            } else {
                coalescing.reset()
                while case .message(let next)? = edge.queue.first, coalescing.append(next.payload, count: next.count) {
                    edge.queue.removeFirst()
                    edge.outbox.wrote(next.count)
                }
                let header = coalescing.writeHeader()
                written = write(edge, coalescing.payload - header, count: coalescing.count + header)
            }
        }
        return written
    }

    /// Writes `count` bytes of `edge`'s output; false when the socket failed. A WebSocket without
    /// TLS is written with `send` (a fan-out's cost is then the kernel's, not lws's checks per
    /// write), and what the kernel does not take goes back to the front of its queue. Otherwise
    /// `lws_write` writes and keeps that rest. Either way the next write waits for WRITEABLE.
    private func write(_ edge: EdgeConnection, _ bytes: UnsafeMutablePointer<UInt8>, count: Int) -> Bool {
        guard edge.writesDirectly else {
            // LWS_WRITE_RAW is a #define of LWS_WRITE_HTTP: the bytes go out as they are.
            guard lws_write(edge.wsi, bytes, count, LWS_WRITE_HTTP) >= 0 else { return false }
            if lws_partial_buffered(edge.wsi) != 0 { awaitWriteable(edge) }
            return true
        }
        var sent = Glibc.send(edge.socket, bytes, count, Int32(MSG_NOSIGNAL))
        if sent == count { return true }
        if sent < 0 {
            guard errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR else { return false }
            sent = 0
        }
        let rest = LWSFrame(copying: UnsafeRawBufferPointer(start: bytes + sent, count: count - sent))
        edge.queue.prepend(.rest(rest))
        edge.outbox.queued(rest.count)
        awaitWriteable(edge)
        return true
    }

    private func awaitWriteable(_ edge: EdgeConnection) {
        edge.awaitsWriteable = true
        lws_callback_on_writable(edge.wsi)
    }

    /// Whether someone waits for this thread to read: queued work (a batch from the hub, a broker's
    /// answer), or a request on an API socket.
    private func inputWaiting() -> Bool {
        if loop.hasQueuedWork { return true }
        guard !apiListener.pollSet.isEmpty else { return false }
        return apiListener.pollSet.withUnsafeMutableBufferPointer { fds in
            Glibc.poll(fds.baseAddress, nfds_t(fds.count), 0) > 0
        }
    }
}

