public import Observation

/// One state key (or a channel's present users) as an `@Observable` value for view models: ``value`` is readable synchronously,
/// ``isLoading`` until the first value arrived, ``isStale`` whenever ``value`` may be behind the
/// server, ``error`` when the observation ended with one (the runtime stopped, the server refused
/// the channel). Events (publications, bans) stay on async streams.
///
/// After the runtime stopped (a ban, a refused token) and ``ClientRuntime/start()`` connected it
/// again, it follows the key again by itself: ``isStale`` stays true until the current value
/// arrived, then ``error`` is cleared.
///
/// ```swift
/// let banned = ObservedState(StateKey<BanInfo?>(channel: "moderation:users", key: "42", default: nil), in: app)
/// // in a view: if banned.isLoading { ProgressView() } else if banned.value != nil { … }
/// let here = ObservedState(presenceOf: "room:7", in: app)   // value: [PresentUser]
/// ```
@MainActor @Observable
public final class ObservedState<Value: Sendable> {
    /// The current value (the key's default while loading).
    public private(set) var value: Value
    /// True until the first value arrived.
    public private(set) var isLoading = true
    /// True while ``value`` may be behind the server: the runtime is not connected, the
    /// observation ended, or it was started again and the current value has not arrived yet.
    public private(set) var isStale = true
    /// Why the observation ended, if it ended with an error (nil again once it follows the key again).
    public private(set) var error: (any Error)?

    /// Opens the stream this value follows (again after a stop and a new `start()`).
    @ObservationIgnored private let follow: @Sendable (MicroApp) async throws -> AsyncThrowingStream<Value, any Error>
    @ObservationIgnored private let app: MicroApp
    @ObservationIgnored private var observation: Task<Void, Never>?
    @ObservationIgnored private var events: Task<Void, Never>?
    @ObservationIgnored private var connected = false
    /// The observation ended with an error and has not delivered since.
    @ObservationIgnored private var ended = false

    /// Starts following what `follow` opens for `app`, showing `loading` until its first value.
    init(loading: Value, in app: MicroApp, follow: @escaping @Sendable (MicroApp) async throws -> AsyncThrowingStream<Value, any Error>) {
        value = loading
        self.follow = follow
        self.app = app
        observe()
        events = Task { [weak self] in
            for await event in await app.events() {
                guard case .connectionChanged(let state) = event else { continue }
                self?.connectionChanged(state)
            }
        }
    }

    private func observe() {
        observation = Task { [weak self, app, follow] in
            do {
                let values = try await follow(app)
                for try await value in values { self?.update(value) }
            } catch {
                guard !Task.isCancelled else { return }
                self?.end(with: error)
            }
        }
    }

    private func update(_ value: Value) {
        self.value = value
        if isLoading { isLoading = false }
        if ended {
            ended = false
            error = nil
        }
        refreshStaleness()
    }

    private func end(with error: any Error) {
        self.error = error
        ended = true
        observation = nil
        refreshStaleness()
    }

    private func connectionChanged(_ state: ConnectionState) {
        if case .connected = state { connected = true } else { connected = false }
        // Started again after a stop: follow the key again (the error stays until a value arrives).
        if connected, ended, observation == nil { observe() }
        refreshStaleness()
    }

    private func refreshStaleness() {
        let stale = !connected || ended
        if isStale != stale { isStale = stale }
    }

    /// Stops following the key (or the present users).
    public func cancel() {
        observation?.cancel()
        events?.cancel()
        observation = nil
        events = nil
    }

    // A plain deinit: `isolated deinit` relies on runtime support that iOS 17 may lack (not checkable here).
    // The task handles are Sendable, so cancelling them needs no isolation.
    deinit {
        observation?.cancel()
        events?.cancel()
    }
}

extension ObservedState where Value: Codable {
    /// Starts following `key` for the micro-app `app` (until ``cancel()`` or the app unmounts).
    public convenience init(_ key: StateKey<Value>, in app: MicroApp) {
        self.init(loading: key.defaultValue, in: app) { try await $0.observe(key) }
    }
}

extension ObservedState where Value == [PresentUser] {
    /// Starts following who is present on `channel` for the micro-app `app`
    /// (``MicroApp/observePresence(_:)``): ``value`` is empty while ``isLoading``.
    public convenience init(presenceOf channel: String, in app: MicroApp) {
        self.init(loading: [], in: app) { try await $0.observePresence(channel) }
    }
}
