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
    /// The user of this connection is banned; a close with 4501 follows.
    case banned(Ban)
    /// Liveness check: answer with any command (`ping` is the cheap one) before the pong timeout.
    case ping
    /// The server is about to close the connection with this code.
    case disconnect(code: CloseCode, reason: String)
    /// Who is present changed on a subscribed channel of a namespace with presence (`join`,
    /// `leave`, `presence_update`).
    case presence(PresenceChange)
    /// The server ended one subscription (its subscription token expired): the connection and its
    /// other subscriptions go on. `error` says why (code 117 for an expired token).
    case unsubscribed(channel: ChannelName, error: ReplyError)
}

/// What a `banned` push (and the `moderation:users` state value) says about a ban.
public struct Ban: Sendable, Equatable {
    /// Why the user is banned, as the backend said.
    public var reason: String
    /// When the ban ends (seconds since 1970); nil means until lifted.
    public var until: Double?

    /// A ban for `reason` until `until` (seconds since 1970), or until lifted when nil.
    public init(reason: String, until: Double?) {
        self.reason = reason
        self.until = until
    }
}

/// A position in a channel's stream: the epoch names the stream, the offset counts publications in it.
public struct StreamPosition: Sendable, Hashable, CustomStringConvertible {
    /// The stream's epoch: a new one means its history and offsets started again.
    public var epoch: String
    /// The offset of the last publication in the epoch (0 before the first).
    public var offset: UInt64

    /// The position `offset` in `epoch`.
    public init(epoch: String, offset: UInt64) {
        self.epoch = epoch
        self.offset = offset
    }

    /// `{"epoch", "offset"}`, as the protocol writes it.
    public var json: JSONValue { .object(["epoch": .string(epoch), "offset": .int(Int64(offset))]) }

    /// A result read back from its `json` (nil when a field is missing or mistyped).
    public init?(_ json: JSONValue) {
        guard let epoch = json["epoch"]?.stringValue, let offset = json["offset"]?.intValue, offset >= 0 else { return nil }
        self.init(epoch: epoch, offset: UInt64(offset))
    }

    /// `<epoch>/<offset>`.
    public var description: String { "\(epoch)/\(offset)" }
}

/// One publication on a channel: its data and its position in the channel's stream.
///
/// A publication with a `key` is also a retained-state change: it sets `key` to `data`, or removes
/// `key` when `removed` is true (then `data` is null).
public struct Publication: Sendable, Equatable {
    /// The channel it was published on.
    public var channel: ChannelName
    /// Position in the channel's stream: 1 for the first publication, then +1 each time.
    public var offset: UInt64
    /// What was published (for a state change: the key's new value, null when removed).
    public var data: JSONValue
    /// The retained-state key this publication sets or removes, if any.
    public var key: String?
    /// Whether this publication removes `key`.
    public var removed: Bool

    /// A publication; with `key` it changes that retained key (`removed` when it removes it).
    public init(channel: ChannelName, offset: UInt64, data: JSONValue, key: String? = nil, removed: Bool = false) {
        self.channel = channel
        self.offset = offset
        self.data = data
        self.key = key
        self.removed = removed
    }
}

/// One retained-state key's current value and the offset of the publication that set it.
public struct StateEntry: Sendable, Equatable {
    /// The key's value.
    public var value: JSONValue
    /// The offset of the publication that set it.
    public var version: UInt64

    /// A value set by the publication at `version`.
    public init(value: JSONValue, version: UInt64) {
        self.value = value
        self.version = version
    }

    /// `{"value", "version"}`, as the protocol writes it.
    public var json: JSONValue { .object(["value": value, "version": .int(Int64(version))]) }

    /// A result read back from its `json` (nil when a field is missing or mistyped).
    public init?(_ json: JSONValue) {
        guard let value = json["value"], let version = json["version"]?.intValue, version >= 0 else { return nil }
        self.init(value: value, version: UInt64(version))
    }
}

