public import HybridSyncProtocol

/// Identifies one WebSocket connection inside one server transport.
public struct ConnectionID: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The number, unique within one transport for its lifetime.
    public let rawValue: UInt64
    /// The connection numbered `rawValue`.
    public init(_ rawValue: UInt64) { self.rawValue = rawValue }
    /// Ordered by number (each thread's accept order).
    public static func < (lhs: ConnectionID, rhs: ConnectionID) -> Bool { lhs.rawValue < rhs.rawValue }
    /// `c<number>`, as logs show it.
    public var description: String { "c\(rawValue)" }
}

/// What the transport knows about a new connection.
public struct ConnectionInfo: Sendable, Equatable {
    /// The peer's address, for logs.
    public var remoteAddress: String
    /// The `Origin` header, if a browser sent one.
    public var origin: String?

    /// What a transport knows of a new connection.
    public init(remoteAddress: String, origin: String? = nil) {
        self.remoteAddress = remoteAddress
        self.origin = origin
    }
}

/// An encoded server message shared by every connection it is sent to.
///
/// The server encodes a publication once and hands the same `OutboundMessage` to the transport for
/// all subscribers; a transport keeps a reference per connection, never a copy per connection.
public final class OutboundMessage: Sendable {
    /// The encoded message (one or more newline-separated server messages).
    public let bytes: [UInt8]
    /// Whether a transport may hold it back a little to send it with others (a publication), as
    /// `limits.writeDelayMillis` asks; replies and control pushes go out at once.
    public let mayCoalesce: Bool
    /// A message of `bytes`; `mayCoalesce` for a publication that may wait for the write delay.
    public init(_ bytes: [UInt8], mayCoalesce: Bool = false) {
        self.bytes = bytes
        self.mayCoalesce = mayCoalesce
    }
}

/// The server's side of a WebSocket transport: what the server may ask of it.
///
/// Every method is called on the transport's own thread (the one that calls the
/// ``ServerTransportDelegate``), so implementations need no locks for these calls.
public protocol ServerTransport: AnyObject {
    /// Queues `message` for each connection; a connection that is gone is skipped.
    func send(_ message: OutboundMessage, to connections: some Sequence<ConnectionID>)
    /// Queues `message` for one connection (a reply, a push to one session); skipped when it is gone.
    /// Through `any ServerTransport` the sequence form runs unspecialized, so a transport on the
    /// hot path implements this one; the default passes a `CollectionOfOne` to the sequence form.
    func send(_ message: OutboundMessage, to connection: ConnectionID)
    /// Sends everything already queued for the connection, then closes it with `code`.
    func close(_ connection: ConnectionID, code: CloseCode, reason: String)
}

extension ServerTransport {
    /// Sends through the sequence form.
    public func send(_ message: OutboundMessage, to connection: ConnectionID) {
        send(message, to: CollectionOfOne(connection))
    }
}

/// What a transport tells the server. Called on the transport's thread, one call at a time.
public protocol ServerTransportDelegate: AnyObject {
    /// A WebSocket connection speaking `hybridsync.v1` opened.
    func connectionOpened(_ connection: ConnectionID, info: ConnectionInfo)
    /// A complete text message (all fragments reassembled) arrived.
    func received(_ frame: [UInt8], from connection: ConnectionID)
    /// The connection closed, for any reason; the id is never reused.
    func connectionClosed(_ connection: ConnectionID)
    /// The transport closed the connection itself with `code` (a protocol violation: 1002, 1003,
    /// 1007, 1009; or 4001 after ``outboundQueueOverflowed(_:)``); the id is never reused, and no
    /// ``connectionClosed(_:)`` follows.
    func connectionFailed(_ connection: ConnectionID, code: CloseCode)
    /// Time-driven work (timeouts, pings, expiry). Called every fraction of a second; returns true
    /// when it stopped with more already due (the transport then calls again after serving I/O).
    func tick() -> Bool
    /// Seconds until ``tick()`` has work due (0: now), or nil when unknown. Asked after every turn,
    /// so an idle transport can sleep until then instead of waking every fraction of a second.
    func secondsUntilTickDue() -> Double?
    /// The transport is stopping: tell every connection why (it closes what is left afterwards).
    func shuttingDown(code: CloseCode, reason: String)
    /// The transport finished one round of I/O (one poll turn): work grouped during it, such as a
    /// storage engine's transaction, can complete now.
    func endOfTurn()
    /// The transport is closing `connection` with 4001 because its outbound queue overflowed
    /// (``connectionClosed(_:)`` follows). For metrics; does nothing by default.
    func outboundQueueOverflowed(_ connection: ConnectionID)
}

extension ServerTransportDelegate {
    /// Ignores the overflow (delegates without metrics).
    public func outboundQueueOverflowed(_ connection: ConnectionID) {}
    /// Unknown: the transport ticks at its fixed interval.
    public func secondsUntilTickDue() -> Double? { nil }
}
