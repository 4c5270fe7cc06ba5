/// Opens WebSocket connections for a client runtime.
///
/// The real implementation runs on libwebsockets; tests use an in-memory pair.
public protocol ClientTransport: Sendable {
    /// Opens a connection speaking ``HybridSyncWire/subprotocol``. Throws when it cannot be opened.
    func connect(to url: String) async throws -> any ClientConnection
}

/// One open client connection.
public protocol ClientConnection: Sendable {
    /// Everything the server sends, in order; ends after ``ClientConnectionEvent/closed(code:reason:)``.
    var events: AsyncStream<ClientConnectionEvent> { get }
    /// Queues one text frame.
    func send(_ frame: [UInt8])
    /// Closes the connection; `events` then ends with `.closed`.
    func close(code: CloseCode, reason: String)
}

/// What happens on a client connection.
public enum ClientConnectionEvent: Sendable, Equatable {
    /// A complete text frame (it may hold several newline-separated messages).
    case frame([UInt8])
    /// The connection closed. `code` is nil when the socket dropped without a close frame.
    case closed(code: CloseCode?, reason: String)
}

/// Why a client transport could not connect.
public struct ClientTransportError: Error, Sendable, CustomStringConvertible {
    public let description: String
    /// Retrying cannot help (a malformed URL, for example): the runtime stops instead of retrying.
    public let isPermanent: Bool
    /// An error saying what failed; `isPermanent` when retrying cannot help.
    public init(_ description: String, isPermanent: Bool = false) {
        self.description = description
        self.isPermanent = isPermanent
    }
}
