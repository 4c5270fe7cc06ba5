import CLibWebSockets
import Synchronization
import HybridSyncProtocol
import HybridSyncWebSocket
import Logging

/// HTTP/1.1 on both listeners: exactly one response per request, then keep-alive (API) or close.
extension LWSServerTransport {
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
                if edge.listener == .public, error.status == 413 {
                    refuse(edge, Self.notAnAPIPort)  // a body is never read here, whatever its size
                } else {
                    refuse(edge, .error(error.status, code: Self.errorCode(for: error.status), message: error.message))
                }
                return 0
            }
            switch step {
            case .needMore:
                return 0
            case .head(let head, _):
                setDeadline(edge, in: configuration.httpBodyTimeoutSeconds)
                if head.tokens("expect").contains(where: { $0.lowercased() == "100-continue" }) {
                    edge.enqueue(.raw(LWSFrame(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8))))
                }
            case .complete(let head, let body):
                let leftover = edge.parser.takeBuffered()
                switch edge.listener {
                case .public: publicRequest(edge, head, leftover: leftover)
                case .api: apiRequest(edge, head, body: body, pipelined: !leftover.isEmpty)
                }
                return 0
            }
        }
    }

    // MARK: Public listener: WebSocket upgrades, and its pages

    private func publicRequest(_ edge: EdgeConnection, _ head: HTTPRequestHead, leftover: [UInt8]) {
        let echo = configuration.echoPath.map { $0 == head.path } ?? false
        guard WebSocketHandshake.isUpgradeRequest(head) else {
            // One page per connection: the public listener keeps nothing alive but WebSockets.
            if let publicPages, let path = head.decodedPath, let page = publicPages(Self.request(head, path: path)) {
                respond(edge, page, keepAlive: false, headOnly: head.method == "HEAD")
            } else {
                refuse(edge, Self.notAnAPIPort)
            }
            return
        }
        if draining {
            refuse(edge, .error(503, code: "shutting_down", message: "server shutting down; reconnect to another node or later"))
            return
        }
        let origin = head.header("origin")
        if !configuration.allowedOrigins.isEmpty, let origin, !configuration.allowedOrigins.contains(origin) {
            let (log, suppressed) = originLog.shouldLog(now: Self.monotonicSeconds())
            if log {
                logger.info("refused WebSocket from a disallowed origin", metadata: [
                    "origin": "\(origin.prefix(100))", "refused_since_last_line": "\(suppressed)",
                ])
            }
            refuse(edge, .error(403, code: "origin_not_allowed", message: "origin not allowed"))
            return
        }
        let accepted: [UInt8]
        do {
            accepted = try WebSocketHandshake.accept(head, subprotocol: echo ? nil : HybridSyncWire.subprotocol)
        } catch {
            logRefusal(edge, status: error.status, error.message)
            refuse(edge, .error(error.status, code: Self.errorCode(for: error.status), message: error.message))
            return
        }
        edge.enqueue(.raw(LWSFrame(accepted)))
        edge.phase = .webSocket
        edge.writesDirectly = lws_is_ssl(edge.wsi) == 0
        edge.decoder = WebSocketFrameDecoder(maxMessageBytes: configuration.maxMessageBytes)
        edge.echo = echo
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

    static let notAnAPIPort = HTTPResponse.error(426, code: "upgrade_required", message:
        "this port speaks WebSocket with subprotocol \(HybridSyncWire.subprotocol); the HTTP API listens elsewhere")

    // MARK: API listener

    private func apiRequest(_ edge: EdgeConnection, _ head: HTTPRequestHead, body: [UInt8], pipelined: Bool) {
        guard !WebSocketHandshake.isUpgradeRequest(head) else {
            refuse(edge, .error(400, code: "bad_request", message: "the API does not upgrade connections (no WebSocket, no h2c)"))
            return
        }
        guard let path = head.decodedPath else {
            refuse(edge, .error(400, code: "bad_request", message: "malformed percent-encoding in the path"))
            return
        }
        guard let delegate else { return }
        var request = Self.request(head, path: path)
        request.body = body
        // Nothing more is read until the answer is queued; the server always answers (an engine
        // failure is a 503), so no deadline runs meanwhile.
        edge.phase = .awaitingResponse
        edge.deadline = nil
        let id = edge.id
        let answer: (HTTPResponse) -> Void = { [weak self] response in
            guard let self, let edge = connections[id], edge.phase == .awaitingResponse else { return }
            // Pipelined requests are not served: answer this one, then close (the client retries the rest).
            let keepAlive = head.keepAlive && !pipelined && !edge.receivedWhileAwaiting
            edge.phase = .http
            respond(edge, response, keepAlive: keepAlive, headOnly: head.method == "HEAD")
            if keepAlive {
                setDeadline(edge, in: configuration.httpHeaderTimeoutSeconds)
                edge.idleSince = Self.monotonicSeconds()
            }
            scheduleWrite(edge)
        }
        if let apiPages, let page = apiPages(request) {
            answer(page)
        } else {
            delegate.handle(request, respond: answer)
        }
    }

    /// The request as the server and the pages see it (the body is added for the API).
    private static func request(_ head: HTTPRequestHead, path: String) -> HTTPRequest {
        var headers: [String: String] = [:]
        for field in head.headers {
            headers[field.name] = headers[field.name].map { "\($0), \(field.value)" } ?? field.value
        }
        return HTTPRequest(method: head.method, path: path, query: head.query, authorization: head.header("authorization"),
                           headers: headers, queryParameters: head.queryParameters)
    }

    /// Input while a request is with the server: pipelining, which is not served; it is dropped
    /// and the socket closes after the answer.
    func pipelinedWhileAwaiting(_ edge: EdgeConnection) -> Int32 {
        edge.receivedWhileAwaiting = true
        return 0
    }

    // MARK: Responses

    private func refuse(_ edge: EdgeConnection, _ response: HTTPResponse) {
        edge.phase = .closing
        respond(edge, response, keepAlive: false)
    }

    /// Queues the one response to the current request; without keep-alive the socket closes after it.
    /// A `HEAD` request gets the head a `GET` would (`Content-Length` included) without the body;
    /// a 304 has neither.
    func respond(_ edge: EdgeConnection, _ response: HTTPResponse, keepAlive: Bool, headOnly: Bool = false) {
        var head = "HTTP/1.1 \(response.status) \(Self.reasonPhrase(response.status))\r\n"
        head += "Server: hybridsyncd\r\nContent-Type: \(response.contentType)\r\n"
        if !response.headers.keys.contains(where: { $0.lowercased() == "cache-control" }) { head += "Cache-Control: no-store\r\n" }
        for (name, value) in response.headers.sorted(by: { $0.key < $1.key }) { head += "\(name): \(value)\r\n" }
        let withBody = response.status != 304 && !headOnly
        if response.status != 304 { head += "Content-Length: \(response.body.count)\r\n" }
        if !keepAlive { head += "Connection: close\r\n" }
        head += "\r\n"
        edge.enqueue(.raw(LWSFrame(Array(head.utf8) + (withBody ? response.body : []))))
        if !keepAlive {
            edge.phase = .closing
            edge.closeAfterFlush = true
            setDeadline(edge, in: Self.closeDeadlineSeconds)
        }
    }

    private func logRefusal(_ edge: EdgeConnection, status: Int, _ message: String) {
        logger.debug("refused HTTP request", metadata: [
            "connection": "c\(edge.id)", "listener": "\(edge.listener)", "status": "\(status)", "reason": "\(message)",
        ])
    }

    static func errorCode(for status: Int) -> String {
        switch status {
        case 400: "bad_request"
        case 413: "payload_too_large"
        case 426: "upgrade_required"
        case 431: "headers_too_large"
        case 501: "not_implemented"
        case 505: "http_version_not_supported"
        default: "bad_request"
        }
    }

    static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 200: "OK"
        case 201: "Created"
        case 204: "No Content"
        case 304: "Not Modified"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 409: "Conflict"
        case 413: "Content Too Large"
        case 426: "Upgrade Required"
        case 429: "Too Many Requests"
        case 431: "Request Header Fields Too Large"
        case 500: "Internal Server Error"
        case 501: "Not Implemented"
        case 503: "Service Unavailable"
        case 505: "HTTP Version Not Supported"
        default: "Status"
        }
    }
}
