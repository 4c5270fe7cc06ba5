import HybridSyncProtocol
public import HybridSyncServer
public import Logging
import Metrics
import NIOCore

/// The connect and subscribe proxies over HTTP (`hooks.*`, docs/API.md "Hooks"): the daemon POSTs
/// the question as JSON to the app backend and waits at most `hooks.timeoutMillis`, with at most
/// `hooks.maxConcurrent` calls in flight and a circuit breaker (``HookGate``), so a slow or dead
/// backend costs its own callers a typed temporary error and never stalls the service loop.
///
/// The gate is touched on the server's thread only; the HTTP call runs on SwiftNIO's threads and
/// its result comes back through `schedule` (the transport's `onServiceThread`).
public final class HTTPBackendHooks: BackendHooks {
    /// `hooks.*`.
    public struct Configuration: Sendable, Equatable {
        /// `hooks.connectURL`: asked on every `connect` (unset: never).
        public var connectURL: String?
        /// `hooks.subscribeURL`: asked on subscribes in namespaces with `subscribeProxy` (unset: never).
        public var subscribeURL: String?
        /// `hooks.secret`: sent as `Authorization: Bearer <secret>`, so the backend knows the caller.
        public var secret: String?
        /// `hooks.timeoutMillis`: the longest a call may take, connect included.
        public var timeoutMillis: Int
        /// `hooks.maxConcurrent`: calls in flight at most; one more fails at once.
        public var maxConcurrent: Int
        /// `hooks.breakerFailures`: failures in a row that open the circuit.
        public var breakerFailures: Int
        /// `hooks.breakerSeconds`: how long an open circuit refuses every call.
        public var breakerSeconds: Double

        /// A configuration; throws a message naming the bad key.
        public init(
            connectURL: String? = nil, subscribeURL: String? = nil, secret: String? = nil, timeoutMillis: Int = 1000,
            maxConcurrent: Int = 64, breakerFailures: Int = 5, breakerSeconds: Double = 10
        ) throws(HookConfigurationError) {
            for (key, url) in [("hooks.connectURL", connectURL), ("hooks.subscribeURL", subscribeURL)] {
                if let url, HookHTTPClient.Endpoint(url) == nil {
                    throw HookConfigurationError("\(key) must be an http:// or https:// URL with a host, got '\(url)'")
                }
            }
            guard (10...60_000).contains(timeoutMillis) else { throw HookConfigurationError("hooks.timeoutMillis must be 10-60000, got \(timeoutMillis)") }
            guard maxConcurrent >= 1 else { throw HookConfigurationError("hooks.maxConcurrent must be >= 1, got \(maxConcurrent)") }
            guard breakerFailures >= 1 else { throw HookConfigurationError("hooks.breakerFailures must be >= 1, got \(breakerFailures)") }
            guard breakerSeconds >= 0 else { throw HookConfigurationError("hooks.breakerSeconds must be >= 0, got \(breakerSeconds)") }
            self.connectURL = connectURL
            self.subscribeURL = subscribeURL
            self.secret = secret
            self.timeoutMillis = timeoutMillis
            self.maxConcurrent = maxConcurrent
            self.breakerFailures = breakerFailures
            self.breakerSeconds = breakerSeconds
        }
    }

    private let connectEndpoint: HookHTTPClient.Endpoint?
    private let subscribeEndpoint: HookHTTPClient.Endpoint?
    private let configuration: Configuration
    private let client = HookHTTPClient()
    private let schedule: @Sendable (@escaping @Sendable () -> Void) -> Void
    private let monotonic: @Sendable () -> Double
    private let logger: Logger
    private var gate: HookGate

    /// Hooks as configured; results come back through `schedule` (the server's thread), and
    /// `monotonic` (seconds) times the circuit breaker.
    public init(
        configuration: Configuration, logger: Logger, monotonic: @escaping @Sendable () -> Double,
        schedule: @escaping @Sendable (@escaping @Sendable () -> Void) -> Void
    ) {
        self.configuration = configuration
        connectEndpoint = configuration.connectURL.flatMap(HookHTTPClient.Endpoint.init)
        subscribeEndpoint = configuration.subscribeURL.flatMap(HookHTTPClient.Endpoint.init)
        self.schedule = schedule
        self.monotonic = monotonic
        self.logger = logger
        gate = HookGate(maxConcurrent: configuration.maxConcurrent, failureThreshold: configuration.breakerFailures,
                        openSeconds: configuration.breakerSeconds)
    }

