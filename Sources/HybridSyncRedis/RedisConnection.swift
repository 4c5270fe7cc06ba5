import CHiredis

/// A Redis reply as Swift values (RESP2, what hiredis 0.14 reads).
package enum RedisValue: Sendable, Equatable {
    /// A bulk or status string.
    case string([UInt8])
    /// An integer reply.
    case integer(Int64)
    /// An array reply (nested replies).
    case array([RedisValue])
    /// A nil bulk string or array (Lua's `false`).
    case null
    /// An error reply (`-ERR …`).
    case error(String)

    /// The string as text, if this is a string.
    var text: String? {
        if case .string(let bytes) = self { return String(decoding: bytes, as: UTF8.self) }
        return nil
    }

    /// The value as an integer: an integer reply, or a string of digits.
    var int: Int64? {
        switch self {
        case .integer(let value): value
        case .string: text.flatMap { Int64($0) }
        default: nil
        }
    }

    /// The elements, if this is an array.
    var elements: [RedisValue]? {
        if case .array(let values) = self { return values }
        return nil
    }
}

/// Why a Redis connection failed (connect, I/O or protocol): the connection cannot be used again.
struct RedisConnectionError: Error, CustomStringConvertible {
    let description: String
}

/// One blocking hiredis connection, used by one thread at a time. Commands go through the argv
/// forms (`redisAppendCommandArgv`), which are binary-safe and need no format string.
final class RedisConnection {
    private let context: UnsafeMutablePointer<redisContext>

    /// Connects to `host:port` within `timeoutMillis`; reads and writes then wait at most
    /// `ioTimeoutMillis` (0: without limit).
    init(host: String, port: Int, timeoutMillis: Int, ioTimeoutMillis: Int) throws(RedisConnectionError) {
        guard let context = hs_redis_connect(host, Int32(port), timeoutMillis) else {
            throw RedisConnectionError(description: "cannot allocate a hiredis context")
        }
        if context.pointee.err != 0 {
            let message = Self.message(of: context)
            redisFree(context)
            throw RedisConnectionError(description: "cannot connect to Redis at \(host):\(port): \(message)")
        }
        _ = hs_redis_set_timeout(context, ioTimeoutMillis)
        _ = redisEnableKeepAlive(context)
        self.context = context
    }

    deinit { redisFree(context) }

    /// Sends every command, then reads one reply per command, in order (one round trip).
    func pipeline(_ commands: [[[UInt8]]]) throws(RedisConnectionError) -> [RedisValue] {
        for command in commands { try append(command) }
        var replies: [RedisValue] = []
        replies.reserveCapacity(commands.count)
        for _ in commands { replies.append(try readReply()) }
        return replies
    }

    /// One command and its reply.
    func command(_ argv: [[UInt8]]) throws(RedisConnectionError) -> RedisValue {
        try pipeline([argv])[0]
    }

    /// One command from strings.
    func command(_ argv: String...) throws(RedisConnectionError) -> RedisValue {
        try command(argv.map { Array($0.utf8) })
    }

    private func append(_ argv: [[UInt8]]) throws(RedisConnectionError) {
        // One contiguous buffer holds every argument; argv points into it.
        var flat: [UInt8] = []
        flat.reserveCapacity(argv.reduce(1) { $0 + $1.count })
        var offsets: [Int] = []
        offsets.reserveCapacity(argv.count)
        for argument in argv {
            offsets.append(flat.count)
            flat.append(contentsOf: argument)
        }
        flat.append(0)
        let lengths = argv.map(\.count)
        let status = flat.withUnsafeBufferPointer { buffer -> Int32 in
            let base = UnsafeRawPointer(buffer.baseAddress!).assumingMemoryBound(to: CChar.self)
            var pointers: [UnsafePointer<CChar>?] = offsets.map { base + $0 }
            return pointers.withUnsafeMutableBufferPointer { argvPointer in
                lengths.withUnsafeBufferPointer { lengthPointer in
                    redisAppendCommandArgv(context, Int32(argv.count), argvPointer.baseAddress, lengthPointer.baseAddress)
                }
            }
        }
        guard status == REDIS_OK else { throw RedisConnectionError(description: Self.message(of: context)) }
    }

    private func readReply() throws(RedisConnectionError) -> RedisValue {
        var raw: UnsafeMutableRawPointer?
        guard redisGetReply(context, &raw) == REDIS_OK, let raw else {
            throw RedisConnectionError(description: Self.message(of: context))
        }
        defer { freeReplyObject(raw) }
        return Self.value(of: raw.assumingMemoryBound(to: redisReply.self))
    }

    private static func value(of reply: UnsafeMutablePointer<redisReply>) -> RedisValue {
        switch reply.pointee.type {
        case REDIS_REPLY_STRING, REDIS_REPLY_STATUS:
            return .string(bytes(reply))
        case REDIS_REPLY_ERROR:
            return .error(String(decoding: bytes(reply), as: UTF8.self))
        case REDIS_REPLY_INTEGER:
            return .integer(reply.pointee.integer)
        case REDIS_REPLY_ARRAY:
            return .array((0..<reply.pointee.elements).map { value(of: hs_redis_element(reply, $0)) })
        default:
            return .null
        }
    }

    private static func bytes(_ reply: UnsafeMutablePointer<redisReply>) -> [UInt8] {
        guard let pointer = reply.pointee.str, reply.pointee.len > 0 else { return [] }
        return Array(UnsafeRawBufferPointer(start: pointer, count: reply.pointee.len))
    }

    private static func message(of context: UnsafeMutablePointer<redisContext>) -> String {
        let text = withUnsafeBytes(of: context.pointee.errstr) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        return text.isEmpty ? "connection error \(context.pointee.err)" : text
    }
}
