import HybridSyncProtocol
import Logging

/// One WebSocket connection's protocol state. Owned by the server's thread.
final class Session {
    let id: ConnectionID
    let remoteAddress: String
    let openedAt: Double
    var identity: Identity?
    var channels: Set<ChannelName> = []
    /// A close was requested; further commands are ignored.
    var isClosing = false
    /// When the last message arrived from the client (any message proves liveness).
    var lastSeen: Double
    /// When the server last sent a `ping` push.
    var lastPing: Double
    /// Command-rate token bucket.
    var tokens: Double
    var lastRefill: Double
    /// Commands refused in a row for exceeding the rate; too many closes the connection.
    var refusedInARow = 0

    init(id: ConnectionID, remoteAddress: String, now: Double, burst: Double) {
        self.id = id
        self.remoteAddress = remoteAddress
        self.openedAt = now
        self.lastSeen = now
        self.lastPing = now
        self.tokens = burst
        self.lastRefill = now
    }

    /// Takes one command from the bucket; false when the client is over its rate.
    func admitCommand(now: Double, rate: Double, burst: Double) -> Bool {
        tokens = min(burst, tokens + (now - lastRefill) * rate)
        lastRefill = now
        guard tokens >= 1 else {
            refusedInARow += 1
            return false
        }
        tokens -= 1
        refusedInARow = 0
        return true
    }

    var metadata: Logger.Metadata {
        var metadata: Logger.Metadata = ["connection": "\(id)", "peer": "\(remoteAddress)"]
        if let identity { metadata["user"] = "\(identity.userID)" }
        return metadata
    }
}
