import DequeModule
import HybridSyncProtocol

/// Remembers API responses by idempotency key for a while, so a retried request is answered
/// with the first response instead of publishing twice.
struct IdempotencyCache {
    private var responses: [String: HTTPResponse] = [:]
    private var order: Deque<(key: String, expires: Double)> = []

    func response(for key: String) -> HTTPResponse? { responses[key] }

    mutating func store(_ response: HTTPResponse, for key: String, now: Double, window: Double, maxKeys: Int) {
        responses[key] = response
        order.append((key, now + window))
        while order.count > maxKeys, let oldest = order.popFirst() { responses[oldest.key] = nil }
    }

    mutating func evict(now: Double) {
        while let oldest = order.first, oldest.expires <= now {
            order.removeFirst()
            responses[oldest.key] = nil
        }
    }
}
