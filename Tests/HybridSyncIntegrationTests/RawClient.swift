import HybridSyncClient
import HybridSyncProtocol
import HybridSyncTesting
import Synchronization

/// A protocol-level client on the SDK's WebSocket transport, for wire tests against the daemon.
final class RawClient: Sendable {
    enum Event: Equatable {
        case message(ServerMessage)
        case closed(CloseCode?)
    }

    private let connection: any ClientConnection
    private let pending = Mutex<[Event]>([])

    private init(connection: any ClientConnection) {
        self.connection = connection
    }

    static func open(_ url: String, allowSelfSignedCertificates: Bool = false) async throws -> RawClient {
        RawClient(connection: try await WebSocketTransport(configuration: allowSelfSignedCertificates ? .allowingSelfSignedCertificates() : .init()).connect(to: url))
    }

    func send(_ text: String) { connection.send(Array(text.utf8)) }

    /// Closes the WebSocket (a tab closing).
    func close() { connection.close(code: .normal, reason: "closed by the test") }

    /// The next message or the close, waiting at most `timeout`.
    func next(within timeout: Duration = .seconds(10)) async throws -> Event {
        if let event = pending.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) { return event }
        guard let event = try await connection.events.first(within: timeout) else { return .closed(nil) }
        switch event {
        case .frame(let frame):
            let events = try FrameCodec.messages(in: frame).map { Event.message(try ServerMessage.decode($0)) }
            pending.withLock { $0 += events }
            return try await next(within: timeout)
        case .closed(let code, _):
            return .closed(code)
        }
    }

    /// Reads until the connection closes (skipping messages), returning the close code.
    func closeCode(within timeout: Duration = .seconds(10)) async throws -> CloseCode? {
        while true {
            if case .closed(let code) = try await next(within: timeout) { return code }
        }
    }

    /// Sends `connect` and returns the reply.
    func connect(token: String) async throws -> Event {
        send(#"{"id":1,"op":"connect","token":"\#(token)"}"#)
        return try await next()
    }
}

extension RawClient.Event {
    var errorCode: ErrorCode? {
        if case .message(.reply(_, .failure(let error))) = self { return error.code }
        return nil
    }

    var isSuccess: Bool {
        if case .message(.reply(_, .success)) = self { return true }
        return false
    }
}
