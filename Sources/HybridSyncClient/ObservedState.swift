public import Observation

/// One state key as an `@Observable` value for view models: ``value`` is readable synchronously,
/// ``isLoading`` until the first value arrived, ``isStale`` while the runtime is not connected,
/// ``error`` once the observation ended with one (the runtime stopped, the server refused the
/// channel). Events (publications, bans) stay on async streams.
///
/// ```swift
/// let banned = ObservedState(StateKey<BanInfo?>(channel: "moderation:users", key: "42", default: nil), in: app)
/// // in a view: if banned.isLoading { ProgressView() } else if banned.value != nil { … }
/// ```
@MainActor @Observable
public final class ObservedState<Value: Codable & Sendable> {
    /// The current value (the key's default while loading).
    public private(set) var value: Value
    /// True until the first value arrived.
    public private(set) var isLoading = true
    /// True while the runtime is not connected: the value may be behind the server.
    public private(set) var isStale = true
    /// Why the observation ended, if it ended with an error.
    public private(set) var error: (any Error)?

    @ObservationIgnored private var tasks: [Task<Void, Never>] = []

    /// Starts following `key` for the micro-app `app` (until ``cancel()`` or the app unmounts).
    public init(_ key: StateKey<Value>, in app: MicroApp) {
        value = key.defaultValue
        tasks.append(Task { [weak self] in
            do {
                let values = try await app.observe(key)
                for try await value in values { self?.update(value) }
            } catch {
                self?.error = error
            }
        })
        tasks.append(Task { [weak self] in
            for await event in await app.events() {
                guard case .connectionChanged(let state) = event else { continue }
                if case .connected = state { self?.isStale = false } else { self?.isStale = true }
            }
        })
    }

    private func update(_ value: Value) {
        self.value = value
        if isLoading { isLoading = false }
    }

    /// Stops following the key.
    public func cancel() {
        for task in tasks { task.cancel() }
        tasks.removeAll()
    }

    isolated deinit {
        cancel()
    }
}
