public import HybridSyncHTTP

/// The server side of the RFC 6455 opening handshake: checks an upgrade request and writes the
/// `101 Switching Protocols` answer.
public enum WebSocketHandshake {
    /// The GUID RFC 6455 §1.3 appends to the client's key.
    static let guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    /// Whether `head` asks for any protocol upgrade (WebSocket, h2c or anything else).
    public static func isUpgradeRequest(_ head: HTTPRequest) -> Bool {
        head.header("upgrade") != nil || head.tokens("connection").contains { $0.equalsIgnoringASCIICase("upgrade") }
    }

    /// Checks a WebSocket upgrade request. `subprotocol`, when given, must be among those the
    /// client offers. Returns the `101` response head, or an error with the status to answer.
    public static func accept(_ head: HTTPRequest, subprotocol: String?) throws(HTTPError) -> [UInt8] {
        guard let upgrade = head.header("upgrade"), upgrade[...].equalsIgnoringASCIICase("websocket") else {
            throw HTTPError.badRequest("only 'Upgrade: websocket' is accepted here (no h2c, no other protocol)")
        }
        guard head.method == "GET", head.minorVersion == 1 else {
            throw HTTPError.badRequest("a WebSocket upgrade is an HTTP/1.1 GET")
        }
        guard head.tokens("connection").contains(where: { $0.equalsIgnoringASCIICase("upgrade") }) else {
            throw HTTPError.badRequest("a WebSocket upgrade needs 'Connection: Upgrade'")
        }
        guard head.header("sec-websocket-version") == "13" else {
            throw HTTPError.upgradeRequired("only WebSocket version 13 is supported")
        }
        guard let key = head.header("sec-websocket-key"), Base64.decode(Substring(key))?.count == 16 else {
            throw HTTPError.badRequest("Sec-WebSocket-Key must be 16 bytes in base64")
        }
        if let subprotocol, !head.tokens("sec-websocket-protocol").contains(where: { $0 == subprotocol }) {
            throw HTTPError.badRequest("request the WebSocket subprotocol \(subprotocol) (Sec-WebSocket-Protocol)")
        }
        var response = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        response += "Sec-WebSocket-Accept: \(acceptValue(forKey: key))\r\n"
        if let subprotocol { response += "Sec-WebSocket-Protocol: \(subprotocol)\r\n" }
        response += "\r\n"
        return Array(response.utf8)
    }

    /// `Sec-WebSocket-Accept` for a client key (RFC 6455 §4.2.2).
    public static func acceptValue(forKey key: String) -> String {
        Base64.encode(SHA1.hash(Array((key + guid).utf8)))
    }
}
