import CLibWebSockets
import Synchronization
import HybridSyncProtocol
import HybridSyncServerTransport
import HybridSyncWebSocket
import Logging

/// RFC 6455 after the upgrade: messages to the server, control frames answered here, the close
/// handshake in both directions.
extension EdgeWorker {
    func webSocketReceived(_ edge: EdgeConnection, _ bytes: UnsafeRawBufferPointer) -> Int32 {
        guard case .webSocket(let echo) = edge.phase, edge.decoder != nil else { return 0 }
        edge.decoder?.append(bytes)  // in place: optional chaining does not copy the decoder
        while edge.isWebSocket {
            let event: WebSocketEvent
            do {
                guard let next = try edge.decoder?.next() else { break }
                event = next
            } catch {
                fail(edge, code: error.code, reason: error.reason)
                return 0
            }
            switch event {
            case .text(let message):
                if echo {
                    edge.enqueue(raw: (LWSFrame(WebSocketFrameHeader.frame(.text, message))))
                } else if !edge.closeRequested {
                    toHub { [id = edge.id] in $0.received(message, from: ConnectionID(id)) }
                }
            case .binary(let message):
                guard echo else {
                    fail(edge, code: CloseCode.unsupportedData.rawValue, reason: "binary frames are not part of \(HybridSyncWire.subprotocol)")
                    return 0
                }
                edge.enqueue(raw: (LWSFrame(WebSocketFrameHeader.frame(.binary, message))))
            case .ping(let payload):
                edge.enqueue(raw: (LWSFrame(WebSocketFrameHeader.frame(.pong, payload))))
            case .pong:
                break
            case .close(let code, _):
                // Our close was answered: the handshake is complete, drop the socket now.
                if edge.closeRequested { return -1 }
                let payload = code.map { WebSocketFrameHeader.closePayload(code: $0, reason: "") } ?? []
                edge.enqueue(raw: (LWSFrame(WebSocketFrameHeader.frame(.close, payload))))
                finishAfterFlush(edge)
                return 0
            }
        }
        return 0
    }

    /// Fails the connection (RFC 6455 §7.1.7): what is queued, a close frame with `code`, then the
    /// socket closes without waiting for the peer's answer.
    func fail(_ edge: EdgeConnection, code: UInt16, reason: String) {
        logger.debug("WebSocket protocol error, closing", metadata: [
            "connection": "c\(edge.id)", "code": "\(code)", "reason": "\(reason)",
        ])
        edge.enqueue(raw: (LWSFrame(WebSocketFrameHeader.frame(.close, WebSocketFrameHeader.closePayload(code: code, reason: reason)))))
        finishAfterFlush(edge)
        retire(edge, code: CloseCode(rawValue: code))
    }

    /// Tells the server now that a failed WebSocket is over, while its socket may still take up to
    /// the close deadline to flush (a slow consumer flushes only when it reads again). Deferred to
    /// the next service round: `fail` can run inside a server call (a send), which must not see its
    /// own state change under it.
    private func retire(_ edge: EdgeConnection, code: CloseCode) {
        guard edge.announced else { return }
        edge.announced = false
        openWebSockets.subtract(1, ordering: .relaxed)
        let id = ConnectionID(edge.id)
        if isHub {
            loop.execute { [weak self] in self?.transport.delegate?.connectionFailed(id, code: code) }
        } else {
            toHub { $0.connectionFailed(id, code: code) }  // already later: it is queued to another thread
        }
    }

    /// Starts the closing handshake from this side: what is queued goes first, then the close frame;
    /// the socket closes when the peer answers (so it has read everything before the TCP close), or
    /// after ``closeDeadlineSeconds`` if it never does.
    func startClose(_ edge: EdgeConnection, code: UInt16, reason: String) {
        guard edge.outbox.close() else { return }
        edge.enqueue(raw: (LWSFrame(WebSocketFrameHeader.frame(.close, WebSocketFrameHeader.closePayload(code: code, reason: reason)))))
        setDeadline(edge, in: Self.closeDeadlineSeconds)
        scheduleWrite(edge)
    }

    private func finishAfterFlush(_ edge: EdgeConnection) {
        edge.phase = .closing(.flushing)
        edge.decoder = nil
        setDeadline(edge, in: Self.closeDeadlineSeconds)
        scheduleWrite(edge)
    }
}
