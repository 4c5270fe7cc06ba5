/// A message from the server: a reply to a command (has `id`) or a push (has `push`).
public enum ServerMessage: Sendable, Equatable {
    /// The answer to the command with this `id`.
    case reply(id: UInt32, Result<JSONValue, ReplyError>)
    /// Something the server sends on its own.
    case push(Push)
}

/// A server-initiated message.
public enum Push: Sendable, Equatable {
    /// A publication on a channel the connection subscribed to.
    case publication(Publication)
    /// The server is about to close the connection with this code.
    case disconnect(code: CloseCode, reason: String)
}

/// One publication on a channel: its data and its position in the channel's stream.
public struct Publication: Sendable, Equatable {
    public var channel: ChannelName
    /// Position in the channel's stream: 1 for the first publication, then +1 each time.
    public var offset: UInt64
    public var data: JSONValue

    public init(channel: ChannelName, offset: UInt64, data: JSONValue) {
        self.channel = channel
        self.offset = offset
        self.data = data
    }
}

/// The result of a successful `connect`.
public struct ConnectResult: Sendable, Equatable {
    /// The server's id for this connection, for logs and support.
    public var client: String
    /// The server's version.
    public var version: String

    public init(client: String, version: String) {
        self.client = client
        self.version = version
    }

    public var json: JSONValue { .object(["client": .string(client), "version": .string(version)]) }

    public init?(_ json: JSONValue) {
        guard let client = json["client"]?.stringValue, let version = json["version"]?.stringValue else { return nil }
        self.init(client: client, version: version)
    }
}

/// The result of a successful `subscribe`: the channel's current position.
public struct SubscribeResult: Sendable, Equatable {
    public var channel: ChannelName
    /// Identifies the channel's stream; it changes when the stream is lost (for example on restart).
    public var epoch: String
    /// The offset of the latest publication (0 when there was none).
    public var offset: UInt64

    public init(channel: ChannelName, epoch: String, offset: UInt64) {
        self.channel = channel
        self.epoch = epoch
        self.offset = offset
    }

    public var json: JSONValue {
        .object(["channel": .string(channel.rawValue), "epoch": .string(epoch), "offset": .int(Int64(offset))])
    }

    public init?(_ json: JSONValue) {
        guard let raw = json["channel"]?.stringValue, let channel = try? ChannelName(raw),
              let epoch = json["epoch"]?.stringValue, let offset = json["offset"]?.intValue, offset >= 0
        else { return nil }
        self.init(channel: channel, epoch: epoch, offset: UInt64(offset))
    }
}

extension ServerMessage {
    /// The message as one JSON line (without the trailing newline).
    public func encoded() -> [UInt8] {
        switch self {
        case .reply(let id, .success(let result)):
            return JSONValue.object(["id": .int(Int64(id)), "result": result]).jsonBytes
        case .reply(let id, .failure(let error)):
            return Self.encodeError(id: id, error)
        case .push(.publication(let publication)):
            return Self.encodePublication(
                channel: publication.channel, offset: publication.offset, data: publication.data.jsonBytes
            )
        case .push(.disconnect(let code, let reason)):
            return JSONValue.object([
                "push": .string("disconnect"), "code": .int(Int64(code.rawValue)), "reason": .string(reason),
                "reconnect": .bool(code.shouldReconnect),
            ]).jsonBytes
        }
    }

    /// An error reply. `id` 0 answers a line whose id could not be read.
    public static func encodeError(id: UInt32, _ error: ReplyError) -> [UInt8] {
        JSONValue.object([
            "id": .int(Int64(id)),
            "error": .object([
                "code": .int(Int64(error.code.rawValue)),
                "message": .string(error.message),
                "temporary": .bool(error.temporary),
            ]),
        ]).jsonBytes
    }

    /// A publication push built around already-encoded data, so a publication is encoded once
    /// and the same bytes go to every subscriber.
    public static func encodePublication(channel: ChannelName, offset: UInt64, data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(data.count + channel.rawValue.utf8.count + 64)
        out.append(contentsOf: #"{"push":"publication","channel":"#.utf8)
        JSONWriter.appendString(channel.rawValue, to: &out)
        out.append(contentsOf: #","offset":"#.utf8)
        out.append(contentsOf: String(offset).utf8)
        out.append(contentsOf: #","data":"#.utf8)
        out.append(contentsOf: data)
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// Why a server line could not be read.
    public struct DecodingError: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    /// Reads one JSON line from the server.
    public static func decode(_ line: some Collection<UInt8>) throws(DecodingError) -> ServerMessage {
        let value: JSONValue
        do {
            value = try JSONValue.parse(line)
        } catch {
            throw DecodingError(description: error.description)
        }
        if let rawID = value["id"]?.intValue {
            guard rawID >= 0, rawID <= Int64(UInt32.max) else { throw DecodingError(description: "reply id out of range") }
            if let error = value["error"] {
                guard let code = error["code"]?.intValue else { throw DecodingError(description: "error without code") }
                let reply = ReplyError(
                    ErrorCode(rawValue: Int(code)),
                    error["message"]?.stringValue ?? "",
                    temporary: error["temporary"]?.boolValue ?? false
                )
                return .reply(id: UInt32(rawID), .failure(reply))
            }
            return .reply(id: UInt32(rawID), .success(value["result"] ?? .object([:])))
        }
        switch value["push"]?.stringValue {
        case "publication":
            guard let raw = value["channel"]?.stringValue, let channel = try? ChannelName(raw),
                  let offset = value["offset"]?.intValue, offset >= 0, let data = value["data"]
            else { throw DecodingError(description: "publication push without channel, offset or data") }
            return .push(.publication(Publication(channel: channel, offset: UInt64(offset), data: data)))
        case "disconnect":
            guard let code = value["code"]?.intValue, let raw = UInt16(exactly: code) else {
                throw DecodingError(description: "disconnect push without a valid code")
            }
            return .push(.disconnect(code: CloseCode(rawValue: raw), reason: value["reason"]?.stringValue ?? ""))
        case let other?:
            throw DecodingError(description: "unknown push '\(other.prefix(40))'")
        case nil:
            throw DecodingError(description: "a server message has either 'id' or 'push'")
        }
    }
}
