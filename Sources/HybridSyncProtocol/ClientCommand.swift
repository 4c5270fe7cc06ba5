/// A command from a client to the server: `{"id":1,"op":"subscribe","channel":"moderation:bans"}`.
///
/// Every command carries a positive `id`; the reply carries the same `id`.
public struct ClientCommand: Sendable, Equatable {
    /// The id the reply carries (1 or more; unique among the commands in flight).
    public var id: UInt32
    /// What the command asks for.
    public var operation: Operation

    /// A command with `id` asking for `operation`.
    public init(id: UInt32, _ operation: Operation) {
        self.id = id
        self.operation = operation
    }

    /// What the command asks for.
    public enum Operation: Sendable, Equatable {
        /// Authenticate the connection with a JWT. Must be the first command.
        case connect(token: String, name: String?)
        /// Start receiving publications of a channel. With `since`, ask for exactly the publications
        /// missed after that position (recovery); the server falls back to a snapshot when it cannot.
        /// `token`: a subscription token (a JWT for this user and channel) where the namespace asks for one.
        case subscribe(channel: ChannelName, since: StreamPosition? = nil, token: String? = nil)
        /// Stop receiving publications of a channel.
        case unsubscribe(channel: ChannelName)
        /// Publish from the client, where the channel's namespace allows it.
        case publish(channel: ChannelName, data: JSONValue)
        /// What the channel's history still holds after `since` (all of it without `since`), for a
        /// backfill after continuity was lost. Same permission as `subscribe`; does not subscribe.
        case history(channel: ChannelName, since: StreamPosition?)
        /// Application-level liveness check (and the answer to a server `ping` push); the reply is empty.
        case ping
        /// Who is present on a channel the connection is subscribed to (a namespace with presence).
        case presence(channel: ChannelName)
        /// How many users, and contexts of theirs, are present on a subscribed channel.
        case presenceStats(channel: ChannelName)
        /// A fresh subscription token for a subscribed channel, before the one it holds expires
        /// (the subscription goes on; nothing is re-sent).
        case subscriptionRefresh(channel: ChannelName, token: String)

        /// The wire name of the operation.
        public var name: String {
            switch self {
            case .connect: "connect"
            case .subscribe: "subscribe"
            case .unsubscribe: "unsubscribe"
            case .publish: "publish"
            case .history: "history"
            case .ping: "ping"
            case .presence: "presence"
            case .presenceStats: "presence_stats"
            case .subscriptionRefresh: "sub_refresh"
            }
        }
    }
}

extension ClientCommand {
    /// The command as one JSON line (without the trailing newline).
    public func encoded() -> [UInt8] {
        var members: [String: JSONValue] = ["id": .int(Int64(id)), "op": .string(operation.name)]
        switch operation {
        case .connect(let token, let name):
            members["token"] = .string(token)
            if let name { members["name"] = .string(name) }
        case .subscribe(let channel, let since, let token):
            members["channel"] = .string(channel.rawValue)
            if let since { members["since"] = since.json }
            if let token { members["token"] = .string(token) }
        case .subscriptionRefresh(let channel, let token):
            members["channel"] = .string(channel.rawValue)
            members["token"] = .string(token)
        case .unsubscribe(let channel), .presence(let channel), .presenceStats(let channel):
            members["channel"] = .string(channel.rawValue)
        case .publish(let channel, let data):
            members["channel"] = .string(channel.rawValue)
            members["data"] = data
        case .history(let channel, let since):
            members["channel"] = .string(channel.rawValue)
            if let since { members["since"] = since.json }
        case .ping:
            break
        }
        return JSONValue.object(members).jsonBytes
    }

    /// Why a line could not be read as a command; `id` is set when the line had a usable one,
    /// so the error reply can be matched to the command.
    public struct DecodingError: Error, Sendable, Equatable {
        /// The command's id when it could be read (the error reply carries it), else nil.
        public var id: UInt32?
        /// What is wrong with the command, as the error reply says it.
        public var error: ReplyError
    }

    /// Reads one JSON line as a command, with an error that says exactly what is wrong.
    public static func decode(_ line: some Collection<UInt8>) -> Result<ClientCommand, DecodingError> {
        decode(Array(line))
    }

