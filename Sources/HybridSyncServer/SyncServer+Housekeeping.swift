import HybridSyncProtocol
import Logging

/// Time-driven work, run by the transport every fraction of a second (and by tests after moving a
/// manual clock): connect timeouts, token expiry, ping/pong, ban expiry, history TTL, and
/// forgetting channels that hold nothing.
extension SyncServer {
    public func tick() {
        let now = clock.now()
        for session in sessions.values where !session.isClosing {
            guard let identity = session.identity else {
                if now - session.openedAt >= configuration.connectTimeoutSeconds {
                    logger.info("no connect in time, closing", metadata: session.metadata)
                    disconnect(session, code: .connectTimeout, reason: "send 'connect' within \(configuration.connectTimeoutSeconds) s")
                }
                continue
            }
            if let expiresAt = identity.expiresAt, now > expiresAt + configuration.auth.leewaySeconds {
                logger.info("token expired, closing", metadata: session.metadata)
                disconnect(session, code: .tokenExpired, reason: "token expired: refresh it and reconnect")
            } else if now - session.lastSeen >= configuration.pingIntervalSeconds + configuration.pongTimeoutSeconds {
                logger.info("no pong, closing", metadata: session.metadata)
                disconnect(session, code: .noPong, reason: "no message within \(configuration.pongTimeoutSeconds) s of a ping")
            } else if now - session.lastPing >= configuration.pingIntervalSeconds {
                session.lastPing = now
                reply(to: session.id, ServerMessage.push(.ping).encoded())
            }
        }
        for (user, ban) in bans {
            if let until = ban.until, until <= now { _ = activeBan(user) }
        }
        for (name, channel) in channels {
            channel.trimHistory(now: now)
            // Nothing left to recover or observe: forget it (a later use starts a new epoch).
            if channel.subscribers.isEmpty, channel.history.isEmpty, channel.state.isEmpty { channels[name] = nil }
        }
        idempotency.evict(now: now)
    }
}
