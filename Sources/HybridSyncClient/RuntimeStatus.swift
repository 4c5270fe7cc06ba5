import HybridSyncProtocol

/// How the runtime stands apart from its connection: closed for good, stopped (and why), the
/// last failure, and the state last announced to the micro-apps.
struct RuntimeStatus {
    /// ``ClientRuntime/close()`` was called: nothing starts it again.
    var isDisposed = false
    /// Set while stopped (terminal close) or closed: what reads and waits fail with.
    var stoppedError: ClientRuntimeError?
    /// Set when the transport said retrying cannot help (reported instead of the close).
    var permanentFailure: ClientRuntimeError?
    /// The server's refusal of the last `connect`, and its last `banned` push.
    var lastRefusal: ReplyError?
    var lastBan: Ban?
    /// The close code of the last connection (nil: dropped).
    var lastClose: CloseCode?
    /// The last connection problem or stop reason, for diagnostics.
    var lastError: String?
    var announcedState: ConnectionState = .idle

    /// Fails at once when the runtime is closed or stopped for good.
    func checkUsable() throws {
        if isDisposed { throw ClientRuntimeError.closed }
        if let stoppedError { throw stoppedError }
    }

    /// What a terminal close means for callers: the transport's permanent failure, or the close
    /// with the refusal or ban that preceded it.
    func terminalError(code: CloseCode?, reason: String) -> ClientRuntimeError {
        if let permanentFailure { return permanentFailure }
        return ClientRuntimeError.terminal(code: code, reason: reason, refusal: lastRefusal, ban: lastBan)
    }

    /// ``ClientRuntime/start()`` after a stop: forget why it stopped.
    mutating func startOver() {
        stoppedError = nil
        permanentFailure = nil
        lastRefusal = nil
        lastBan = nil
    }
}

/// The socket of the current attempt and what the server said on it.
struct ConnectionLink {
    var socket: (any ClientConnection)?
    /// Bumped per attempt, so events from an old socket are ignored.
    var generation = 0
    var reader: Task<Void, Never>?
    /// The server's id for this connection.
    var clientID: String?
    /// When the last frame arrived, and how long a silence means the connection is dead.
    var lastHeard: Duration = .zero
    var silenceLimit: Duration?

    /// Ends the current socket (if any) and ignores whatever it still delivers.
    mutating func drop(reason: String) {
        generation += 1
        socket?.close(code: .normal, reason: reason)
        socket = nil
    }
}
