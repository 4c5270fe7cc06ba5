import CLibWebSockets
import HybridSyncProtocol

/// The lws protocol callback for client connections (a top-level `func`, see the server's).
func lwsClientCallback(
    _ wsi: OpaquePointer?, _ reason: lws_callback_reasons, _ user: UnsafeMutableRawPointer?,
    _ input: UnsafeMutableRawPointer?, _ length: Int
) -> Int32 {
    guard let wsi, let context = lws_get_context(wsi), let owner = lws_context_user(context) else { return 0 }
    let transport = Unmanaged<LWSClientTransport>.fromOpaque(owner).takeUnretainedValue()
    return transport.handle(wsi: wsi, reason: reason, input: input, length: length)
}

extension LWSClientTransport {
    func handle(wsi: OpaquePointer, reason: lws_callback_reasons, input: UnsafeMutableRawPointer?, length: Int) -> Int32 {
        if reason == LWS_CALLBACK_EVENT_WAIT_CANCELLED {
            loop.drain()
            return 0
        }
        let id = UInt64(UInt(bitPattern: lws_get_opaque_user_data(wsi)))
        guard id != 0, let socket = connections[id] else { return 0 }

        switch reason {
        case LWS_CALLBACK_CLIENT_ESTABLISHED:
            socket.wsi = wsi
            if let pending = socket.pendingOpen {
                socket.pendingOpen = nil
                Self.synchronizeHandover()  // release what this thread wrote into `socket`
                pending.resume(returning: socket)
            }
            if !socket.outbound.isEmpty { lws_callback_on_writable(wsi) }
            return 0

        case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
            let detail = input.map { String(cString: $0.assumingMemoryBound(to: CChar.self)) } ?? "unknown error"
            fail(socket, "cannot connect to \(socket.url): \(detail)")
            return 0

        case LWS_CALLBACK_CLIENT_RECEIVE:
            if let input, length > 0 {
                socket.inbound.append(contentsOf: UnsafeRawBufferPointer(start: input, count: length))
            }
            if lws_is_final_fragment(wsi) != 0, lws_remaining_packet_payload(wsi) == 0 {
                socket.yield(.frame(socket.inbound))
                socket.inbound = []
            }
            return 0

        case LWS_CALLBACK_CLIENT_WRITEABLE:
            if let frame = socket.outbound.first {
                socket.outbound.removeFirst()
                if lws_write(wsi, frame.payload, frame.count, LWS_WRITE_TEXT) < 0 { return -1 }
                if !socket.outbound.isEmpty || socket.closing != nil { lws_callback_on_writable(wsi) }
                return 0
            }
            if let closing = socket.closing {
                closing.reason.withCString { hs_lws_close_reason(wsi, closing.code.rawValue, $0, strlen($0)) }
                return -1
            }
            return 0

        case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
            if let input, length >= 2 {
                let bytes = UnsafeRawBufferPointer(start: input, count: length)
                let code = UInt16(bytes[0]) << 8 | UInt16(bytes[1])
                socket.peerClose = (CloseCode(rawValue: code), String(decoding: bytes.dropFirst(2), as: UTF8.self))
            }
            return 0

        case LWS_CALLBACK_CLIENT_CLOSED:
            connections[id] = nil
            if let peer = socket.peerClose {
                socket.finish(code: peer.code, reason: peer.reason)
            } else if let own = socket.closing {
                socket.finish(code: own.code, reason: own.reason)
            } else {
                socket.finish(code: nil, reason: "connection dropped")
            }
            return 0

        case LWS_CALLBACK_WSI_DESTROY:
            // The last callback of every wsi. A connection that ended before it was established
            // without lws reporting an error (seen in tests against a server that accepts and hangs
            // up during the upgrade) would otherwise leave its opener waiting forever.
            let opening = socket.pendingOpen != nil
            fail(socket, opening ? "cannot connect to \(socket.url): the connection closed before the WebSocket opened"
                                 : "connection dropped")
            return 0

        default:
            return 0
        }
    }
}
