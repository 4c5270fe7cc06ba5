public import HybridSyncProtocol

/// Where the runtime's one connection stands.
public enum ConnectionState: Sendable, Equatable {
    /// `start()` has not been called yet.
    case idle
    /// Opening the socket and authenticating.
    case connecting
    /// Authenticated; `client` is the server's id for this connection.
    case connected(client: String)
    /// The connection ended. `code` is the server's close code (nil when the socket dropped).
    case disconnected(code: CloseCode?, reason: String)
    /// `close()` was called; the runtime is done.
    case closed
}

/// Why a runtime operation failed.
public struct ClientRuntimeError: Error, Sendable, Equatable, CustomStringConvertible {
    private enum Kind: Sendable, Equatable {
        case notConnected
        case server(ReplyError)
        case connectionClosed(CloseCode?, String)
        case unmounted
        case protocolViolation(String)
    }

    private let kind: Kind

    /// The runtime has no open connection: call `start()` (or wait for reconnection).
    public static let notConnected = ClientRuntimeError(kind: .notConnected)
    /// The micro-app was unmounted; mount again to observe.
    public static let unmounted = ClientRuntimeError(kind: .unmounted)
    /// The server refused the command.
    public static func server(_ error: ReplyError) -> ClientRuntimeError { .init(kind: .server(error)) }
    /// The connection closed before the answer arrived.
    public static func connectionClosed(_ code: CloseCode?, _ reason: String) -> ClientRuntimeError {
        .init(kind: .connectionClosed(code, reason))
    }
    /// The server sent something this client cannot read.
    public static func protocolViolation(_ detail: String) -> ClientRuntimeError { .init(kind: .protocolViolation(detail)) }

    /// The server's error, when the server refused the command.
    public var serverError: ReplyError? {
        if case .server(let error) = kind { return error }
        return nil
    }

    /// The close code, when the connection closed.
    public var closeCode: CloseCode? {
        if case .connectionClosed(let code, _) = kind { return code }
        return nil
    }

    public var description: String {
        switch kind {
        case .notConnected: "not connected: call start() first"
        case .server(let error): "server refused: \(error)"
        case .connectionClosed(let code, let reason):
            "connection closed (\(code.map { "\($0)" } ?? "no close code")): \(reason)"
        case .unmounted: "the micro-app was unmounted"
        case .protocolViolation(let detail): "unreadable server message: \(detail)"
        }
    }
}
