import HybridSyncProtocol
import Logging

/// A loader in flight or done, per key.
struct LoadState {
    var task: Task<Void, Never>?
    var loader: (@Sendable () async throws -> JSONValue)?
    var loaded = false
    var app: String?
}

extension ClientRuntime {
    // MARK: Reading and writing

    /// The current value of `key` (its default while unknown). A channel map leaves out entries
    /// that do not decode. Throws `closed` (or the terminal error) once the runtime has stopped:
    /// a stopped runtime never presents a default as the current value.
    public func get<Value>(_ key: StateKey<Value>) throws -> Value {
        try checkUsable()
        let decoded = key.decodeEntries(store.value(of: key.binding))
        if let value = decoded.value { return value }
        throw decoded.failures.first?.error ?? ClientRuntimeError.protocolViolation("\(key.binding)")
    }

    /// Sets a client-owned key; every observer of it sees the new value. Server-owned keys throw
    /// ``ClientRuntimeError/Code/readOnly``.
    public func set<Value>(_ key: StateKey<Value>, _ value: Value) throws {
        try checkUsable()
        guard case .local(let name) = key.binding else { throw ClientRuntimeError.readOnly("\(key.binding)") }
        notify(store.setLocal(name, try key.encode(value)))
    }

    /// Tells the observers of each changed binding: a channel map's observers get just the
    /// entries that changed (a map is rebuilt whole only for its first snapshot).
    func notify(_ changes: [BindingChange]) {
        for change in changes where store.isKnown(change.binding) {
            let watchers = store.watchers(of: [change.binding])
            guard !watchers.isEmpty else { continue }
            let update: StateUpdate
            if case .serverMap(let channel) = change.binding, let keys = change.keys {
                update = .entries(keys.map { ($0, store.entry(channel, $0)) })
            } else {
                update = .whole(store.value(of: change.binding))
            }
            for id in watchers { observers.states[id]?.emit(update) }
        }
    }

    // MARK: Observing state

