import CLibWebSockets
import Glibc
import DequeModule
import Synchronization
import HybridSyncProtocol
import HybridSyncServerTransport
import HybridSyncHTTP
import HybridSyncWebSocket
import Logging

/// The lws protocol callback for both listeners. A top-level `func`, because only those become C
/// function pointers; it finds the Swift transport through the context's user pointer.
func lwsServerCallback(
    _ wsi: OpaquePointer?, _ reason: lws_callback_reasons, _ user: UnsafeMutableRawPointer?,
    _ input: UnsafeMutableRawPointer?, _ length: Int
) -> Int32 {
    guard let wsi, let context = lws_get_context(wsi), let owner = lws_context_user(context) else { return 0 }
    let worker = Unmanaged<EdgeWorker>.fromOpaque(owner).takeUnretainedValue()
    return worker.handle(wsi: wsi, reason: reason, user: user, input: input, length: length)
}

extension EdgeWorker {
    func handle(
        wsi: OpaquePointer, reason: lws_callback_reasons, user: UnsafeMutableRawPointer?,
        input: UnsafeMutableRawPointer?, length: Int
    ) -> Int32 {
        switch reason {
        case LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS:
            // A TLS vhost's SSL_CTX, while lws sets it up (a stand-in wsi): share the ticket keys.
            if let user { TLSSessionTickets.adopt(user) }
            return 0
        case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
            loop.drain()
            return 0
        case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
            return admit(listener: listener(of: wsi))
        case LWS_CALLBACK_RAW_ADOPT:
            return adopted(wsi: wsi, user: user)
        case LWS_CALLBACK_RAW_RX_FILE:
            // Only our SO_REUSEPORT listening socket is adopted as a file.
            acceptPending()
            return 0
        case LWS_CALLBACK_RAW_RX:
            guard let edge = connection(user), let input, length > 0 else { return 0 }
            if edge.lwsTimeoutArmed { disarmLWSTimeout(edge) }
            if case .http = edge.phase { publicListener.gate.finished(edge.id) }  // request bytes: connected
            let bytes = UnsafeRawBufferPointer(start: input, count: length)
            let result: Int32 = switch edge.phase {
            case .http: httpReceived(edge, bytes)
            case .webSocket: webSocketReceived(edge, bytes)
            case .awaitingResponse: pipelinedWhileAwaiting(edge)
            case .closing: 0  // nothing more is read
            }
            if edge.wantsWriteNow || edge.closesAfterFlush { scheduleWrite(edge) }
            return result
        case LWS_CALLBACK_RAW_WRITEABLE:
            guard let edge = connection(user) else { return -1 }
            return writeable(edge)
        case LWS_CALLBACK_RAW_CLOSE:
            closed(user: user)
            return 0
        default:
            return 0
        }
    }

    private func listener(of wsi: OpaquePointer) -> Listener {
        lws_get_vhost(wsi) == apiListener.vhost ? .api : .public
    }

    private func connection(_ user: UnsafeMutableRawPointer?) -> EdgeConnection? {
        connections[hs_lws_pss_get(user)]
    }

    /// Called before a socket is adopted into lws's table: refuses it over the listener's cap (the
    /// public one counts the sockets of every service thread).
    func admit(listener: Listener) -> Int32 {
        let cap = listener == .api ? configuration.maxAPIConnections : configuration.effectiveMaxConnections
        let open = listener == .api ? apiListener.sockets : transport.publicSockets.value.load(ordering: .relaxed)
        guard open >= cap else { return 0 }
        if listener == .api, evictIdleAPIConnection() { return 0 }
        let (log, suppressed) = logs.refusals.shouldLog(now: Self.monotonicSeconds())
        if log {
            logger.info("connection cap reached, refusing new sockets", metadata: [
                "listener": "\(listener)", "cap": "\(cap)", "refused_since_last_line": "\(suppressed)",
            ])
        }
        return 1
    }

