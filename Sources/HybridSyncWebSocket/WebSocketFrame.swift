/// WebSocket opcodes (RFC 6455 §5.2).
public enum WebSocketOpcode: UInt8, Sendable {
    /// A further fragment of the current message.
    case continuation = 0x0
    /// A text message (UTF-8).
    case text = 0x1
    /// A binary message.
    case binary = 0x2
    /// The closing handshake.
    case close = 0x8
    /// A ping (control frame).
    case ping = 0x9
    /// A pong (control frame).
    case pong = 0xA

    var isControl: Bool { rawValue & 0x8 != 0 }
}

/// What a peer sent, one whole message or control frame at a time.
public enum WebSocketEvent: Sendable, Equatable {
    /// A complete text message, already checked to be UTF-8.
    case text([UInt8])
    /// A complete binary message.
    case binary([UInt8])
    /// A ping with its payload (answered with a pong carrying the same bytes).
    case ping([UInt8])
    /// A pong with its payload.
    case pong([UInt8])
    /// The peer's close frame: its code (nil when it sent none) and reason.
    case close(code: UInt16?, reason: String)
}

/// A protocol violation: close the connection with `code` (1002, 1007 or 1009) and `reason`.
public struct WebSocketProtocolError: Error, Sendable, Equatable {
    /// The close code to send: 1002, 1007 or 1009.
    public let code: UInt16
    /// The close reason to send (and log).
    public let reason: String

    /// A violation to answer with `code` and `reason`.
    public init(code: UInt16, _ reason: String) {
        self.code = code
        self.reason = reason
    }
}

/// Server-to-client frame headers (unmasked, as RFC 6455 §5.1 requires of servers).
public enum WebSocketFrameHeader {
    /// Largest header a server frame needs.
    public static let maxSize = 10

    /// Writes the header for a final frame of `opcode` with `length` payload bytes so that it ends
    /// exactly at `end` (the first payload byte); returns the header's size.
    @discardableResult
    public static func write(opcode: WebSocketOpcode, length: Int, endingAt end: UnsafeMutablePointer<UInt8>) -> Int {
        let first = 0x80 | opcode.rawValue
        if length < 126 {
            (end - 2).pointee = first
            (end - 1).pointee = UInt8(length)
            return 2
        }
        if length <= 0xFFFF {
            let start = end - 4
            start[0] = first
            start[1] = 126
            start[2] = UInt8(length >> 8)
            start[3] = UInt8(truncatingIfNeeded: length)
            return 4
        }
        let start = end - 10
        start[0] = first
        start[1] = 127
        for i in 0..<8 { start[2 + i] = UInt8(truncatingIfNeeded: UInt64(length) >> UInt64(56 - 8 * i)) }
        return 10
    }

    /// A whole server frame as bytes (for control frames and tests).
    public static func frame(_ opcode: WebSocketOpcode, _ payload: [UInt8]) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: maxSize + payload.count)
        let size = bytes.withUnsafeMutableBufferPointer { buffer in
            write(opcode: opcode, length: payload.count, endingAt: buffer.baseAddress! + maxSize)
        }
        bytes.replaceSubrange(maxSize..., with: payload)
        return Array(bytes[(maxSize - size)...])
    }

    /// A close frame's payload: the code, then the reason cut to fit 125 bytes on a UTF-8 boundary.
    public static func closePayload(code: UInt16, reason: String) -> [UInt8] {
        var text = Array(reason.utf8.prefix(123))
        while !UTF8Validator.isValid(text) { text.removeLast() }
        return [UInt8(code >> 8), UInt8(truncatingIfNeeded: code)] + text
    }
}
