// libFuzzer target: a token string → compact JWS parse → signature check with a fixed HS256 key.

private let secret = Array("fuzz-secret-fuzz-secret-fuzz-secret".utf8)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJWT(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    guard let token = try? JSONWebToken(compact: text) else { return 0 }
    _ = token.algorithm
    if (try? token.verify(hmacSecret: secret, publicKeys: [])) != nil {
        // With only an HMAC secret configured, nothing but HS256 may ever verify.
        precondition(token.algorithm == "HS256", "verified a token with alg \(token.algorithm ?? "nil")")
    }
    return 0
}
