/// Packs pending messages into the payload of one text frame, newline-separated (protocol v1 lets a
/// frame carry several messages), with `headroom` free bytes before it for the frame header and
/// whatever the socket layer needs (lws: LWS_PRE).
///
/// Coalescing pending messages into one WebSocket frame per write cut server CPU per delivery about
/// 20× in measurements (docs/ARCHITECTURE.md); `make microbench` measures this type.
public final class FramePacker {
    /// The largest payload it packs.
    public let capacity: Int
    /// Bytes kept free before ``payload``.
    public let headroom: Int
    private let storage: UnsafeMutableRawPointer
    /// Payload bytes packed so far.
    public private(set) var count = 0

    /// A packer for payloads of up to `capacity` bytes, with `headroom` free bytes before them.
    public init(capacity: Int, headroom: Int) {
        self.capacity = capacity
        self.headroom = headroom
        storage = UnsafeMutableRawPointer.allocate(byteCount: headroom + capacity, alignment: 16)
    }

    deinit { storage.deallocate() }

    /// The first payload byte; ``headroom`` bytes before it are free.
    public var payload: UnsafeMutablePointer<UInt8> {
        (storage + headroom).assumingMemoryBound(to: UInt8.self)
    }

    /// Starts a new frame.
    public func reset() { count = 0 }

    /// Appends one message (after a separating newline) if it fits; false when it does not.
    public func append(_ message: UnsafePointer<UInt8>, count length: Int) -> Bool {
        let needed = count == 0 ? length : length + 1
        guard count + needed <= capacity else { return false }
        if count > 0 {
            payload[count] = UInt8(ascii: "\n")
            count += 1
        }
        (payload + count).update(from: message, count: length)
        count += length
        return true
    }

    /// Writes the text frame's header just before the payload; returns its length (the frame starts
    /// at `payload - length` and is `length + count` bytes long).
    public func writeHeader() -> Int {
        WebSocketFrameHeader.write(opcode: .text, length: count, endingAt: payload)
    }
}
