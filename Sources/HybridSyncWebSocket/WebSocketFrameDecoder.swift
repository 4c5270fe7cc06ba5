/// The server side of RFC 6455 framing: bytes from a client in, whole messages and control frames out.
///
/// Enforces what a server must: every client frame masked, reserved bits clear (no extension is
/// negotiated), known opcodes, control frames final and at most 125 bytes, continuation only inside
/// a fragmented message, text valid UTF-8 (checked as it arrives, so a bad byte fails at once with
/// 1007), close codes and reasons valid, and messages at most `maxMessageBytes` (1009, refused from
/// the declared frame length before the payload is buffered).
public struct WebSocketFrameDecoder: Sendable {
    /// Largest message (all fragments together); larger ones are refused with 1009.
    public let maxMessageBytes: Int

    private var buffer: [UInt8] = []
    private var readIndex = 0
    /// The data message being reassembled, if any.
    private var messageOpcode: WebSocketOpcode?
    private var message: [UInt8] = []
    private var utf8 = UTF8Validator()
    /// Payload bytes of the incomplete frame at `readIndex` already checked as UTF-8 (text only),
    /// so invalid text fails as soon as it arrives, not when its frame ends.
    private var frameValidated = 0

    /// A decoder for one connection's frames.
    public init(maxMessageBytes: Int) {
        self.maxMessageBytes = maxMessageBytes
    }

    /// Bytes held for frames not yet complete (bounded by one frame header plus `maxMessageBytes`).
    public var bufferedCount: Int { buffer.count - readIndex + message.count }

