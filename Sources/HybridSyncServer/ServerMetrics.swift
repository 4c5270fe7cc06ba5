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

    /// A connection closed by the server, by close code.
    func disconnected(_ code: CloseCode) {
        Counter(label: "hybridsync_disconnects_total", dimensions: [("code", "\(code.rawValue)")]).increment()
    }

    /// A refused `connect`, by reason: `invalid_token`, `expired_token` or `banned`.
    func authFailed(_ reason: String) {
        Counter(label: "hybridsync_auth_failures_total", dimensions: [("reason", reason)]).increment()
    }

    /// One answered API request: its route (channel and user parts replaced), status and duration.
    func apiRequest(route: String, status: Int, nanoseconds: Int64) {
        Counter(label: "hybridsync_api_requests_total", dimensions: [("route", route), ("status", "\(status)")]).increment()
        Timer(label: "hybridsync_api_request_duration_seconds", dimensions: [("route", route)], preferredDisplayUnit: .seconds)
            .recordNanoseconds(nanoseconds)
    }

    /// A request path as a metric label: `/api/state/app:x` → `/api/state/:channel`; unknown ones collapse.
    static func route(of path: String) -> String {
        for prefix in ["/api/state/", "/api/history/", "/api/channels/"] where path.hasPrefix(prefix) {
            return prefix + ":channel"
        }
        if path.hasPrefix("/api/ban/") { return "/api/ban/:user" }
        if path.hasPrefix("/api/sessions/") { return "/api/sessions/:user" }
        let known = ["/health", "/ready", "/metrics", "/api/publish", "/api/broadcast", "/api/state/set", "/api/state/remove",
                     "/api/ban", "/api/bans", "/api/disconnect"]
        return known.contains(path) ? path : "other"
    }
}
