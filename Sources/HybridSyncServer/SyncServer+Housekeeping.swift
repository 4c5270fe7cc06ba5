import HybridSyncProtocol
import Logging

/// Time-driven work, run by the transport every fraction of a second (and by tests after moving a
/// manual clock): connect timeouts, token expiry, ping/pong, ban expiry, history TTL, and
/// forgetting channels that hold nothing.
///
/// Per-session rules cost what is due, not what is open: each session has one deadline in a heap
/// (``SyncServer/sessionDeadlines``), and at most ``sessionChecksPerTick`` are handled per call, so a
/// mass expiry (thousands of unauthenticated sockets timing out together) is spread over several
/// service rounds with the transport's I/O in between.
extension SyncServer {
    /// Sessions checked per tick at most.
    static let sessionChecksPerTick = 256

    @discardableResult
    public func tick() -> Bool {
        let now = clock.now()
        let due = sessionDeadlines.popDue(now: now, limit: Self.sessionChecksPerTick)
        for entry in due {
            guard let session = sessions[entry.key], !session.isClosing, session.nextCheck == entry.time else { continue }
            check(session, now: now)
        }
        for (user, ban) in bans {
            if let until = ban.until, until <= now { _ = activeBan(user) }
        }
        if now >= nextChannelSweep {
            nextChannelSweep = now + 1
            for (name, channel) in channels {
                channel.trimHistory(now: now)
                // Nothing left to recover or observe: forget it (a later use starts a new epoch).
                if channel.subscribers.isEmpty, channel.history.isEmpty, channel.state.isEmpty { channels[name] = nil }
            }
            idempotency.evict(now: now)
        }
        return due.count == Self.sessionChecksPerTick
    }

    /// Applies the session's timing rules at `now` and schedules its next check.
    private func check(_ session: Session, now: Double) {
        guard let identity = session.identity else {
            if now - session.openedAt >= configuration.connectTimeoutSeconds {
                logger.info("no connect in time, closing", metadata: session.metadata)
                disconnect(session, code: .connectTimeout, reason: "send 'connect' within \(configuration.connectTimeoutSeconds) s")
            } else {
                scheduleCheck(session)
            }
            return
        }
        if let expiresAt = identity.expiresAt, now > expiresAt + configuration.auth.leewaySeconds {
            logger.info("token expired, closing", metadata: session.metadata)
            disconnect(session, code: .tokenExpired, reason: "token expired: refresh it and reconnect")
            return
        }
        if now - session.lastSeen >= configuration.pingIntervalSeconds + configuration.pongTimeoutSeconds {
            logger.info("no pong, closing", metadata: session.metadata)
            disconnect(session, code: .noPong, reason: "no message within \(configuration.pongTimeoutSeconds) s of a ping")
            return
        }
        if now - session.lastPing >= configuration.pingIntervalSeconds {
            session.lastPing = now
            reply(to: session.id, ServerMessage.push(.ping).encoded())
        }
        scheduleCheck(session)
    }

    /// Puts the session's next rule deadline in the heap (the earliest that can fire).
    func scheduleCheck(_ session: Session) {
        let next: Double
        if let identity = session.identity {
            var earliest = min(
                session.lastPing + configuration.pingIntervalSeconds,
                session.lastSeen + configuration.pingIntervalSeconds + configuration.pongTimeoutSeconds
            )
            if let expiresAt = identity.expiresAt {
                earliest = min(earliest, (expiresAt + configuration.auth.leewaySeconds).nextUp)
            }
            next = earliest
        } else {
            next = session.openedAt + configuration.connectTimeoutSeconds
        }
        session.nextCheck = next
        sessionDeadlines.schedule(session.id, at: next)
    }
}
