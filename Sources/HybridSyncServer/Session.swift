import DequeModule
import HybridSyncProtocol
import HybridSyncServerTransport
import Logging

/// One WebSocket connection's protocol state. Owned by the server's thread. Times are the server
/// clock's monotonic seconds, except ``connectedAt`` (a date, for the sessions API).
final class Session {
    let id: ConnectionID
    let remoteAddress: String
    /// When the socket opened (monotonic).
    let openedAt: Double
    var identity: Identity?
    /// The token's `exp` on the monotonic clock (its deadline), if it expires.
    var tokenExpiry: Double?
    /// The `name` the client gave in `connect` (at most 64 characters), for logs and the sessions API.
    var clientName: String?
    /// When `connect` succeeded (wall clock, seconds since 1970).
    var connectedAt: Double?
    var channels: Set<ChannelName> = []
    /// The channels where this session is present (a subset of ``channels``).
    var presence: Set<ChannelName> = []
    /// When each subscription held with a subscription token ends (monotonic; `exp` plus leeway).
    var subscriptionDeadlines: [ChannelName: Double] = [:]
    /// A close was requested; further commands are ignored.
    var isClosing = false
    /// When the last message arrived from the client (any message proves liveness).
    var lastSeen: Double
    /// When the server last sent a `ping` push.
    var lastPing: Double
    /// Command rate limit.
    var commands: TokenBucket
    /// Commands refused in a row for exceeding the rate; too many closes the connection.
    var refusedInARow = 0
    /// When the timing rules are next checked (the entry of this session in the deadline heap that
    /// counts; older entries are skipped).
    var nextCheck = 0.0
    /// A command is waiting for the broker: later ones wait in ``queued`` and run in order after it.
    var busy = false
    /// Commands received while ``busy``, already admitted by the rate limit.
    var queued: Deque<[UInt8]> = []
    /// ``SyncServer/runQueued(_:)`` is on the stack for this session.
    var runningQueue = false

    init(id: ConnectionID, remoteAddress: String, now: Double, rate: Double, burst: Double) {
        self.id = id
        self.remoteAddress = remoteAddress
        self.openedAt = now
        self.lastSeen = now
        self.lastPing = now
        self.commands = TokenBucket(rate: rate, burst: burst, now: now)
    }

    /// Takes one command from the bucket; false when the client is over its rate.
    func admitCommand(now: Double) -> Bool {
        guard commands.take(now: now) else {
            refusedInARow += 1
            return false
        }
        refusedInARow = 0
        return true
    }

    var metadata: Logger.Metadata {
        var metadata: Logger.Metadata = ["connection": "\(id)", "peer": "\(remoteAddress)"]
        if let identity { metadata["user"] = "\(identity.userID)" }
        return metadata
    }
}

extension Session {
    /// The session as `GET /api/sessions/<user>` lists it (dates on the wall clock).
    func json(clock: any ServerClock) -> JSONValue {
        .object([
            "client": .string("\(id)"),
            "name": clientName.map(JSONValue.string) ?? .null,
            "remoteAddress": .string(remoteAddress),
            "connectedAt": .double(connectedAt ?? clock.wallTime(ofMonotonic: openedAt)),
            "lastSeen": .double(clock.wallTime(ofMonotonic: lastSeen)),
            "channels": .array(channels.map(\.rawValue).sorted().map(JSONValue.string)),
        ])
    }
}

/// A token bucket: `rate` per second sustained, up to `burst` at once.
package struct TokenBucket {
    package let rate: Double
    package let burst: Double
    private var tokens: Double
    private var lastRefill: Double

    package init(rate: Double, burst: Double, now: Double) {
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.lastRefill = now
    }

    /// Takes one token if there is one.
    package mutating func take(now: Double) -> Bool {
        tokens = min(burst, tokens + max(0, now - lastRefill) * rate)
        lastRefill = now
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }
}
