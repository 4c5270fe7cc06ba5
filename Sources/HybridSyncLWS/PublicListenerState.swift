import CLibWebSockets
import HybridSyncWebSocket
import Logging

/// A worker's share of the public listener, and its connect gate.
struct PublicListenerState {
    /// The public vhost of this thread's context.
    var vhost: OpaquePointer?
    /// This thread's SO_REUSEPORT listening socket on the public port, or -1 before `start`.
    var socket: Int32 = -1
    /// The peer address `accept` gave the socket being adopted (the adoption callback takes it).
    var acceptedPeerAddress: String?
    /// lws's handle of the listening socket (its POLLIN is turned off while the gate is shut).
    var wsi: OpaquePointer?
    /// The sockets of this thread still connecting (`limits.maxConnectingPerThread`).
    var gate = ConnectGate(capacity: 0, slotSeconds: 0)
    /// Whether accepting is paused because the gate is shut.
    private(set) var paused = false
    /// Pauses, logged at most every few seconds.
    private var pauses = RateLimitedLog()

    /// Seconds a connecting socket counts against `limits.maxConnectingPerThread` at most: longer,
    /// and it is a slow or idle client (its header timeout still applies), not work in progress.
    static let connectSlotSeconds = 0.5

    /// Whether another socket may be accepted now. When the gate is shut, stops watching the
    /// listening socket (the kernel's accept queue keeps the clients in arrival order) until a
    /// connecting socket finishes or its slot expires (``resumeIfOpen(now:)``).
    mutating func mayAccept(now: Double, logger: Logger) -> Bool {
        guard !gate.isOpen(now: now) else { return true }
        pause(logger: logger, now: now)
        return false
    }

    private mutating func pause(logger: Logger, now: Double) {
        guard !paused, let wsi else { return }
        lws_rx_flow_control(wsi, 0)
        paused = true
        let (log, suppressed) = pauses.shouldLog(now: now)
        if log {
            logger.info("connect storm: accepting paused while this thread's sockets connect", metadata: [
                "connecting": "\(gate.connecting)", "limit": "\(gate.capacity)", "paused_since_last_line": "\(suppressed)",
            ])
        }
    }

    /// After every turn while paused: watches the listening socket again once the gate is open.
    /// Still paused, returns when the oldest slot frees itself (for the thread's timer).
    mutating func resumeIfOpen(now: Double) -> Double? {
        guard paused, let wsi else { return nil }
        guard gate.isOpen(now: now) else { return gate.nextExpiry }
        paused = false
        lws_rx_flow_control(wsi, 1)
        return nil
    }
}
