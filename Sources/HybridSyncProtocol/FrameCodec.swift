/// One WebSocket text frame carries one or more messages separated by `\n` (newline-delimited JSON).
///
/// The server batches several pending messages into one frame; clients may batch commands the same way.
package enum FrameCodec {
    /// The messages in a frame, skipping empty lines (so a trailing newline is harmless).
    package static func messages(in frame: [UInt8]) -> [ArraySlice<UInt8>] {
        frame.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true)
            .filter { line in line.contains { !Self.isWhitespace($0) } }
    }

    /// Joins messages into one frame.
    package static func frame(_ messages: [[UInt8]]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(messages.reduce(0) { $0 + $1.count + 1 })
        for (index, message) in messages.enumerated() {
            if index > 0 { out.append(UInt8(ascii: "\n")) }
            out.append(contentsOf: message)
        }
        return out
    }

    private static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0D
    }
}

/// Protocol constants shared by server and clients.
package enum HybridSyncWire {
    /// The WebSocket subprotocol every client must request.
    package static let subprotocol = "hybridsync.v1"
    /// The version string the server reports in `connect` results and `/health`.
    package static let serverVersion = "0.3.0"
}
