import HybridSyncBroker
import HybridSyncProtocol
import Logging

/// Time-driven work, run by the transport every fraction of a second (and by tests after moving a
/// manual clock): connect timeouts, token expiry, ping/pong, and once a second the broker's sweep
/// (ban expiry, history TTL, forgetting streams that hold nothing). The rules run on the server
/// clock's monotonic time; the sweep gets the wall-clock date the engine's records carry.
///
/// Per-session rules cost what is due, not what is open: each session has one deadline in a heap
/// (``SyncServer/sessionDeadlines``), and at most ``sessionChecksPerTick`` are handled per call, so a
/// mass expiry (thousands of unauthenticated sockets timing out together) is spread over several
/// service rounds with the transport's I/O in between.
extension SyncServer {
    /// Sessions checked per tick at most.
    static let sessionChecksPerTick = 256

    /// Runs what is due now; true when it stopped with more due (the transport calls again soon).
    @discardableResult
    public func tick() -> Bool {
        let now = clock.monotonic()
        let due = sessionDeadlines.popDue(now: now, limit: Self.sessionChecksPerTick) { time, id in
            guard let session = self.sessions[id] else { return false }
            return !session.isClosing && session.nextCheck == time
        }
        for entry in due {
            guard let session = sessions[entry.key] else { continue }
            check(session, now: now)
        }
        if now >= nextChannelSweep {
            nextChannelSweep = now + 1
            let namespaces = configuration.namespaces
            broker.sweep(
                now: clock.now(), banChannel: moderationUsers,
                policy: { namespaces[String($0.namespace)]?.stream },
                inUse: { [hub] in hub.subscriberCount($0) > 0 }
            ) { [self] result in
                switch result {
                case .success(let lifted):
                    for publication in lifted {
                        logger.info("ban ended", metadata: ["user": "\(publication.publication.key ?? "")", "why": "expired"])
                        webhooks?.record("unban", ["user": .string(publication.publication.key ?? ""), "why": "expired"])
                    }
                case .failure(let error):
                    logger.info("engine housekeeping failed", metadata: ["error": "\(error.message)"])
                }
            }
        }
        return due.count == Self.sessionChecksPerTick
    }

    /// Seconds until ``tick()`` has work: the earliest session check, or the broker's sweep (once a second).
    public func secondsUntilTickDue() -> Double? {
        let due = min(sessionDeadlines.nextDeadline ?? .infinity, nextChannelSweep)
        return max(0, due - clock.monotonic())
    }

    /// Applies the session's timing rules at `now` (monotonic) and schedules its next check.
    private func check(_ session: Session, now: Double) {
        let due = session.due(now: now, configuration)
        switch due.close {
        case .connectTimeout?:
            logger.info("no connect in time, closing", metadata: session.metadata)
            return disconnect(session, code: .connectTimeout, reason: "send 'connect' within \(configuration.connectTimeoutSeconds) s")
        case .tokenExpired?:
            logger.info("token expired, closing", metadata: session.metadata)
            return disconnect(session, code: .tokenExpired, reason: "token expired: refresh it and reconnect")
        case let code?:
            logger.info("no pong, closing", metadata: session.metadata)
            return disconnect(session, code: code, reason: "no message within \(configuration.pongTimeoutSeconds) s of a ping")
        case nil:
            break
        }
        if due.ping {
            session.lastPing = now
            reply(to: session.id, ServerMessage.push(.ping).encoded())
        }
        for name in due.expiredSubscriptions { endSubscription(session, name, ReplyError(.subscriptionTokenExpired, "the subscription token of '\(name)' expired: subscribe again with a fresh one")) }
        scheduleCheck(session)
    }

    /// Puts the session's next rule deadline in the heap (the earliest that can fire).
    func scheduleCheck(_ session: Session) {
        let next = session.nextDeadline(configuration)
        session.nextCheck = next
        sessionDeadlines.schedule(session.id, at: next)
    }
}