    private func adopted(wsi: OpaquePointer, user: UnsafeMutableRawPointer?) -> Int32 {
        guard user != nil else { return -1 }
        let id = nextID * UInt64(transport.threadCount) + UInt64(index)  // names its thread: id % threads
        nextID += 1
        hs_lws_pss_set(user, id)
        let listener = listener(of: wsi)
        let limits = HTTPRequestParser.Limits(
            maxHeadBytes: configuration.maxHeaderBytes,
            maxBodyBytes: listener == .api ? configuration.maxBodyBytes : 0
        )
        let outbox = ConnectionOutbox(maxQueuedBytes: configuration.maxQueuedBytes, delaysWrites: configuration.writeDelayMillis > 0)
        let edge = EdgeConnection(id: id, wsi: wsi, listener: listener, parser: HTTPRequestParser(limits: limits), outbox: outbox)
        edge.lwsTimeoutArmed = lws_is_ssl(wsi) != 0
        edge.peerAddress = publicListener.acceptedPeerAddress
        connections[id] = edge
        if listener == .public { publicListener.gate.admitted(id, now: Self.monotonicSeconds()) }
        switch listener {
        case .public: transport.publicSockets.value.add(1, ordering: .relaxed)
        case .api:
            apiListener.sockets += 1
            apiListener.pollSet.append(pollfd(fd: edge.socket, events: Int16(POLLIN), revents: 0))
            apiListener.connections.append(edge)
        }
        setDeadline(edge, in: configuration.httpHeaderTimeoutSeconds)
        return 0
    }

    /// At the API listener's cap: closes the keep-alive API connection that has been idle the
    /// longest (its last answer written, no byte of a next request arrived, not even one still
    /// unread in the kernel), so that a backend's new connection is served at once instead of
    /// waiting for an idle keep-alive to reach its header timeout. An idle keep-alive connection
    /// may be closed at any time (RFC 9112 §9.6); the client opens a new one. False when no
    /// connection is idle so: then the new socket is refused.
    func evictIdleAPIConnection() -> Bool {
        let idle = apiListener.connections.compactMap { edge -> (edge: EdgeConnection, since: Double)? in
            guard let since = edge.idleSince, edge.phase == .http, edge.parser.isIdle, edge.queue.isEmpty, !edge.awaitsWriteable else { return nil }
            return (edge, since)
        }
        guard let victim = idle.sorted(by: { $0.since < $1.since }).map(\.edge).first(where: { !Self.hasInput($0.socket) }) else {
            return false
        }
        victim.phase = .closing(.dropped)
        victim.deadline = nil
        lws_set_timeout(victim.wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC)
        apiListener.evicted += 1
        let (log, suppressed) = logs.refusals.shouldLog(now: Self.monotonicSeconds())
        if log {
            logger.info("API connection cap reached, closing the longest idle keep-alive connection", metadata: [
                "cap": "\(configuration.maxAPIConnections)", "evicted_total": "\(apiListener.evicted)",
                "refused_since_last_line": "\(suppressed)",
            ])
        }
        return true
    }

    /// Whether `socket` has bytes waiting to be read.
    private static func hasInput(_ socket: Int32) -> Bool {
        var probe = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
        return Glibc.poll(&probe, 1, 0) > 0
    }

    /// Disarms lws's timeout of a TLS socket once its first bytes arrive (the handshake is done).
    /// Left armed, lws 4.1 closes every `wss://` connection, without a close frame, the
    /// `limits.httpHeaderTimeoutSeconds` after its handshake; HybridSync's own deadline (set at
    /// adoption) covers a peer that completes the handshake and then sends nothing.
    private func disarmLWSTimeout(_ edge: EdgeConnection) {
        edge.lwsTimeoutArmed = false
        lws_set_timeout(edge.wsi, NO_PENDING_TIMEOUT, 0)
    }

    private func closed(user: UnsafeMutableRawPointer?) {
        let id = hs_lws_pss_get(user)
        guard let edge = connections.removeValue(forKey: id) else { return }
        edge.isOpen = false
        publicListener.gate.finished(id)
        switch edge.listener {
        case .public: transport.publicSockets.value.subtract(1, ordering: .relaxed)
        case .api:
            apiListener.sockets -= 1
            apiListener.pollSet.removeAll { $0.fd == edge.socket }
            apiListener.connections.removeAll { $0 === edge }
        }
        trim.closed += 1
        trim.lastCloseAt = Self.monotonicSeconds()
        if edge.announced {
            openWebSockets.subtract(1, ordering: .relaxed)
            toHub { $0.connectionClosed(ConnectionID(id)) }
        }
    }

    func peerAddress(_ wsi: OpaquePointer) -> String {
        var address = [CChar](repeating: 0, count: 64)
        guard lws_get_peer_simple(wsi, &address, address.count) != nil else { return "unknown" }
        return String(decoding: address.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
