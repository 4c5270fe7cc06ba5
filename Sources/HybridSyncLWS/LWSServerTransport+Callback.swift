import CLibWebSockets
import HybridSyncProtocol
import Logging
import Synchronization

/// The lws protocol callback for every vhost of the server. A top-level `func`, because only those
/// become C function pointers; it finds the Swift transport through the context's user pointer.
func lwsServerCallback(
    _ wsi: OpaquePointer?, _ reason: lws_callback_reasons, _ user: UnsafeMutableRawPointer?,
    _ input: UnsafeMutableRawPointer?, _ length: Int
) -> Int32 {
    guard let wsi, let context = lws_get_context(wsi), let owner = lws_context_user(context) else { return 0 }
    let transport = Unmanaged<LWSServerTransport>.fromOpaque(owner).takeUnretainedValue()
    return transport.handle(wsi: wsi, reason: reason, user: user, input: input, length: length)
}

extension LWSServerTransport {
    func handle(
        wsi: OpaquePointer, reason: lws_callback_reasons, user: UnsafeMutableRawPointer?,
        input: UnsafeMutableRawPointer?, length: Int
    ) -> Int32 {
        switch reason {
        case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
            loop.drain()
            return 0

        // MARK: WebSocket
        case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
            if draining != nil {  // refuse new sockets while shutting down
                _ = lws_return_http_status(wsi, 503, "server shutting down")
                return 1
            }
            if !configuration.allowedOrigins.isEmpty, let origin = header(wsi, hs_lws_token_origin()),
               !configuration.allowedOrigins.contains(origin) {
                logger.info("refused WebSocket from a disallowed origin", metadata: ["origin": "\(origin.prefix(100))"])
                _ = lws_return_http_status(wsi, 403, "origin not allowed")
                return 1
            }
            return 0
        case LWS_CALLBACK_ESTABLISHED:
            return webSocketOpened(wsi: wsi, user: user)
        case LWS_CALLBACK_RECEIVE:
            return webSocketReceived(wsi: wsi, user: user, input: input, length: length)
        case LWS_CALLBACK_SERVER_WRITEABLE:
            return webSocketWriteable(wsi: wsi, user: user)
        case LWS_CALLBACK_CLOSED:
            webSocketClosed(user: user)
            return 0

        // MARK: HTTP
        case LWS_CALLBACK_HTTP:
            return httpRequest(wsi: wsi, user: user, input: input, length: length)
        case LWS_CALLBACK_HTTP_BODY:
            return httpBody(user: user, input: input, length: length)
        case LWS_CALLBACK_HTTP_BODY_COMPLETION:
            return httpBodyComplete(wsi: wsi, user: user)
        case LWS_CALLBACK_HTTP_WRITEABLE:
            return httpWriteable(wsi: wsi, user: user)
        case LWS_CALLBACK_CLOSED_HTTP:
            let id = hs_lws_pss_get(user)
            if id != 0 { exchanges[id] = nil }
            return 0

        default:
            return lws_callback_http_dummy(wsi, reason, user, input, length)
        }
    }

    // MARK: WebSocket handlers

