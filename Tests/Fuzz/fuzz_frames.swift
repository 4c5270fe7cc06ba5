// libFuzzer target: client bytes after the upgrade → RFC 6455 frames → NDJSON lines → commands.
// Built by scripts/fuzz.sh with HybridSyncWebSocket, HybridSyncHTTP and HybridSyncProtocol compiled in.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzFrames(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let limit = 4096
    var decoder = WebSocketFrameDecoder(maxMessageBytes: limit)
    // Two reads, split where the first byte says, as a socket might deliver them.
    let split = bytes.isEmpty ? 0 : Int(bytes[0]) % (bytes.count + 1)
    for chunk in [bytes[..<split], bytes[split...]] {
        decoder.append(chunk)
        while true {
            let event: WebSocketEvent?
            do { event = try decoder.next() } catch {
                precondition([1002, 1007, 1009].contains(error.code), "unexpected close code \(error.code)")
                return 0
            }
            guard let event else { break }
            switch event {
            case .text(let message):
                precondition(message.count <= limit && UTF8Validator.isValid(message))
                for line in FrameCodec.messages(in: message) { _ = ClientCommand.decode(line) }
            case .binary(let message):
                precondition(message.count <= limit)
            case .ping(let payload), .pong(let payload):
                precondition(payload.count <= 125)
            case .close:
                break
            }
        }
        precondition(decoder.bufferedCount <= bytes.count)
    }
    return 0
}
