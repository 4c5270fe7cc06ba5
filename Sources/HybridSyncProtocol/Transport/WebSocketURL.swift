/// A `ws://` or `wss://` URL taken apart.
package struct WebSocketURL: Equatable, CustomStringConvertible {
    /// `wss://`.
    package let secure: Bool
    /// The host name or address, without IPv6 brackets.
    package let host: String
    /// The port, 80 or 443 when the URL names none.
    package let port: Int
    /// Path and query, `/` when empty.
    package let path: String

    /// The parts as they are (tests).
    package init(secure: Bool, host: String, port: Int, path: String) {
        self.secure = secure
        self.host = host
        self.port = port
        self.path = path
    }

    /// Takes `url` apart; a URL that can never work throws a permanent ``ClientTransportError``.
    package init(_ url: String) throws(ClientTransportError) {
        let lowered = url.lowercased()
        let rest: Substring
        if lowered.hasPrefix("ws://") {
            secure = false
            rest = url.dropFirst(5)
        } else if lowered.hasPrefix("wss://") {
            secure = true
            rest = url.dropFirst(6)
        } else {
            throw ClientTransportError("'\(url)' is not a ws:// or wss:// URL with a host", isPermanent: true)
        }
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        var pathPart = String(rest[authorityEnd...].prefix { $0 != "#" })
        if pathPart.isEmpty || pathPart.hasPrefix("?") { pathPart = "/" + pathPart }
        path = pathPart
        guard !authority.contains("@") else {
            throw ClientTransportError("'\(url)': credentials in the URL are not supported (the token goes in 'connect')", isPermanent: true)
        }
        var hostPart = authority
        var portText: Substring?
        if authority.hasPrefix("[") {  // [IPv6]:port
            guard let close = authority.firstIndex(of: "]") else {
                throw ClientTransportError("'\(url)': unterminated IPv6 address", isPermanent: true)
            }
            hostPart = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if after.hasPrefix(":") { portText = after.dropFirst() } else if !after.isEmpty {
                throw ClientTransportError("'\(url)': malformed host", isPermanent: true)
            }
        } else if let colon = authority.lastIndex(of: ":") {
            hostPart = authority[..<colon]
            portText = authority[authority.index(after: colon)...]
        }
        guard !hostPart.isEmpty else {
            throw ClientTransportError("'\(url)' is not a ws:// or wss:// URL with a host", isPermanent: true)
        }
        host = String(hostPart)
        if let portText {
            guard let number = Int(portText), (1...65535).contains(number) else {
                throw ClientTransportError("'\(url)': the port must be 1-65535", isPermanent: true)
            }
            port = number
        } else {
            port = secure ? 443 : 80
        }
    }

    /// A literal IPv4 or IPv6 address (no SNI is sent for those).
    package var isIPAddress: Bool {
        host.contains(":") || (host.split(separator: ".").count == 4 && host.allSatisfy { $0.isNumber || $0 == "." })
    }

    /// The `Host` header: the host, bracketed for IPv6, with the port unless it is the default.
    package var hostHeader: String {
        port == (secure ? 443 : 80) ? bracketedHost : "\(bracketedHost):\(port)"
    }

    /// The URL with its port, for logs.
    package var description: String { "\(secure ? "wss" : "ws")://\(bracketedHost):\(port)\(path)" }

    private var bracketedHost: String { host.contains(":") ? "[\(host)]" : host }
}
