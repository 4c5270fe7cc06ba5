// libFuzzer target: bytes on either listener → HTTP/1.1 requests → WebSocket handshake.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHTTP(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    var parser = HTTPRequestParser(limits: .init(maxHeadBytes: 1024, maxHeaderCount: 16, maxBodyBytes: 512))
    parser.append(bytes)
    for _ in 0..<8 {
        let step: HTTPRequestParser.Step
        do { step = try parser.next() } catch {
            precondition([400, 413, 431, 501, 505].contains(error.status), "unexpected status \(error.status)")
            return 0
        }
        switch step {
        case .needMore:
            return 0
        case .head(_, let length):
            precondition(length <= 512)
        case .complete(let request):
            precondition(request.body.count <= 512)
            _ = request.decodedPath
            _ = request.keepAlive
            _ = request.queryParameters
            if let response = try? WebSocketHandshake.accept(request, subprotocol: "hybridsync.v1") {
                precondition(response.starts(with: Array("HTTP/1.1 101 ".utf8)))
            }
        }
    }
    return 0
}
