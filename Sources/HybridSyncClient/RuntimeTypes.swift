public import HybridSyncProtocol

/// Where the runtime's one connection stands.
public enum ConnectionState: Sendable, Equatable {
    /// `start()` has not been called yet.
    case idle
    /// Opening the socket and authenticating.
    case connecting
    /// Authenticated; `client` is the server's id for this connection.
    case connected(client: String)
    /// The connection ended with `code` (nil: dropped) and the runtime will reconnect.
    case reconnecting(attempt: Int, lastCode: CloseCode?)
    /// Done for good: the server said not to reconnect (banned, invalid token…) or `close()` was called.
    case closed(code: CloseCode?, reason: String)
}

/// What every mounted micro-app is told about the shared connection.
public enum RuntimeEvent: Sendable, Equatable {
    case connectionChanged(ConnectionState)
    /// The user was banned; a `.closed` with 4501 follows.
    case banned(Ban)
}

/// An error that happened inside the runtime on behalf of a micro-app (a throwing observer, a
/// failed loader, a value that does not decode). Sent to the runtime's error sink.
public struct RuntimeErrorReport: Sendable {
    /// The micro-app it concerns, if any.
    public var app: String?
    /// What was going on, for example "observer of local 'theme'".
    public var context: String
    public var error: any Error
}

/// Cancels a callback observation when asked (or when the micro-app unmounts).
public final class ObservationToken: Sendable {
    private let onCancel: @Sendable () -> Void

    init(_ onCancel: @escaping @Sendable () -> Void) { self.onCancel = onCancel }

    public func cancel() { onCancel() }
}

/// Why a runtime operation failed.
public struct ClientRuntimeError: Error, Sendable, Equatable, CustomStringConvertible {
    enum Kind: Sendable, Equatable {
        case notConnected
        case server(ReplyError)
        case connectionClosed(CloseCode?, String)
        case unmounted
        case protocolViolation(String)
        case readOnly(String)
        case offlineQueueFull(Int)
        case observerOverflow(Int)
    }

    let kind: Kind

    /// The runtime has no open connection.
    public static let notConnected = ClientRuntimeError(kind: .notConnected)
    /// The micro-app was unmounted; mount again to observe.
    public static let unmounted = ClientRuntimeError(kind: .unmounted)
    /// The server refused the command.
    public static func server(_ error: ReplyError) -> ClientRuntimeError { .init(kind: .server(error)) }
    /// The connection closed before the answer arrived, or for good.
    public static func connectionClosed(_ code: CloseCode?, _ reason: String) -> ClientRuntimeError {
        .init(kind: .connectionClosed(code, reason))
    }
    /// The server sent something this client cannot read.
    public static func protocolViolation(_ detail: String) -> ClientRuntimeError { .init(kind: .protocolViolation(detail)) }
    /// The key is owned by the server; change it through the backend API.
    public static func readOnly(_ key: String) -> ClientRuntimeError { .init(kind: .readOnly(key)) }
    /// Too many commands are waiting for the connection to come back.
    public static func offlineQueueFull(_ limit: Int) -> ClientRuntimeError { .init(kind: .offlineQueueFull(limit)) }
    /// An observer fell more than `limit` publications behind and was ended (it never loses
    /// publications silently).
    public static func observerOverflow(_ limit: Int) -> ClientRuntimeError { .init(kind: .observerOverflow(limit)) }

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
        case .notConnected: "not connected"
        case .server(let error): "server refused: \(error)"
        case .connectionClosed(let code, let reason):
            "connection closed (\(code.map { "\($0)" } ?? "no close code")): \(reason)"
        case .unmounted: "the micro-app was unmounted"
        case .protocolViolation(let detail): "unreadable server message: \(detail)"
        case .readOnly(let key): "\(key) is server-owned and read-only in the client; change it through the backend API"
        case .offlineQueueFull(let limit): "\(limit) commands already wait for the connection; try again when connected"
        case .observerOverflow(let limit): "the observer fell \(limit) publications behind and was ended; observe again"
        }
    }
}