    /// Adds received bytes.
    public mutating func append(_ bytes: some Collection<UInt8>) {
        if readIndex > 0, readIndex == buffer.count {
            buffer.removeAll(keepingCapacity: buffer.capacity <= Self.retainedCapacity)
            readIndex = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// Buffer capacity kept between frames; a big message's buffer is freed once it is decoded, so
    /// thousands of idle connections do not each hold their largest message's worth of memory.
    static let retainedCapacity = 4096

    /// The next complete message or control frame, or nil when more bytes are needed.
    public mutating func next() throws(WebSocketProtocolError) -> WebSocketEvent? {
        while true {
            let available = buffer.count - readIndex
            guard available >= 2 else { return nil }
            let b0 = buffer[readIndex], b1 = buffer[readIndex + 1]
            let fin = b0 & 0x80 != 0
            guard b0 & 0x70 == 0 else { throw WebSocketProtocolError(code: 1002, "reserved bits set without a negotiated extension") }
            guard let opcode = WebSocketOpcode(rawValue: b0 & 0x0F) else {
                throw WebSocketProtocolError(code: 1002, "unknown opcode \(b0 & 0x0F)")
            }
            guard b1 & 0x80 != 0 else { throw WebSocketProtocolError(code: 1002, "client frames must be masked") }
            var headerSize = 6
            var length = UInt64(b1 & 0x7F)
            if length == 126 {
                headerSize = 8
                guard available >= 4 else { return nil }
                length = UInt64(buffer[readIndex + 2]) << 8 | UInt64(buffer[readIndex + 3])
            } else if length == 127 {
                headerSize = 14
                guard available >= 10 else { return nil }
                length = 0
                for i in 0..<8 { length = length << 8 | UInt64(buffer[readIndex + 2 + i]) }
                guard length >> 63 == 0 else { throw WebSocketProtocolError(code: 1002, "frame length has its top bit set") }
            }
            if opcode.isControl {
                guard fin else { throw WebSocketProtocolError(code: 1002, "control frames cannot be fragmented") }
                guard length <= 125 else { throw WebSocketProtocolError(code: 1002, "control frame payload over 125 bytes") }
            } else if opcode == .continuation {
                guard messageOpcode != nil else { throw WebSocketProtocolError(code: 1002, "continuation frame without a message to continue") }
            } else if messageOpcode != nil {
                throw WebSocketProtocolError(code: 1002, "new message started before the previous one finished")
            }
            if !opcode.isControl, UInt64(message.count) + length > UInt64(maxMessageBytes) {
                throw WebSocketProtocolError(code: 1009, "message larger than \(maxMessageBytes) bytes")
            }
            let frameLength = headerSize + Int(length)
            let isText = opcode == .text || (opcode == .continuation && messageOpcode == .text)
            if isText, frameValidated == 0, opcode == .text { utf8 = UTF8Validator() }
            guard available >= frameLength else {
                if isText { try validatePartial(upTo: available - headerSize, headerSize: headerSize) }
                return nil
            }

            let maskStart = readIndex + headerSize - 4
            let mask = (buffer[maskStart], buffer[maskStart + 1], buffer[maskStart + 2], buffer[maskStart + 3])
            let payloadStart = readIndex + headerSize
            readIndex += frameLength
            let payload = Self.unmask(buffer, from: payloadStart, count: Int(length), mask: [mask.0, mask.1, mask.2, mask.3])
            let alreadyValidated = frameValidated
            frameValidated = 0
            if readIndex == buffer.count {
                buffer.removeAll(keepingCapacity: buffer.capacity <= Self.retainedCapacity)
                readIndex = 0
            }

            switch opcode {
            case .ping: return .ping(payload)
            case .pong: return .pong(payload)
            case .close: return try Self.close(payload)
            case .text, .binary, .continuation:
                if opcode != .continuation { messageOpcode = opcode }
                if messageOpcode == .text, !utf8.feed(payload[alreadyValidated...]) {
                    throw WebSocketProtocolError(code: 1007, "text message is not valid UTF-8")
                }
                message.append(contentsOf: payload)
                guard fin else { continue }
                let kind = messageOpcode
                let whole = message
                messageOpcode = nil
                message = []
                if kind == .text {
                    guard utf8.isComplete else { throw WebSocketProtocolError(code: 1007, "text message is not valid UTF-8") }
                    return .text(whole)
                }
                return .binary(whole)
            }
        }
    }

    /// Checks the part of an incomplete text frame that has arrived.
    private mutating func validatePartial(upTo arrived: Int, headerSize: Int) throws(WebSocketProtocolError) {
        guard arrived > frameValidated else { return }
        let maskStart = readIndex + headerSize - 4
        let mask = Array(buffer[maskStart..<maskStart + 4])
        for i in frameValidated..<arrived where !utf8.feed(buffer[readIndex + headerSize + i] ^ mask[i & 3]) {
            throw WebSocketProtocolError(code: 1007, "text message is not valid UTF-8")
        }
        frameValidated = arrived
    }

    private static func unmask(_ buffer: [UInt8], from start: Int, count: Int, mask: [UInt8]) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: count) { out, initialized in
            buffer.withUnsafeBufferPointer { source in
                for i in 0..<count { out[i] = source[start + i] ^ mask[i & 3] }
            }
            initialized = count
        }
    }

    private static func close(_ payload: [UInt8]) throws(WebSocketProtocolError) -> WebSocketEvent {
        if payload.isEmpty { return .close(code: nil, reason: "") }
        guard payload.count >= 2 else { throw WebSocketProtocolError(code: 1002, "close frame with a 1-byte payload") }
        let code = UInt16(payload[0]) << 8 | UInt16(payload[1])
        guard isValidCloseCode(code) else { throw WebSocketProtocolError(code: 1002, "invalid close code \(code)") }
        let reason = Array(payload[2...])
        guard UTF8Validator.isValid(reason) else { throw WebSocketProtocolError(code: 1007, "close reason is not valid UTF-8") }
        return .close(code: code, reason: String(decoding: reason, as: UTF8.self))
    }

    /// Codes a peer may send (RFC 6455 §7.4): the defined ones that are not reserved, and 3000–4999.
    static func isValidCloseCode(_ code: UInt16) -> Bool {
        switch code {
        case 1000...1003, 1007...1011, 3000...4999: true
        default: false
        }
    }
}