    /// ``decode(_:)-(some Collection<UInt8>)`` for a slice, the server's case: see ``JSONValue/parse(_:)-([UInt8])``.
    public static func decode(_ line: ArraySlice<UInt8>) -> Result<ClientCommand, DecodingError> {
        decode(Array(line))
    }

    /// ``decode(_:)-(some Collection<UInt8>)`` for an array.
    public static func decode(_ line: [UInt8]) -> Result<ClientCommand, DecodingError> {
        let value: JSONValue
        do {
            value = try JSONValue.parse(line)
        } catch {
            return .failure(DecodingError(id: nil, error: ReplyError(.badRequest, error.description)))
        }
        guard case .object = value else {
            return .failure(DecodingError(id: nil, error: ReplyError(.badRequest, "a command must be a JSON object")))
        }
        guard let rawID = value["id"]?.intValue, rawID > 0, rawID <= Int64(UInt32.max) else {
            return .failure(DecodingError(
                id: nil,
                error: ReplyError(.badRequest, "every command needs an 'id': an integer from 1 to \(UInt32.max)")
            ))
        }
        let id = UInt32(rawID)
        func fail(_ code: ErrorCode, _ message: String) -> Result<ClientCommand, DecodingError> {
            .failure(DecodingError(id: id, error: ReplyError(code, message)))
        }
        /// An optional member: JSON `null` counts as absent (many encoders write it for nil).
        func optional(_ name: String) -> JSONValue? {
            guard let member = value[name], member != .null else { return nil }
            return member
        }
        guard let op = value["op"]?.stringValue else {
            return fail(.badRequest, "every command needs an 'op' string (connect, subscribe, sub_refresh, unsubscribe, publish, history, presence, presence_stats, ping)")
        }
        func channel() -> Result<ChannelName, DecodingError> {
            guard let raw = value["channel"]?.stringValue else {
                return .failure(DecodingError(id: id, error: ReplyError(.badRequest, "'\(op)' needs a 'channel' string")))
            }
            do {
                return .success(try ChannelName(raw))
            } catch {
                return .failure(DecodingError(id: id, error: ReplyError(.invalidChannel, error.description)))
            }
        }
        switch op {
        case "connect":
            guard let token = value["token"]?.stringValue, !token.isEmpty else {
                return fail(.unauthorized, "'connect' needs a 'token' string holding a JWT")
            }
            return .success(ClientCommand(id: id, .connect(token: token, name: value["name"]?.stringValue)))
        case "subscribe", "history":
            var since: StreamPosition?
            if let raw = optional("since") {
                guard let position = StreamPosition(raw) else {
                    return fail(.badRequest, "'since' must be {\"epoch\": string, \"offset\": integer >= 0}")
                }
                since = position
            }
            if op == "history" { return channel().map { ClientCommand(id: id, .history(channel: $0, since: since)) } }
            var token: String?
            if let raw = optional("token") {
                guard let text = raw.stringValue, !text.isEmpty else { return fail(.badRequest, "'token' must be a non-empty string (a subscription token)") }
                token = text
            }
            return channel().map { ClientCommand(id: id, .subscribe(channel: $0, since: since, token: token)) }
        case "sub_refresh":
            guard let token = value["token"]?.stringValue, !token.isEmpty else {
                return fail(.badRequest, "'sub_refresh' needs a 'token' string holding a subscription token")
            }
            return channel().map { ClientCommand(id: id, .subscriptionRefresh(channel: $0, token: token)) }
        case "publish":
            guard let data = value["data"] else { return fail(.badRequest, "'publish' needs 'data' (any JSON value)") }
            guard optional("key") == nil else {
                return fail(.badRequest, "clients cannot set retained state: publish without 'key' (the backend API sets state)")
            }
            return channel().map { ClientCommand(id: id, .publish(channel: $0, data: data)) }
        case "unsubscribe":
            return channel().map { ClientCommand(id: id, .unsubscribe(channel: $0)) }
        case "presence":
            return channel().map { ClientCommand(id: id, .presence(channel: $0)) }
        case "presence_stats":
            return channel().map { ClientCommand(id: id, .presenceStats(channel: $0)) }
        case "ping":
            return .success(ClientCommand(id: id, .ping))
        default:
            return fail(.unknownCommand, "unknown op '\(op.prefix(40))': expected connect, subscribe, sub_refresh, unsubscribe, publish, history, presence, presence_stats or ping")
        }
    }
}