/// The result of a successful `connect`.
public struct ConnectResult: Sendable, Equatable {
    /// The server's id for this connection, for logs and support.
    public var client: String
    /// The protocol version the server speaks (docs/PROTOCOL.md, Changes).
    public var version: String
    /// Seconds between the server's `ping` pushes (wire name `ping`).
    public var pingInterval: Double
    /// With ``pingInterval``: a connection the server heard nothing from for
    /// `pingInterval + pongTimeout` seconds is closed with 4004 (wire name `pong`).
    public var pongTimeout: Double
    /// What the client must respect on this connection; nil from a server before protocol 0.2.0.
    public var limits: ConnectionLimits?

    /// A result with these members (`limits` nil: not advertised, as by a server before 0.2.0).
    public init(client: String, version: String, pingInterval: Double, pongTimeout: Double, limits: ConnectionLimits? = nil) {
        self.client = client
        self.version = version
        self.pingInterval = pingInterval
        self.pongTimeout = pongTimeout
        self.limits = limits
    }

    /// The result as the server sends it (`limits` only when set).
    public var json: JSONValue {
        var members: [String: JSONValue] = [
            "client": .string(client), "version": .string(version),
            "ping": .double(pingInterval), "pong": .double(pongTimeout),
        ]
        if let limits { members["limits"] = limits.json }
        return .object(members)
    }

    /// Reads a `connect` result; nil without `client` and `version`. A missing or unreadable
    /// `limits` member reads as nil.
    public init?(_ json: JSONValue) {
        guard let client = json["client"]?.stringValue, let version = json["version"]?.stringValue else { return nil }
        self.init(client: client, version: version, pingInterval: json["ping"]?.doubleValue ?? 0,
                  pongTimeout: json["pong"]?.doubleValue ?? 0, limits: json["limits"].flatMap(ConnectionLimits.init))
    }
}

/// The limits a client must respect on its connection, advertised in the `connect` result's
/// `limits` member: `{"maxMessageBytes":65536,"commandsPerSecond":50,"commandBurst":100}`.
public struct ConnectionLimits: Sendable, Equatable {
    /// The largest WebSocket message the server reads, in bytes of UTF-8 (one frame may carry several
    /// commands: the limit is for the frame's whole payload). A larger one closes the connection
    /// with 1009.
    public var maxMessageBytes: Int
    /// The rate the connection's command bucket refills at (error 111 when it is empty).
    public var commandsPerSecond: Double
    /// The bucket's size: commands that may be sent at once after a pause.
    public var commandBurst: Double

    /// Limits with these values.
    public init(maxMessageBytes: Int, commandsPerSecond: Double, commandBurst: Double) {
        self.maxMessageBytes = maxMessageBytes
        self.commandsPerSecond = commandsPerSecond
        self.commandBurst = commandBurst
    }

    /// The `limits` member as the server sends it.
    public var json: JSONValue {
        ["maxMessageBytes": .int(Int64(maxMessageBytes)), "commandsPerSecond": .double(commandsPerSecond),
         "commandBurst": .double(commandBurst)]
    }

    /// Reads a `limits` member; nil unless all three are there and `maxMessageBytes` is positive.
    public init?(_ json: JSONValue) {
        guard let bytes = json["maxMessageBytes"]?.intValue, bytes > 0,
              let rate = json["commandsPerSecond"]?.doubleValue, let burst = json["commandBurst"]?.doubleValue else { return nil }
        self.init(maxMessageBytes: Int(bytes), commandsPerSecond: rate, commandBurst: burst)
    }
}

/// The result of a successful `subscribe`.
public struct SubscribeResult: Sendable, Equatable {
    /// The channel subscribed to.
    public var channel: ChannelName
    /// The channel's current position (offset 0 when there was no publication yet).
    public var position: StreamPosition
    /// Set when the subscribe carried `since`: true means exactly the missed publications follow
    /// this reply as pushes; false means they could not be recovered (use `state`).
    public var recovered: Bool?
    /// The retained state at `position`, for namespaces that retain state (unless `recovered`).
    public var state: [String: StateEntry]?
    /// Seconds until the subscription ends unless refreshed (`sub_refresh`), for subscriptions held
    /// with a subscription token (its `exp`, counted on the server's clock: no clock skew).
    public var ttl: Double?

