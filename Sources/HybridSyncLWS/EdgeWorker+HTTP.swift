import CLibWebSockets
import Synchronization
import HybridSyncHTTP
import HybridSyncProtocol
import HybridSyncServerTransport
import HybridSyncWebSocket
import Logging

/// HTTP/1.1 on both listeners: exactly one response per request, then keep-alive (API) or close.
extension EdgeWorker {
    func httpReceived(_ edge: EdgeConnection, _ bytes: UnsafeRawBufferPointer) -> Int32 {
        guard edge.phase == .http else { return 0 }
        edge.idleSince = nil
        edge.parser.append(bytes)
        while true {
            let step: HTTPRequestParser.Step
            do {
                step = try edge.parser.next()
            } catch {
                logRefusal(edge, status: error.status, error.message)
                // A body is never read on the public listener, whatever its size.
                refuse(edge, edge.listener == .public && error.status == 413 ? Self.notAnAPIPort : error.response)
                return 0
            }
            switch step {
            case .needMore:
                return 0
            case .head(let head, _):
                setDeadline(edge, in: configuration.httpBodyTimeoutSeconds)
                if head.tokens("expect").contains(where: { $0.lowercased() == "100-continue" }) {
                    edge.enqueue(raw: (LWSFrame(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8))))
                }
            case .complete(let request):
                let leftover = edge.parser.takeBuffered()
                switch edge.listener {
                case .public: publicRequest(edge, request, leftover: leftover)
                case .api: apiRequest(edge, request, pipelined: !leftover.isEmpty)
                }
                return 0
            }
        }
    }

    // MARK: Public listener: WebSocket upgrades, and its pages

    private func publicRequest(_ edge: EdgeConnection, _ head: HTTPRequest, leftover: [UInt8]) {
        let echo = configuration.echoPath.map { $0 == head.path } ?? false
        guard WebSocketHandshake.isUpgradeRequest(head) else {
            // One page per connection: the public listener keeps nothing alive but WebSockets.
            if let publicPages = transport.publicPages, let page = publicPages(head) {
                respond(edge, page, keepAlive: false, headOnly: head.method == "HEAD")
            } else {
                refuse(edge, Self.notAnAPIPort)
            }
            return
        }
        if draining {
            refuse(edge, HTTPError.shuttingDown("server shutting down; reconnect to another node or later").response)
            return
        }
        let origin = head.header("origin")
        if !configuration.allowedOrigins.isEmpty, let origin, !configuration.allowedOrigins.contains(origin) {
            let (log, suppressed) = logs.origins.shouldLog(now: Self.monotonicSeconds())
            if log {
                logger.info("refused WebSocket from a disallowed origin", metadata: [
                    "origin": "\(origin.prefix(100))", "refused_since_last_line": "\(suppressed)",
                ])
            }
            refuse(edge, HTTPError.originNotAllowed("origin not allowed").response)
            return
        }
        let accepted: [UInt8]
        do {
            accepted = try WebSocketHandshake.accept(head, subprotocol: echo ? nil : HybridSyncWire.subprotocol)
        } catch {
            logRefusal(edge, status: error.status, error.message)
            refuse(edge, error.response)
            return
        }
        edge.enqueue(raw: (LWSFrame(accepted)))
        edge.phase = .webSocket(echo: echo)
        edge.writesDirectly = lws_is_ssl(edge.wsi) == 0
        edge.decoder = WebSocketFrameDecoder(maxMessageBytes: configuration.maxMessageBytes)
        edge.parser = HTTPRequestParser(limits: edge.parser.limits)  // its buffers are not needed any more
        edge.deadline = nil
        if !echo {
            edge.announced = true
            openWebSockets.add(1, ordering: .relaxed)
            let info = ConnectionInfo(remoteAddress: edge.peerAddress ?? peerAddress(edge.wsi), origin: origin)
            toHub { [id = edge.id] in $0.connectionOpened(ConnectionID(id), info: info) }
        }
        if !leftover.isEmpty {
            leftover.withUnsafeBytes { _ = webSocketReceived(edge, $0) }
        }
    }

    static let notAnAPIPort = HTTPError.upgradeRequired(
        "this port speaks WebSocket with subprotocol \(HybridSyncWire.subprotocol); the HTTP API listens elsewhere").response

    // MARK: API listener

    private func apiRequest(_ edge: EdgeConnection, _ request: HTTPRequest, pipelined: Bool) {
        guard !WebSocketHandshake.isUpgradeRequest(request) else {
            refuse(edge, HTTPError.badRequest("the API does not upgrade connections (no WebSocket, no h2c)").response)
            return
        }
        guard let api = transport.api else { return }
        // Nothing more is read until the answer is queued; the router always answers (an engine
        // failure is a 503), so no deadline runs meanwhile.
        edge.phase = .awaitingResponse(pipelined: false)
        edge.deadline = nil
        let id = edge.id
        let answer: (HTTPResponse) -> Void = { [weak self] response in
            guard let self, let edge = connections[id], case .awaitingResponse(let pipelinedMeanwhile) = edge.phase else { return }
            // Pipelined requests are not served: answer this one, then close (the client retries the rest).
            let keepAlive = request.keepAlive && !pipelined && !pipelinedMeanwhile
            edge.phase = .http
            respond(edge, response, keepAlive: keepAlive, headOnly: request.method == "HEAD")
            if keepAlive {
                setDeadline(edge, in: configuration.httpHeaderTimeoutSeconds)
                edge.idleSince = Self.monotonicSeconds()
            }
            scheduleWrite(edge)
        }
        if let apiPages = transport.apiPages, let page = apiPages(request) {
            answer(page)
        } else {
            api(request, answer)
        }
    }

    /// Input while a request is with the server: pipelining, which is not served; it is dropped
    /// and the socket closes after the answer.
    func pipelinedWhileAwaiting(_ edge: EdgeConnection) -> Int32 {
        edge.phase = .awaitingResponse(pipelined: true)
        return 0
    }

    // MARK: Responses

    private func refuse(_ edge: EdgeConnection, _ response: HTTPResponse) {
        respond(edge, response, keepAlive: false)
    }

    /// Queues the one response to the current request; without keep-alive the socket closes after it.
    func respond(_ edge: EdgeConnection, _ response: HTTPResponse, keepAlive: Bool, headOnly: Bool = false) {
        edge.enqueue(raw: (LWSFrame(response.serialized(keepAlive: keepAlive, headOnly: headOnly))))
        if !keepAlive {
            edge.phase = .closing(.flushing)
            setDeadline(edge, in: Self.closeDeadlineSeconds)
        }
    }

    private func logRefusal(_ edge: EdgeConnection, status: Int, _ message: String) {
        logger.debug("refused HTTP request", metadata: [
            "connection": "c\(edge.id)", "listener": "\(edge.listener)", "status": "\(status)", "reason": "\(message)",
        ])
    }
}
