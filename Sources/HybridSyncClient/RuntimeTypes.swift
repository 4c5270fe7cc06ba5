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
    /// ``ClientRuntime/suspend()`` closed the socket; ``ClientRuntime/resume()`` reconnects.
    case suspended
    /// Stopped: the server said not to reconnect (banned, invalid token…), the URL is unusable,
    /// or `close()` was called. After a server's terminal close `start()` begins again.
    case closed(code: CloseCode?, reason: String)
}

/// What every mounted micro-app is told about the shared connection.
public enum RuntimeEvent: Sendable, Equatable {
    /// The runtime's connection moved to this state.
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
    /// What failed (a ``ClientRuntimeError`` for the runtime's own failures).
    public var error: any Error
}

/// Cancels a callback observation when asked (or when the micro-app unmounts).
public final class ObservationToken: Sendable {
    private let onCancel: @Sendable () -> Void

    init(_ onCancel: @escaping @Sendable () -> Void) { self.onCancel = onCancel }

    /// Stops the observation; later changes are not delivered.
    public func cancel() { onCancel() }
}