    /// A subscribe result at `position`; `recovered` when the subscriber's `since` was served from history, `state` for a namespace that retains state,
    /// `ttl` for a subscription held with a subscription token.
    public init(channel: ChannelName, position: StreamPosition, recovered: Bool? = nil, state: [String: StateEntry]? = nil, ttl: Double? = nil) {
        self.channel = channel
        self.position = position
        self.recovered = recovered
        self.state = state
        self.ttl = ttl
    }

    /// The result object of the reply, as the protocol writes it.
    public var json: JSONValue {
        var members: [String: JSONValue] = [
            "channel": .string(channel.rawValue), "epoch": .string(position.epoch),
            "offset": .int(Int64(position.offset)),
        ]
        if let recovered { members["recovered"] = .bool(recovered) }
        if let state { members["state"] = .object(state.mapValues(\.json)) }
        if let ttl { members["ttl"] = .double(ttl) }
        return .object(members)
    }

    /// A result read back from its `json` (nil when a field is missing or mistyped).
    public init?(_ json: JSONValue) {
        guard let raw = json["channel"]?.stringValue, let channel = try? ChannelName(raw),
              let position = StreamPosition(json)
        else { return nil }
        var state: [String: StateEntry]?
        if case .object(let members)? = json["state"] {
            var entries: [String: StateEntry] = [:]
            for (key, value) in members {
                guard let entry = StateEntry(value) else { return nil }
                entries[key] = entry
            }
            state = entries
        }
        self.init(channel: channel, position: position, recovered: json["recovered"]?.boolValue, state: state, ttl: json["ttl"]?.doubleValue)
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
                channel: publication.channel, offset: publication.offset, data: publication.data.jsonBytes,
                key: publication.key, removed: publication.removed
            )
        case .push(.banned(let ban)):
            var members: [String: JSONValue] = ["push": .string("banned"), "reason": .string(ban.reason)]
            members["until"] = ban.until.map { .double($0) } ?? .null
            return JSONValue.object(members).jsonBytes
        case .push(.ping):
            return Array(#"{"push":"ping"}"#.utf8)
        case .push(.disconnect(let code, let reason)):
            return JSONValue.object([
                "push": .string("disconnect"), "code": .int(Int64(code.rawValue)), "reason": .string(reason),
                "reconnect": .bool(code.shouldReconnect),
            ]).jsonBytes
        case .push(.presence(let change)):
            return change.pushJSON.jsonBytes
        case .push(.unsubscribed(let channel, let error)):
            return JSONValue.object([
                "push": .string("unsubscribed"), "channel": .string(channel.rawValue), "code": .int(Int64(error.code.rawValue)),
                "message": .string(error.message), "temporary": .bool(error.temporary),
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
    public static func encodePublication(
        channel: ChannelName, offset: UInt64, data: [UInt8], key: String? = nil, removed: Bool = false
    ) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(data.count + channel.rawValue.utf8.count + 64)
        out.append(contentsOf: #"{"push":"publication","channel":"#.utf8)
        JSONWriter.appendString(channel.rawValue, to: &out)
        out.append(contentsOf: #","offset":"#.utf8)
        out.append(contentsOf: String(offset).utf8)
        if let key {
            out.append(contentsOf: #","key":"#.utf8)
            JSONWriter.appendString(key, to: &out)
        }
        if removed { out.append(contentsOf: #","removed":true"#.utf8) }
        out.append(contentsOf: #","data":"#.utf8)
        out.append(contentsOf: data)
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// Why a server line could not be read.
    public struct DecodingError: Error, Sendable, CustomStringConvertible {
        /// The reason, for logs and failure messages.
        public let description: String
    }

    /// Reads one JSON line from the server.
    public static func decode(_ line: some Collection<UInt8>) throws(DecodingError) -> ServerMessage {
        try decode(Array(line))
    }

    /// ``decode(_:)-(some Collection<UInt8>)`` for a slice (a line of a frame): see ``JSONValue/parse(_:)-([UInt8])``.
    public static func decode(_ line: ArraySlice<UInt8>) throws(DecodingError) -> ServerMessage {
        try decode(Array(line))
    }

    /// ``decode(_:)-(some Collection<UInt8>)`` for an array.
    public static func decode(_ line: [UInt8]) throws(DecodingError) -> ServerMessage {
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
                  let offset = value["offset"]?.intValue, offset >= 0
            else { throw DecodingError(description: "publication push without channel or offset") }
            let removed = value["removed"]?.boolValue ?? false
            let data: JSONValue
            if let present = value["data"] {
                data = present
            } else if removed {
                data = .null
            } else {
                throw DecodingError(description: "publication push without data")
            }
            return .push(.publication(Publication(
                channel: channel, offset: UInt64(offset), data: data, key: value["key"]?.stringValue, removed: removed
            )))
        case "banned":
            return .push(.banned(Ban(reason: value["reason"]?.stringValue ?? "", until: value["until"]?.doubleValue)))
        case "ping":
            return .push(.ping)
        case "disconnect":
            guard let code = value["code"]?.intValue, let raw = UInt16(exactly: code) else {
                throw DecodingError(description: "disconnect push without a valid code")
            }
            return .push(.disconnect(code: CloseCode(rawValue: raw), reason: value["reason"]?.stringValue ?? ""))
        case "unsubscribed":
            guard let raw = value["channel"]?.stringValue, let channel = try? ChannelName(raw), let code = value["code"]?.intValue else {
                throw DecodingError(description: "unsubscribed push without channel or code")
            }
            let error = ReplyError(ErrorCode(rawValue: Int(code)), value["message"]?.stringValue ?? "", temporary: value["temporary"]?.boolValue)
            return .push(.unsubscribed(channel: channel, error: error))
        case "join", "leave", "presence_update":
            guard let change = PresenceChange(pushJSON: value) else { throw DecodingError(description: "presence push without channel or user") }
            return .push(.presence(change))
        case let other?:
            throw DecodingError(description: "unknown push '\(other.prefix(40))'")
        case nil:
            throw DecodingError(description: "a server message has either 'id' or 'push'")
        }
    }
}

/// The result of a successful `history`: the channel's position and the publications its history
/// still holds after the asked position, in order.
public struct HistoryResult: Sendable, Equatable {
    /// The channel asked about.
    public var channel: ChannelName
    /// The channel's position when the server answered.
    public var position: StreamPosition
    /// The publications still in history after the asked position, in order.
    public var publications: [Publication]

    /// A history answer.
    public init(channel: ChannelName, position: StreamPosition, publications: [Publication]) {
        self.channel = channel
        self.position = position
        self.publications = publications
    }

    /// The result as the wire's JSON object.
    public var json: JSONValue {
        .object([
            "channel": .string(channel.rawValue), "epoch": .string(position.epoch), "offset": .int(Int64(position.offset)),
            "publications": .array(publications.map(\.json)),
        ])
    }

    /// Reads a history result; nil when a member is missing or malformed.
    public init?(_ json: JSONValue) {
        guard let raw = json["channel"]?.stringValue, let channel = try? ChannelName(raw),
              let position = StreamPosition(json), case .array(let items)? = json["publications"]
        else { return nil }
        var publications: [Publication] = []
        for item in items {
            guard let publication = Publication(item) else { return nil }
            publications.append(publication)
        }
        self.init(channel: channel, position: position, publications: publications)
    }
}

extension Publication {
    /// Reads the API's JSON object of a publication (``json``).
    public init?(_ json: JSONValue) {
        guard let raw = json["channel"]?.stringValue, let channel = try? ChannelName(raw),
              let offset = json["offset"]?.intValue, offset >= 0
        else { return nil }
        let removed = json["removed"]?.boolValue ?? false
        let data: JSONValue
        if let present = json["data"] { data = present } else if removed { data = .null } else { return nil }
        self.init(channel: channel, offset: UInt64(offset), data: data, key: json["key"]?.stringValue, removed: removed)
    }

    /// The publication as the API's JSON object (the push without `"push"`).
    public var json: JSONValue {
        var members: [String: JSONValue] = ["channel": .string(channel.rawValue), "offset": .int(Int64(offset)), "data": data]
        if let key { members["key"] = .string(key) }
        if removed { members["removed"] = .bool(true) }
        return .object(members)
    }
}
