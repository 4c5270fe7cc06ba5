import DequeModule
import HybridSyncProtocol

/// Remembers API responses by idempotency key for a while, so a retried request is answered with
/// the first response instead of publishing twice.
///
/// A key is scoped to its route and channel(s): the same key on another channel is another request.
/// Within its scope, a repeat with a different body is a client bug, refused with 409.
struct IdempotencyCache {
    private struct Entry {
        let body: JSONValue
        let response: HTTPResponse
    }

    private var entries: [String: Entry] = [:]
    private var order: Deque<(key: String, expires: Double)> = []

    enum Lookup {
        case new
        case repeated(HTTPResponse)
        case conflict
    }

    func lookup(_ key: String, body: JSONValue) -> Lookup {
        guard let entry = entries[key] else { return .new }
        return entry.body == body ? .repeated(entry.response) : .conflict
    }

    mutating func store(_ response: HTTPResponse, body: JSONValue, for key: String, now: Double, window: Double, maxKeys: Int) {
        entries[key] = Entry(body: body, response: response)
        order.append((key, now + window))
        while order.count > maxKeys, let oldest = order.popFirst() { entries[oldest.key] = nil }
    }

    mutating func evict(now: Double) {
        while let oldest = order.first, oldest.expires <= now {
            order.removeFirst()
            entries[oldest.key] = nil
        }
    }
}
