import HybridSyncProtocol
import Metrics

/// The server's metrics, through swift-metrics (the daemon exports them as Prometheus text on
/// `/metrics`; docs/API.md lists them). Handles on hot paths are created once.
struct ServerMetrics {
    let connections = Gauge(label: "hybridsync_connections")
    let sessions = Gauge(label: "hybridsync_sessions")
    let subscriptions = Gauge(label: "hybridsync_subscriptions")
    let channels = Gauge(label: "hybridsync_channels")
    let publications = Counter(label: "hybridsync_publications_total")
    let deliveries = Counter(label: "hybridsync_deliveries_total")
    let bytesOut = Counter(label: "hybridsync_bytes_out_total")
    let engineErrors = Counter(label: "hybridsync_engine_errors_total")
    let queueOverflows = Counter(label: "hybridsync_queue_overflows_total")

    /// Brings the gauges up to date (before `/metrics` is exported).
    func refresh(_ sessions: SessionTable, _ hub: Hub) {
        connections.record(sessions.count)
        self.sessions.record(sessions.all.count { $0.identity != nil })
        subscriptions.record(sessions.all.reduce(0) { $0 + $1.channels.count })
        channels.record(hub.channels.count)
    }

    /// A connection closed by the server, by close code.
    func disconnected(_ code: CloseCode) {
        Counter(label: "hybridsync_disconnects_total", dimensions: [("code", "\(code.rawValue)")]).increment()
    }

    /// A refused `connect`, by reason: `invalid_token`, `expired_token` or `banned`.
    func authFailed(_ reason: String) {
        Counter(label: "hybridsync_auth_failures_total", dimensions: [("reason", reason)]).increment()
    }
}
