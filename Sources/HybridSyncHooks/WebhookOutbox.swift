import Foundation
public import HybridSyncBroker
import HybridSyncCrypto
public import HybridSyncProtocol
public import HybridSyncServer
public import Logging
import Metrics
import NIOCore
import NIOPosix

/// Webhooks (`webhooks.*`, docs/API.md "Webhooks"): every event is stored (``WebhookStore``:
/// durable with the SQLite engine) before it is sent; batches of the oldest are POSTed to the
/// receiver, signed, and removed only once it answered 2xx, so delivery is **at least once** (an
/// event's `id` lets the receiver drop a repeat). A failed batch is sent again after 1 s, doubling
/// up to `webhooks.maxBackoffSeconds`. The backlog is bounded (`webhooks.maxBacklog`): an event
/// past it is dropped, counted in `hybridsync_webhook_events_dropped_total` and logged.
///
/// Runs on the server's thread; the HTTP call and the backoff timer run on SwiftNIO's threads and
/// come back through `schedule`.
public final class WebhookOutbox: WebhookSink {
    /// `webhooks.*`.
    public struct Configuration: Sendable, Equatable {
        /// `webhooks.url`: where batches are POSTed.
        public var url: String
        /// `webhooks.secret`: the HMAC-SHA256 key of the signature.
        public var secret: String
        /// `webhooks.events`: the event types sent (the others are not recorded).
        public var events: Set<String>
        /// `webhooks.batchSize`: events per request at most.
        public var batchSize: Int
        /// `webhooks.maxBacklog`: events waiting at most; more are dropped and counted.
        public var maxBacklog: Int
        /// `webhooks.maxBackoffSeconds`: the longest wait between two attempts.
        public var maxBackoffSeconds: Double
        /// `webhooks.timeoutMillis`: the longest one request may take.
        public var timeoutMillis: Int

        /// Every event type there is.
        public static let allEvents: Set<String> = ["ban", "unban", "presence_join", "presence_leave", "channel_occupied", "channel_vacated"]

        /// A configuration; throws a message naming the bad key.
        public init(
            url: String, secret: String, events: Set<String> = allEvents, batchSize: Int = 100, maxBacklog: Int = 100_000,
            maxBackoffSeconds: Double = 60, timeoutMillis: Int = 5000
        ) throws(HookConfigurationError) {
            guard HookHTTPClient.Endpoint(url) != nil else { throw HookConfigurationError("webhooks.url must be an http:// or https:// URL with a host, got '\(url)'") }
            guard secret.utf8.count >= 16 else { throw HookConfigurationError("webhooks.url needs webhooks.secret, at least 16 bytes (receivers verify each request's signature with it)") }
            let unknown = events.subtracting(Self.allEvents)
            guard unknown.isEmpty else {
                throw HookConfigurationError("webhooks.events: unknown \(unknown.sorted()); known: \(Self.allEvents.sorted().joined(separator: ", "))")
            }
            guard (1...1000).contains(batchSize) else { throw HookConfigurationError("webhooks.batchSize must be 1-1000, got \(batchSize)") }
            guard maxBacklog >= 1 else { throw HookConfigurationError("webhooks.maxBacklog must be >= 1, got \(maxBacklog)") }
            guard maxBackoffSeconds >= 1 else { throw HookConfigurationError("webhooks.maxBackoffSeconds must be >= 1, got \(maxBackoffSeconds)") }
            guard (10...60_000).contains(timeoutMillis) else { throw HookConfigurationError("webhooks.timeoutMillis must be 10-60000, got \(timeoutMillis)") }
            self.url = url
            self.secret = secret
            self.events = events
            self.batchSize = batchSize
            self.maxBacklog = maxBacklog
            self.maxBackoffSeconds = maxBackoffSeconds
            self.timeoutMillis = timeoutMillis
        }
    }

    private let configuration: Configuration
    private let endpoint: HookHTTPClient.Endpoint?
    private let store: any WebhookStore
    private let client = HookHTTPClient()
    private let schedule: @Sendable (@escaping @Sendable () -> Void) -> Void
    private let logger: Logger
    /// Makes event ids unique across processes: a random prefix per process, then a counter.
    private let idPrefix = Base64URL.encode(CryptoPrimitives.randomBytes(9))
    private var nextID: UInt64 = 1
    private var busy = false
    private var failures = 0
    private var lastDropLog = -Double.infinity
    private let backlog = Gauge(label: "hybridsync_webhook_backlog")

    /// An outbox on `store`; call ``start()`` on the server's thread once it runs: what the store
    /// holds from before (a restart) is sent first.
    public init(
        configuration: Configuration, store: any WebhookStore, logger: Logger,
        schedule: @escaping @Sendable (@escaping @Sendable () -> Void) -> Void
    ) {
        self.configuration = configuration
        endpoint = HookHTTPClient.Endpoint(configuration.url)
        self.store = store
        self.logger = logger
        self.schedule = schedule
        backlog.record(store.count)
    }