    private func webSocketOpened(wsi: OpaquePointer, user: UnsafeMutableRawPointer?) -> Int32 {
        guard lws_get_protocol(wsi)?.pointee.id == webSocketProtocolID else {
            let reason = "request subprotocol \(HybridSyncWire.subprotocol)"
            reason.withCString { hs_lws_close_reason(wsi, 1002, $0, strlen($0)) }
            logger.info("refused WebSocket without subprotocol \(HybridSyncWire.subprotocol)")
            return -1
        }
        let id = nextID
        nextID += 1
        hs_lws_pss_set(user, id)
        webSockets[id] = WebSocketState(wsi: wsi)
        openWebSockets.add(1, ordering: .relaxed)
        var address = [CChar](repeating: 0, count: 64)
        let peer = lws_get_peer_simple(wsi, &address, address.count) != nil
            ? String(decoding: address.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : "unknown"
        delegate?.connectionOpened(ConnectionID(id), info: ConnectionInfo(remoteAddress: peer, origin: header(wsi, hs_lws_token_origin())))
        return 0
    }

    private func webSocketReceived(
        wsi: OpaquePointer, user: UnsafeMutableRawPointer?, input: UnsafeMutableRawPointer?, length: Int
    ) -> Int32 {
        let id = hs_lws_pss_get(user)
        guard let state = webSockets[id] else { return -1 }
        if lws_frame_is_binary(wsi) != 0 {
            closeNow(wsi, .unsupportedData, "binary frames are not part of \(HybridSyncWire.subprotocol)")
            return -1
        }
        if state.inbound.count + length > configuration.maxMessageBytes {
            logger.info("inbound message over limit, closing", metadata: [
                "connection": "c\(id)", "limit_bytes": "\(configuration.maxMessageBytes)",
            ])
            closeNow(wsi, .messageTooBig, "message larger than \(configuration.maxMessageBytes) bytes")
            return -1
        }
        if let input, length > 0 {
            state.inbound.append(contentsOf: UnsafeRawBufferPointer(start: input, count: length))
        }
        guard lws_is_final_fragment(wsi) != 0, lws_remaining_packet_payload(wsi) == 0 else { return 0 }
        let message = state.inbound
        state.inbound = []
        delegate?.received(message, from: ConnectionID(id))
        return 0
    }

    private func webSocketWriteable(wsi: OpaquePointer, user: UnsafeMutableRawPointer?) -> Int32 {
        guard let state = webSockets[hs_lws_pss_get(user)] else { return -1 }
        if let first = state.queue.first {
            let written: Int32
            if state.queue.count == 1 || first.count >= coalescing.capacity {
                state.queue.removeFirst()
                state.queuedBytes -= first.count
                written = lws_write(wsi, first.payload, first.count, LWS_WRITE_TEXT)
            } else {
                coalescing.reset()
                while let next = state.queue.first, coalescing.append(next) {
                    state.queue.removeFirst()
                    state.queuedBytes -= next.count
                }
                written = lws_write(wsi, coalescing.payload, coalescing.count, LWS_WRITE_TEXT)
            }
            if written < 0 { return -1 }
            if !state.queue.isEmpty || state.closing != nil { lws_callback_on_writable(wsi) }
            return 0
        }
        if let closing = state.closing {
            closeNow(wsi, closing.code, closing.reason)
            return -1
        }
        return 0
    }

    private func webSocketClosed(user: UnsafeMutableRawPointer?) {
        let id = hs_lws_pss_get(user)
        guard webSockets.removeValue(forKey: id) != nil else { return }
        openWebSockets.subtract(1, ordering: .relaxed)
        delegate?.connectionClosed(ConnectionID(id))
    }

    private func closeNow(_ wsi: OpaquePointer, _ code: CloseCode, _ reason: String) {
        // A close reason is at most 123 bytes (RFC 6455 §5.5).
        let text = String(decoding: Array(reason.utf8.prefix(123)), as: UTF8.self)
        text.withCString { hs_lws_close_reason(wsi, code.rawValue, $0, strlen($0)) }
    }

    // MARK: HTTP handlers

    private static let methods = ["", "GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]

    private func httpRequest(
        wsi: OpaquePointer, user: UnsafeMutableRawPointer?, input: UnsafeMutableRawPointer?, length: Int
    ) -> Int32 {
        // Keep-alive reuses per-session memory: every request starts a fresh exchange.
        var id = hs_lws_pss_get(user)
        if id == 0 {
            id = nextID
            nextID += 1
            hs_lws_pss_set(user, id)
        }
        var exchange = HTTPExchange()
        let methodIndex = Int(hs_lws_http_method(wsi))
        exchange.method = Self.methods.indices.contains(methodIndex) ? Self.methods[methodIndex] : ""
        if let input, length > 0 {
            exchange.path = String(decoding: UnsafeRawBufferPointer(start: input, count: length), as: UTF8.self)
        }
        exchange.authorization = header(wsi, hs_lws_token_authorization())
        exchanges[id] = exchange

        guard lws_get_vhost(wsi) == apiVhost else {
            return respond(wsi, id: id, .error(426, code: "upgrade_required",
                message: "this port speaks WebSocket with subprotocol \(HybridSyncWire.subprotocol); the HTTP API listens elsewhere"))
        }
        let contentLength = header(wsi, hs_lws_token_content_length()).flatMap { Int($0) } ?? 0
        if contentLength > configuration.maxBodyBytes {
            exchanges[id]?.closeAfterResponse = true
            return respond(wsi, id: id, .error(413, code: "payload_too_large",
                message: "request body of \(contentLength) bytes is over the \(configuration.maxBodyBytes)-byte limit"))
        }
        if contentLength > 0 { return 0 }  // wait for HTTP_BODY / HTTP_BODY_COMPLETION
        return dispatch(wsi, id: id)
    }

    private func httpBody(user: UnsafeMutableRawPointer?, input: UnsafeMutableRawPointer?, length: Int) -> Int32 {
        let id = hs_lws_pss_get(user)
        guard var exchange = exchanges[id] else { return -1 }
        if exchange.closeAfterResponse { return 0 }  // refused; discard
        guard exchange.body.count + length <= configuration.maxBodyBytes else { return -1 }
        if let input, length > 0 {
            exchange.body.append(contentsOf: UnsafeRawBufferPointer(start: input, count: length))
        }
        exchanges[id] = exchange
        return 0
    }

    private func httpBodyComplete(wsi: OpaquePointer, user: UnsafeMutableRawPointer?) -> Int32 {
        let id = hs_lws_pss_get(user)
        guard let exchange = exchanges[id] else { return -1 }
        if exchange.closeAfterResponse { return 0 }
        return dispatch(wsi, id: id)
    }

    private func dispatch(_ wsi: OpaquePointer, id: UInt64) -> Int32 {
        guard let exchange = exchanges[id], let delegate else { return -1 }
        let request = HTTPRequest(
            method: exchange.method, path: exchange.path, authorization: exchange.authorization, body: exchange.body
        )
        return respond(wsi, id: id, delegate.handle(request))
    }

    /// Writes the status line and headers now, and the body on the next HTTP_WRITEABLE.
    private func respond(_ wsi: OpaquePointer, id: UInt64, _ response: HTTPResponse) -> Int32 {
        var headerBuffer = [UInt8](repeating: 0, count: LWSFrame.headroom + 1024)
        let failed: Bool = headerBuffer.withUnsafeMutableBufferPointer { buffer in
            let start = buffer.baseAddress! + LWSFrame.headroom
            let end = buffer.baseAddress! + buffer.count
            var cursor: UnsafeMutablePointer<UInt8>? = start
            if lws_add_http_common_headers(wsi, UInt32(response.status), "application/json", UInt64(response.body.count), &cursor, end) != 0 {
                return true
            }
            return lws_finalize_write_http_header(wsi, start, &cursor, end) != 0
        }
        if failed { return -1 }
        exchanges[id]?.response = LWSFrame(response.body)
        lws_callback_on_writable(wsi)
        return 0
    }

    private func httpWriteable(wsi: OpaquePointer, user: UnsafeMutableRawPointer?) -> Int32 {
        let id = hs_lws_pss_get(user)
        guard let exchange = exchanges[id], let body = exchange.response else { return 0 }
        exchanges[id]?.response = nil
        if lws_write(wsi, body.payload, body.count, LWS_WRITE_HTTP_FINAL) < 0 { return -1 }
        if exchange.closeAfterResponse { return -1 }
        return lws_http_transaction_completed(wsi) != 0 ? -1 : 0
    }

    func header(_ wsi: OpaquePointer, _ token: Int32) -> String? {
        let index = lws_token_indexes(rawValue: UInt32(token))
        let length = Int(lws_hdr_total_length(wsi, index))
        guard length > 0 else { return nil }
        var buffer = [CChar](repeating: 0, count: length + 1)
        let copied = lws_hdr_copy(wsi, &buffer, Int32(buffer.count), index)
        guard copied >= 0 else { return nil }
        return String(decoding: buffer.prefix(Int(copied)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
