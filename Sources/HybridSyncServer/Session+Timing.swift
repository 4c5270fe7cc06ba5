import HybridSyncProtocol

/// What a session's timing rules ask for at one moment (PROTOCOL.md: the connect timeout, token
/// expiry, the liveness rule, ping pushes, subscription tokens). Pure: ``Session/due(now:_:)``.
struct SessionDue: Equatable {
    /// Close the connection with this code (4003 no connect, 4002 token expired, 4004 silent).
    var close: CloseCode?
    /// Send a `ping` push.
    var ping = false
    /// End these subscriptions: their subscription tokens expired.
    var expiredSubscriptions: [ChannelName] = []
}

extension Session {
    /// What is due at `now` (monotonic) under `rules`' timing.
    func due(now: Double, _ rules: ServerConfiguration) -> SessionDue {
        guard identity != nil else {
            return SessionDue(close: now - openedAt >= rules.connectTimeoutSeconds ? .connectTimeout : nil)
        }
        if let tokenExpiry, now > tokenExpiry + rules.auth.leewaySeconds { return SessionDue(close: .tokenExpired) }
        if now - lastSeen >= rules.pingIntervalSeconds + rules.pongTimeoutSeconds { return SessionDue(close: .noPong) }
        return SessionDue(
            ping: now - lastPing >= rules.pingIntervalSeconds,
            expiredSubscriptions: subscriptionDeadlines.filter { now > $0.value + rules.auth.leewaySeconds }.keys.sorted()
        )
    }

    /// The earliest moment (monotonic) at which one of the rules can come due.
    func nextDeadline(_ rules: ServerConfiguration) -> Double {
        guard identity != nil else { return openedAt + rules.connectTimeoutSeconds }
        var earliest = min(lastPing + rules.pingIntervalSeconds, lastSeen + rules.pingIntervalSeconds + rules.pongTimeoutSeconds)
        for expiry in [tokenExpiry].compactMap({ $0 }) + subscriptionDeadlines.values {
            earliest = min(earliest, (expiry + rules.auth.leewaySeconds).nextUp)
        }
        return earliest
    }
}