    /// Starts sending (on the server's thread): what the store holds from before a restart first.
    public func start() {
        if store.count > 0 { logger.info("webhook events from before the restart are sent again", metadata: ["events": "\(store.count)"]) }
        pump()
    }

    /// See ``WebhookSink/record(_:_:)``.
    public func record(_ type: String, _ data: JSONValue) {
        guard configuration.events.contains(type) else { return }
        guard store.count < configuration.maxBacklog else { return dropped(type) }
        let event: JSONValue = [
            "id": .string("\(idPrefix)-\(nextID)"), "type": .string(type), "time": .double(Date().timeIntervalSince1970), "data": data,
        ]
        nextID += 1
        do {
            try store.append(event.jsonString)
        } catch {
            logger.info("a webhook event could not be stored; it is lost", metadata: ["type": "\(type)", "error": "\(error.message)"])
            return Counter(label: "hybridsync_webhook_events_dropped_total", dimensions: [("why", "store")]).increment()
        }
        backlog.record(store.count)
        pump()
    }

    /// The signature of a request: `v1=` and the lowercase hex HMAC-SHA256, under `secret`, of the
    /// timestamp (decimal seconds), a `.` and the body, exactly as sent.
    public static func signature(secret: String, timestamp: Int, body: [UInt8]) -> String {
        let mac = CryptoPrimitives.hmacSHA256(key: Array(secret.utf8), message: Array("\(timestamp).".utf8) + body)
        return "v1=" + mac.map { String(format: "%02x", $0) }.joined()
    }

    private func dropped(_ type: String) {
        Counter(label: "hybridsync_webhook_events_dropped_total", dimensions: [("why", "backlog")]).increment()
        let now = Date().timeIntervalSince1970
        guard now - lastDropLog >= 10 else { return }
        lastDropLog = now
        logger.info("webhook backlog full: events are dropped until the receiver catches up (hybridsync_webhook_events_dropped_total)", metadata: [
            "max_backlog": "\(configuration.maxBacklog)", "type": "\(type)",
        ])
    }

    /// Sends the oldest batch, unless one is on its way or waiting for its retry.
    private func pump() {
        guard !busy, let endpoint else { return }
        let batch: [(sequence: Int64, event: String)]
        do {
            batch = try store.oldest(configuration.batchSize)
        } catch {
            return logger.info("the webhook store cannot be read", metadata: ["error": "\(error.message)"])
        }
        guard let last = batch.last?.sequence else { return }
        busy = true
        let body = Array(("{\"events\":[" + batch.map(\.event).joined(separator: ",") + "]}").utf8)
        let timestamp = Int(Date().timeIntervalSince1970)
        let headers = [
            ("X-HybridSync-Timestamp", "\(timestamp)"),
            ("X-HybridSync-Signature", Self.signature(secret: configuration.secret, timestamp: timestamp, body: body)),
        ]
        let box = UncheckedBox(self)
        client.post(endpoint, body: body, headers: headers, timeout: .milliseconds(Int64(configuration.timeoutMillis))) { [schedule] outcome in
            schedule { box.value.sent(outcome, through: last, count: batch.count) }
        }
    }

    private func sent(_ outcome: HookHTTPClient.Outcome, through last: Int64, count: Int) {
        if case .answered(let status, _) = outcome, (200..<300).contains(status) {
            do {
                try store.remove(through: last)
            } catch {
                logger.info("the webhook store cannot be updated; the batch may be sent again", metadata: ["error": "\(error.message)"])
            }
            Counter(label: "hybridsync_webhook_events_delivered_total").increment(by: Int64(count))
            backlog.record(store.count)
            failures = 0
            busy = false
            return pump()
        }
        failures += 1
        let delay = min(configuration.maxBackoffSeconds, pow(2, Double(min(failures - 1, 30))))
        let why = switch outcome {
        case .answered(let status, _): "HTTP \(status)"
        case .failed(let reason): reason
        }
        Counter(label: "hybridsync_webhook_attempts_failed_total").increment()
        logger.info("webhook delivery failed; retrying", metadata: [
            "why": "\(why)", "events_waiting": "\(store.count)", "retry_in_seconds": "\(delay)", "failures_in_a_row": "\(failures)",
        ])
        let box = UncheckedBox(self)
        MultiThreadedEventLoopGroup.singleton.next().scheduleTask(in: .milliseconds(Int64(delay * 1000))) { [schedule] in
            schedule {
                box.value.busy = false
                box.value.pump()
            }
        }
    }
}

/// The outbox on its way back to the server's thread (touched only there; held until the callback ran).
private struct UncheckedBox<Value: AnyObject>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
