public import HybridSyncProtocol
import HybridSyncCrypto
import Logging

/// The backend HTTP API (see docs/API.md).
extension SyncServer {
    public func handle(_ request: HTTPRequest) -> HTTPResponse {
        if request.path == "/health" {
            guard request.method == "GET" else { return methodNotAllowed(request, allowed: "GET") }
            return health()
        }
        guard request.path.hasPrefix("/api/") else {
            return .error(404, code: "not_found", message: "no route \(request.method) \(request.path.prefix(100))")
        }
        guard authorized(request) else {
            logger.info("API request refused: bad or missing API key", metadata: ["path": "\(request.path.prefix(100))"])
            return .error(401, code: "unauthorized", message: "send the API key as 'Authorization: Bearer <key>'")
        }
        if request.path == "/api/publish" {
            guard request.method == "POST" else { return methodNotAllowed(request, allowed: "POST") }
            return publish(request.body)
        }
        let channelPrefix = "/api/channels/"
        if request.path.hasPrefix(channelPrefix) {
            guard request.method == "GET" else { return methodNotAllowed(request, allowed: "GET") }
            return channelInfo(String(request.path.dropFirst(channelPrefix.count)))
        }
        return .error(404, code: "not_found", message: "no route \(request.method) \(request.path.prefix(100))")
    }

    private func authorized(_ request: HTTPRequest) -> Bool {
        guard let header = request.authorization, header.hasPrefix("Bearer ") else { return false }
        return apiKey.matches(String(header.dropFirst("Bearer ".count)))
    }

    private func methodNotAllowed(_ request: HTTPRequest, allowed: String) -> HTTPResponse {
        .error(405, code: "method_not_allowed", message: "\(request.path) accepts \(allowed), not \(request.method)")
    }

    private func health() -> HTTPResponse {
        HTTPResponse(status: 200, json: .object([
            "status": .string("ok"),
            "version": .string(HybridSyncWire.serverVersion),
            "connections": .int(Int64(sessions.count)),
            "channels": .int(Int64(channels.count)),
        ]))
    }

    /// `POST /api/publish {"channel": "...", "data": <any JSON>}`.
    private func publish(_ body: [UInt8]) -> HTTPResponse {
        let request: JSONValue
        do {
            request = try JSONValue.parse(body)
        } catch {
            return .error(400, code: "bad_request", message: "body is not JSON: \(error.description)")
        }
        guard let rawChannel = request["channel"]?.stringValue else {
            return .error(400, code: "bad_request", message: "body needs a 'channel' string")
        }
        let name: ChannelName
        do {
            name = try ChannelName(rawChannel)
        } catch {
            return .error(400, code: "invalid_channel", message: error.description)
        }
        guard let data = request["data"] else {
            return .error(400, code: "bad_request", message: "body needs 'data' (any JSON value)")
        }
        let result = publish(data, to: name)
        return HTTPResponse(status: 200, json: .object([
            "channel": .string(name.rawValue),
            "offset": .int(Int64(result.offset)),
            "subscribers": .int(Int64(result.subscribers)),
        ]))
    }

    /// Sequences one publication and fans the same encoded bytes out to every subscriber.
    @discardableResult
    public func publish(_ data: JSONValue, to name: ChannelName) -> (offset: UInt64, subscribers: Int) {
        let channel = channel(name)
        let offset = channel.nextOffset()
        let message = OutboundMessage(ServerMessage.encodePublication(channel: name, offset: offset, data: data.jsonBytes))
        transport.send(message, to: channel.subscribers)
        logger.debug("published", metadata: ["channel": "\(name)", "offset": "\(offset)", "subscribers": "\(channel.subscribers.count)"])
        return (offset, channel.subscribers.count)
    }

    /// `GET /api/channels/<channel>`: live subscriber count and stream position.
    private func channelInfo(_ rawChannel: String) -> HTTPResponse {
        let name: ChannelName
        do {
            name = try ChannelName(rawChannel)
        } catch {
            return .error(400, code: "invalid_channel", message: error.description)
        }
        let channel = channels[name]
        return HTTPResponse(status: 200, json: .object([
            "channel": .string(name.rawValue),
            "subscribers": .int(Int64(channel?.subscribers.count ?? 0)),
            "epoch": channel.map { .string($0.epoch) } ?? .null,
            "offset": .int(Int64(channel?.offset ?? 0)),
        ]))
    }
}
