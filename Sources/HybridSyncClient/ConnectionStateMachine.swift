public import HybridSyncProtocol

/// The runtime's connection lifecycle as a pure value: each event goes in with `now` (monotonic
/// time, any origin), the actions to perform come out. No I/O, no clock reads, no sleeping, so every
/// path is tested directly.
///
/// connecting → connected → (close) → reconnecting (backoff) → connecting → …;
/// a terminal close code (4500–4999) or `stop()` → closed, for good.
public struct ConnectionStateMachine: Sendable {
    public enum State: Sendable, Equatable {
        case idle
        /// Opening the socket and authenticating; `attempt` counts failures since the last success.
        case connecting(attempt: Int)
        case connected
        /// Waiting until `until` before the next attempt.
        case reconnecting(attempt: Int, until: Duration)
        /// Done: `stop()` was called or the server said not to reconnect.
        case closed(code: CloseCode?, reason: String)
    }

    /// What the driver must do next.
    public enum Action: Sendable, Equatable {
        /// Get a token (fresh when `refreshToken`), open the socket and send `connect`.
        case connect(refreshToken: Bool)
        /// Wait `delay`, then call ``retryTimerFired(now:)``.
        case scheduleRetry(after: Duration)
        /// Re-subscribe every live channel with its last position.
        case resubscribeAll
        /// Tell every mounted micro-app the connection ended for good, and why.
        case reportTerminal(code: CloseCode?, reason: String)
        /// Close the socket (the runtime is stopping).
        case closeSocket
    }

    public private(set) var state: State = .idle
    public let backoff: BackoffPolicy
    private var generator: any RandomNumberGenerator & Sendable
    private var hasConnectedBefore = false
    private var refreshTokenOnNextConnect = false

    /// `generator` draws the jitter: pass a seeded one in tests.
    public init(backoff: BackoffPolicy = BackoffPolicy(), generator: some RandomNumberGenerator & Sendable = SystemRandomNumberGenerator()) {
        self.backoff = backoff
        self.generator = generator
    }

    public mutating func start() -> [Action] {
        guard case .idle = state else { return [] }
        state = .connecting(attempt: 0)
        return [.connect(refreshToken: false)]
    }

    /// `connect` was accepted.
    public mutating func connected() -> [Action] {
        guard case .connecting = state else { return [] }
        state = .connected
        refreshTokenOnNextConnect = false
        defer { hasConnectedBefore = true }
        return hasConnectedBefore ? [.resubscribeAll] : []
    }

    /// The attempt failed before `connect` was accepted (socket error, token callback error,
    /// or a refused `connect` that carried no close code).
    public mutating func connectFailed(now: Duration) -> [Action] {
        guard case .connecting(let attempt) = state else { return [] }
        return scheduleRetry(attempt: attempt + 1, now: now)
    }

    /// The socket closed with `code` (nil: dropped without a close frame).
    public mutating func closed(code: CloseCode?, reason: String, now: Duration) -> [Action] {
        switch state {
        case .connected, .connecting:
            break
        default:
            return []
        }
        if let code, !code.shouldReconnect {
            state = .closed(code: code, reason: reason)
            return [.reportTerminal(code: code, reason: reason)]
        }
        if code == .tokenExpired {
            // The server says the token expired: get a new one and come straight back.
            refreshTokenOnNextConnect = true
            state = .connecting(attempt: 0)
            return [.connect(refreshToken: true)]
        }
        let attempt: Int
        if case .connecting(let failed) = state { attempt = failed + 1 } else { attempt = 0 }
        return scheduleRetry(attempt: attempt, now: now)
    }

    /// The backoff delay is over.
    public mutating func retryTimerFired(now: Duration) -> [Action] {
        guard case .reconnecting(let attempt, let until) = state, now >= until else { return [] }
        state = .connecting(attempt: attempt)
        return [.connect(refreshToken: refreshTokenOnNextConnect)]
    }

    /// Stop for good (the app is closing the runtime).
    public mutating func stop() -> [Action] {
        if case .closed = state { return [] }
        let hadSocket: Bool
        switch state {
        case .connecting, .connected: hadSocket = true
        default: hadSocket = false
        }
        state = .closed(code: nil, reason: "closed by the client")
        return hadSocket ? [.closeSocket] : []
    }

    private mutating func scheduleRetry(attempt: Int, now: Duration) -> [Action] {
        let delay = backoff.delay(attempt: attempt, using: &generator)
        state = .reconnecting(attempt: attempt, until: now + delay)
        return [.scheduleRetry(after: delay)]
    }
}