    /// See ``BackendHooks/connects``.
    public var connects: Bool { connectEndpoint != nil }
    /// See ``BackendHooks/subscribes``.
    public var subscribes: Bool { subscribeEndpoint != nil }

    /// See ``BackendHooks/connect(_:completion:)``.
    public func connect(_ request: HookRequest, completion: @escaping (HookDecision) -> Void) {
        guard let connectEndpoint else { return completion(.allow(info: nil, channels: [])) }
        call("connect", connectEndpoint, request, completion)
    }

    /// See ``BackendHooks/subscribe(_:completion:)``.
    public func subscribe(_ request: HookRequest, completion: @escaping (HookDecision) -> Void) {
        guard let subscribeEndpoint else { return completion(.allow(info: nil, channels: [])) }
        call("subscribe", subscribeEndpoint, request, completion)
    }

    private func call(_ hook: String, _ endpoint: HookHTTPClient.Endpoint, _ request: HookRequest, _ completion: @escaping (HookDecision) -> Void) {
        if let refusal = gate.admit(now: monotonic()) {
            let why = switch refusal {
            case .tooManyInFlight(let limit): "\(limit) calls to the app backend are in flight already (hooks.maxConcurrent)"
            case .circuitOpen: "the app backend failed \(configuration.breakerFailures) times in a row; calls pause for \(configuration.breakerSeconds) s"
            }
            Counter(label: "hybridsync_hook_calls_total", dimensions: [("hook", hook), ("outcome", "refused")]).increment()
            return completion(.unavailable(why))
        }
        var body: [String: JSONValue] = [
            "hook": .string(hook), "user": .string(request.user), "client": .string(request.client),
            "remoteAddress": .string(request.remoteAddress), "info": request.info ?? .null,
        ]
        body["name"] = request.name.map(JSONValue.string) ?? .null
        if let channel = request.channel { body["channel"] = .string(channel.rawValue) }
        let headers = configuration.secret.map { [("Authorization", "Bearer \($0)")] } ?? []
        let waiting = Waiting(completion)
        client.post(endpoint, body: JSONValue.object(body).jsonBytes, headers: headers, timeout: .milliseconds(Int64(configuration.timeoutMillis))) { [schedule] outcome in
            schedule { waiting.hooks?.finish(hook, outcome, waiting) }
        }
        waiting.hooks = self
    }

    private func finish(_ hook: String, _ outcome: HookHTTPClient.Outcome, _ waiting: Waiting) {
        let decision = Self.decision(outcome)
        let failed: Bool
        if case .unavailable(let why) = decision {
            failed = true
            logger.info("app backend hook failed", metadata: ["hook": "\(hook)", "why": "\(why)"])
        } else {
            failed = false
        }
        gate.finished(succeeded: !failed, now: monotonic())
        let label = switch decision {
        case .allow: "allowed"
        case .deny: "denied"
        case .unavailable: "failed"
        }
        Counter(label: "hybridsync_hook_calls_total", dimensions: [("hook", hook), ("outcome", label)]).increment()
        waiting.completion(decision)
    }

    /// The backend's answer as a decision: `200 {"allow": true, "info"?, "channels"?}` or
    /// `200 {"allow": false, "reason"?}`; anything else is unavailable.
    static func decision(_ outcome: HookHTTPClient.Outcome) -> HookDecision {
        switch outcome {
        case .failed(let why):
            return .unavailable(why)
        case .answered(let status, let body):
            guard status == 200 else { return .unavailable("the app backend answered HTTP \(status)") }
            guard let json = try? JSONValue.parse(body), let allow = json["allow"]?.boolValue else {
                return .unavailable("the app backend's answer is not {\"allow\": true|false, ...}")
            }
            guard allow else { return .deny(reason: json["reason"]?.stringValue ?? "refused by the app backend") }
            let info = json["info"].flatMap { $0 == .null ? JSONValue?.none : $0 }
            let channels = json["channels"]?.arrayValue?.compactMap(\.stringValue) ?? []
            return .allow(info: info, channels: channels)
        }
    }
}

/// A call's completion on its way back to the server's thread (touched only there).
private final class Waiting: @unchecked Sendable {
    let completion: (HookDecision) -> Void
    var hooks: HTTPBackendHooks?

    init(_ completion: @escaping (HookDecision) -> Void) { self.completion = completion }
}

/// A `hooks.*` key is wrong; the message names it.
public struct HookConfigurationError: Error, Sendable, CustomStringConvertible {
    /// What is wrong and with which key.
    public let description: String

    init(_ description: String) { self.description = description }
}
