public import HybridSyncProtocol

/// The runtime's connection lifecycle as a pure value: each event goes in with `now` (monotonic
/// time, any origin), the actions to perform come out. No I/O, no clock reads, no sleeping, so every
/// path is tested directly.
///
/// connecting → connected → (close) → reconnecting (backoff) → connecting → …;
/// a terminal close code (4500–4999), a permanent transport failure, too many expired tokens or
/// `stop()` → closed. `start()` from closed begins again (after an unban, with a new token);
/// `suspend()` closes the socket and waits for `resume()`.
package struct ConnectionStateMachine: Sendable {
    package enum State: Sendable, Equatable {
        case idle
        /// Opening the socket and authenticating; `attempt` counts failures since the last success.
        case connecting(attempt: Int)
        case connected
        /// Waiting until `until` before the next attempt.
        case reconnecting(attempt: Int, until: Duration)
        /// The app is in the background: no socket until `resume()`.
        case suspended
        /// Done: `stop()` was called or the server said not to reconnect.
        case closed(code: CloseCode?, reason: String)
    }

    /// What the driver must do next.
    package enum Action: Sendable, Equatable {
        /// Get a token (fresh when `refreshToken`), open the socket and send `connect`.
        case connect(refreshToken: Bool)
        /// Wait `delay`, then call ``retryTimerFired(now:)``.
        case scheduleRetry(after: Duration)
        /// Re-subscribe every live channel with its last position.
        case resubscribeAll
        /// Tell every mounted micro-app the connection ended for good, and why.
        case reportTerminal(code: CloseCode?, reason: String)
        /// Close the socket.
        case closeSocket
    }

    /// A 4002 (token expired) while connecting, with a token fetched for that attempt, this many
    /// times in a row ends the attempts: the token provider keeps handing out expired tokens.
    package static let maxExpiredTokenRefusals = 3

    package private(set) var state: State = .idle
    package let backoff: BackoffPolicy
    private var generator: any RandomNumberGenerator & Sendable
    private var hasConnectedBefore = false
    private var refreshTokenOnNextConnect = false
    private var expiredTokenRefusals = 0
    /// Successful connects after the first.
    package private(set) var reconnectCount = 0

    /// `generator` draws the jitter: pass a seeded one in tests.
    package init(backoff: BackoffPolicy = BackoffPolicy(), generator: some RandomNumberGenerator & Sendable = SystemRandomNumberGenerator()) {
        self.backoff = backoff
        self.generator = generator
    }

    /// Starts from idle, or again after a terminal close.
    package mutating func start() -> [Action] {
        switch state {
        case .idle, .closed: break
        default: return []
        }
        state = .connecting(attempt: 0)
        expiredTokenRefusals = 0
        return [.connect(refreshToken: refreshTokenOnNextConnect)]
    }

    /// `connect` was accepted.
    package mutating func connected() -> [Action] {
        guard case .connecting = state else { return [] }
        state = .connected
        refreshTokenOnNextConnect = false
        expiredTokenRefusals = 0
        defer { hasConnectedBefore = true }
        guard hasConnectedBefore else { return [] }
        reconnectCount += 1
        return [.resubscribeAll]
    }

    /// The attempt failed before `connect` was accepted (socket error, token callback error, a
    /// refused `connect` that carried no close code). `permanent`: retrying cannot help.
    package mutating func connectFailed(reason: String = "the connection attempt failed", permanent: Bool = false, now: Duration) -> [Action] {
        guard case .connecting(let attempt) = state else { return [] }
        if permanent {
            state = .closed(code: nil, reason: reason)
            return [.reportTerminal(code: nil, reason: reason)]
        }
        return scheduleRetry(attempt: attempt + 1, now: now)
    }

    /// The socket closed with `code` (nil: dropped without a close frame, or silent too long).
    package mutating func closed(code: CloseCode?, reason: String, now: Duration) -> [Action] {
        let failedAttempt: Int?
        switch state {
        case .connected: failedAttempt = nil
        case .connecting(let attempt): failedAttempt = attempt
        default: return []
        }
        if let code, !code.shouldReconnect {
            state = .closed(code: code, reason: reason)
            return [.reportTerminal(code: code, reason: reason)]
        }
        if code == .tokenExpired {
            refreshTokenOnNextConnect = true
            guard let failedAttempt else {
                // Expired while connected: get a new token and come straight back.
                state = .connecting(attempt: 0)
                return [.connect(refreshToken: true)]
            }
            // Refused while connecting: the new token was expired too. Back off; stop after a few.
            expiredTokenRefusals += 1
            if expiredTokenRefusals >= Self.maxExpiredTokenRefusals {
                state = .closed(code: code, reason: reason)
                return [.reportTerminal(code: code, reason: reason)]
            }
            return scheduleRetry(attempt: failedAttempt + 1, now: now)
        }
        return scheduleRetry(attempt: failedAttempt.map { $0 + 1 } ?? 0, now: now)
    }

    /// The backoff delay is over.
    package mutating func retryTimerFired(now: Duration) -> [Action] {
        guard case .reconnecting(let attempt, let until) = state, now >= until else { return [] }
        state = .connecting(attempt: attempt)
        return [.connect(refreshToken: refreshTokenOnNextConnect)]
    }

    /// The app goes to the background: close the socket, keep everything else.
    package mutating func suspend() -> [Action] {
        switch state {
        case .connecting, .connected:
            state = .suspended
            return [.closeSocket]
        case .reconnecting:
            state = .suspended
            return []
        default:
            return []
        }
    }

    /// The app is back: connect now (no backoff), and recover on success. Also cuts a backoff wait short.
    package mutating func resume() -> [Action] {
        switch state {
        case .suspended, .reconnecting:
            state = .connecting(attempt: 0)
            return [.connect(refreshToken: refreshTokenOnNextConnect)]
        default:
            return []
        }
    }

    /// Stop for good (the app is closing the runtime).
    package mutating func stop() -> [Action] {
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