    /// The current value of `key` first, then every change, for micro-app `app`. The stream keeps
    /// only the newest value for a slow reader (state conflates; it never blocks the runtime).
    func observeState<Value>(_ key: StateKey<Value>, app: UInt64) async throws -> AsyncThrowingStream<Value, any Error> {
        try checkUsable()
        guard let appName = registry.name(of: app) else { throw ClientRuntimeError.unmounted }
        var held: ChannelName?
        if let raw = key.binding.channel {
            let name = try ClientRuntimeError.channel(raw)
            try await hold(name, app: app)
            held = name
            if observers.channelsWithoutState.contains(name) {
                release(name)
                throw ClientRuntimeError.stateNotRetained(raw)
            }
        }
        guard registry[app] != nil else {
            if let held { release(held) }
            throw ClientRuntimeError.unmounted
        }
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: Value.self, bufferingPolicy: .bufferingNewest(1))
        let id = makeID()
        let emit = StateEmitter.make(for: key, app: appName, sink: errorSink) { continuation.yield($0) }
        observers.add(id, StateObserver(app: app, binding: key.binding, channel: held, emit: emit,
                                        finish: { continuation.finish(throwing: $0) }))
        store.watch(key.binding, by: id)
        registry.addObserver(id, to: app)
        continuation.onTermination = { [weak self] _ in Task { await self?.removeObserver(id, error: nil) } }
        // The current value first, once it is known: a server key waits for its channel's snapshot
        // (while offline from the start, a default would be presented as the state).
        if store.isKnown(key.binding) { emit(.whole(store.value(of: key.binding))) }
        return stream
    }

    /// Calls `onChange` with the current value, then with every change, one call at a time, in
    /// its own task: a slow or throwing callback never delays or breaks other observers. Errors go
    /// to the error sink with the micro-app's name. When the runtime stops (a ban, a refused
    /// token) the stop is reported to the sink, and once ``start()`` connects again the observer
    /// follows the key again, current value first: it never stays silently dead.
    func observeState<Value>(
        _ key: StateKey<Value>, app: UInt64, onChange: @escaping @Sendable (Value) async throws -> Void
    ) async throws -> ObservationToken {
        let first = try await observeState(key, app: app)
        let taskID = makeID()
        let appName = registry.name(of: app)
        let sink = errorSink
        let task = Task { [weak self] in
            var stream: AsyncThrowingStream<Value, any Error>? = first
            while let current = stream {
                stream = nil
                do {
                    for try await value in current {
                        do {
                            try await onChange(value)
                        } catch {
                            sink(RuntimeErrorReport(app: appName, context: "observer of \(key.binding)", error: error))
                        }
                    }
                } catch {
                    // close() ends every observer on purpose: nothing to report, nothing to follow again.
                    if (error as? ClientRuntimeError)?.code == .closed { break }
                    sink(RuntimeErrorReport(app: appName, context: "observer of \(key.binding)", error: error))
                    guard let self, !Task.isCancelled else { break }
                    stream = await self.observeAgainWhenConnected(key, app: app)
                }
            }
            await self?.taskFinished(taskID, app: app)
        }
        registry.addTask(taskID, task, to: app)
        return ObservationToken { task.cancel() }
    }

    /// After the runtime stopped: waits until it is connected again (``start()``), then observes
    /// `key` again. Nil when the micro-app unmounts, the runtime closes, the task is cancelled or
    /// the new observation fails (reported to the error sink).
    private func observeAgainWhenConnected<Value>(_ key: StateKey<Value>, app: UInt64) async -> AsyncThrowingStream<Value, any Error>? {
        for await event in events(app: app) {
            guard case .connectionChanged(.connected) = event else { continue }
            do {
                return try await observeState(key, app: app)
            } catch {
                errorSink(RuntimeErrorReport(app: registry.name(of: app), context: "observer of \(key.binding)", error: error))
                return nil
            }
        }
        return nil
    }

    private func taskFinished(_ id: UInt64, app: UInt64) {
        registry.removeTask(id, from: app)
    }

    // MARK: Loaders

    /// Loads a client-owned key once: concurrent callers share one run of `loader`; later calls
    /// return the loaded value until ``invalidate(_:)``. A failure is reported to the error sink
    /// (with the micro-app's name), rethrown, and not cached, so the next call retries. A caller
    /// waits at most ``Configuration/commandTimeout`` and stops waiting when its task is
    /// cancelled (the loader keeps running for the others).
    func load<Value>(_ key: StateKey<Value>, app: String?, loader: @escaping @Sendable () async throws -> Value) async throws -> Value {
        try checkUsable()
        guard case .local = key.binding else { throw ClientRuntimeError.readOnly("\(key.binding)") }
        let binding = key.binding
        if loads[binding]?.loaded == true, loads[binding]?.task == nil { return try get(key) }
        if loads[binding]?.task == nil {
            let erased: @Sendable () async throws -> JSONValue = { try key.encode(try await loader()) }
            run(binding, erased, app: app)
        }
        return try key.decode(try await wait(.load(binding), timeout: configuration.commandTimeout, what: "loader"))
    }

    private func run(_ binding: StateBinding, _ loader: @escaping @Sendable () async throws -> JSONValue, app: String?) {
        let task = Task { [weak self] in
            let result: Result<JSONValue, any Error>
            do { result = .success(try await loader()) } catch { result = .failure(error) }
            await self?.loaded(binding, result)
        }
        loads[binding] = LoadState(task: task, loader: loader, loaded: false, app: app)
    }

    private func loaded(_ binding: StateBinding, _ result: Result<JSONValue, any Error>) {
        loads[binding]?.task = nil
        switch result {
        case .success(let json):
            loads[binding]?.loaded = true
            if case .local(let name) = binding, status.stoppedError == nil, !status.isDisposed { notify(store.setLocal(name, json)) }
        case .failure(let error):
            errorSink(RuntimeErrorReport(app: loads[binding]?.app, context: "loader of \(binding)", error: error))
        }
        for ticket in waiters.tickets(for: .load(binding)) { resolve(ticket, result) }
    }

    /// Marks a loaded key stale and runs its last loader again (observers see the new value).
    public func invalidate<Value>(_ key: StateKey<Value>) async {
        let binding = key.binding
        guard let state = loads[binding], let loader = state.loader, state.task == nil else { return }
        loads[binding]?.loaded = false
        _ = try? await load(StateKey<JSONValue>(binding: binding, default: .null), app: state.app, loader: loader)
    }

    // MARK: Events

    /// The current connection state first, then every change and `banned` notice.
    func events(app: UInt64) -> AsyncStream<RuntimeEvent> {
        let (stream, continuation) = AsyncStream.makeStream(of: RuntimeEvent.self, bufferingPolicy: .bufferingNewest(32))
        guard registry[app] != nil else {
            continuation.finish()
            return stream
        }
        let id = makeID()
        continuation.yield(.connectionChanged(connectionState))
        registry.addEvents(id, continuation, to: app)
        continuation.onTermination = { [weak self] _ in Task { await self?.removeEvents(id, app: app) } }
        return stream
    }

    private func removeEvents(_ id: UInt64, app: UInt64) { registry.removeEvents(id, from: app) }
}
