/// Where webhook events wait until their receiver acknowledged them (docs/API.md "Webhooks"):
/// in memory, or durable (the SQLite engine's, so a restart loses none). Used on one thread.
public protocol WebhookStore: AnyObject {
    /// Appends one event (its JSON text) after every other.
    func append(_ event: String) throws(BrokerError)
    /// The oldest `limit` events with their sequence numbers, oldest first.
    func oldest(_ limit: Int) throws(BrokerError) -> [(sequence: Int64, event: String)]
    /// Forgets every event up to and including `sequence` (the receiver acknowledged them).
    func remove(through sequence: Int64) throws(BrokerError)
    /// Events waiting.
    var count: Int { get }
}

/// A store that forgets its events when the process ends (the memory and Redis engines).
public final class MemoryWebhookStore: WebhookStore {
    private var events: [(sequence: Int64, event: String)] = []
    private var next: Int64 = 1

    /// An empty store.
    public init() {}

    /// See ``WebhookStore/append(_:)``.
    public func append(_ event: String) {
        events.append((next, event))
        next += 1
    }

    /// See ``WebhookStore/oldest(_:)``.
    public func oldest(_ limit: Int) -> [(sequence: Int64, event: String)] { Array(events.prefix(limit)) }

    /// See ``WebhookStore/remove(through:)``.
    public func remove(through sequence: Int64) { events.removeAll { $0.sequence <= sequence } }

    /// See ``WebhookStore/count``.
    public var count: Int { events.count }
}
