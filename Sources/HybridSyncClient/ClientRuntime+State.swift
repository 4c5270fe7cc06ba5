import HybridSyncProtocol
import Logging

/// One live observation, owned by a micro-app.
struct Observer {
    enum Kind {
        case publications(ChannelName, UInt64, ClientRuntime.PublicationStream.Continuation)
        /// A state observer: `emit` reads the current value and yields it; `finish` ends the stream.
        case state(StateBinding, emit: (isolated ClientRuntime) -> Void, finish: () -> Void)
    }

    var app: UInt64?
    var kind: Kind

    var channel: ChannelName? {
        switch kind {
        case .publications(let channel, _, _): channel
        case .state(let binding, _, _): binding.channel.flatMap { try? ChannelName($0) }
        }
    }

    func finish(_ error: (any Error)?) {
        switch kind {
        case .publications(_, _, let continuation): continuation.finish(throwing: error)
        case .state(_, _, let finish): finish()
        }
    }
}

/// What a mounted micro-app owns.
struct AppScope {
    let name: String
    var observers: Set<UInt64> = []
    var tasks: [UInt64: Task<Void, Never>] = [:]
    var events: [UInt64: AsyncStream<RuntimeEvent>.Continuation] = [:]
}

/// A loader in flight or done, per key.
struct LoadState {
    var task: Task<JSONValue, any Error>?
    var loader: (@Sendable () async throws -> JSONValue)?
    var loaded = false
    var app: String?
}

extension ClientRuntime {
    // MARK: Reading and writing

    /// The current value of `key` (its default while unknown).
    public func get<Value>(_ key: StateKey<Value>) throws -> Value {
        try key.decode(currentJSON(key.binding))
    }

    /// Sets a client-owned key; every observer of it sees the new value. Server-owned keys throw
    /// ``ClientRuntimeError/readOnly(_:)``.
    public func set<Value>(_ key: StateKey<Value>, _ value: Value) throws {
        guard case .local(let name) = key.binding else { throw ClientRuntimeError.readOnly("\(key.binding)") }
        localValues[name] = try key.encode(value)
        notify(key.binding)
    }

    func currentJSON(_ binding: StateBinding) -> JSONValue? {
        switch binding {
        case .local(let name):
            return localValues[name]
        case .serverKey(let channel, let key):
            guard let name = try? ChannelName(channel) else { return nil }
            return channels[name]?.state[key]?.value
        case .serverMap(let channel):
            guard let name = try? ChannelName(channel), let subscription = channels[name] else { return nil }
            return .object(subscription.state.mapValues(\.value))
        }
    }

    func notifyKey(channel: ChannelName, key: String) {
        notify(.serverKey(channel: channel.rawValue, key: key))
        notify(.serverMap(channel: channel.rawValue))
    }

    func notify(_ binding: StateBinding) {
        for observer in observers.values {
            if case .state(let observed, let emit, _) = observer.kind, observed == binding { emit(self) }
        }
    }

    // MARK: Observing state

    /// The current value of `key` first, then every change, for micro-app `app`. The stream keeps
    /// only the newest value for a slow reader (state conflates; it never blocks the runtime).
    func observeState<Value>(_ key: StateKey<Value>, app: UInt64) async -> AsyncStream<Value> {
        let (stream, continuation) = AsyncStream.makeStream(of: Value.self, bufferingPolicy: .bufferingNewest(1))
        guard let appName = apps[app]?.name else {
            continuation.finish()
            return stream
        }
        var heldChannel: ChannelName?
        if let raw = key.binding.channel {
            do {
                let name: ChannelName
                do { name = try ChannelName(raw) } catch {
                    throw ClientRuntimeError.server(ReplyError(.invalidChannel, error.description))
                }
                try await hold(name)
                heldChannel = name
            } catch {
                errorSink(RuntimeErrorReport(app: appName, context: "observer of \(key.binding)", error: error))
                continuation.finish()
                return stream
            }
        }
        guard apps[app] != nil else {
            if let heldChannel { release(heldChannel) }
            continuation.finish()
            return stream
        }
        let id = makeID()
        let emit: (isolated ClientRuntime) -> Void = { runtime in
            do {
                continuation.yield(try key.decode(runtime.currentJSON(key.binding)))
            } catch {
                runtime.errorSink(RuntimeErrorReport(app: appName, context: "decoding \(key.binding)", error: error))
            }
        }
        observers[id] = Observer(app: app, kind: .state(key.binding, emit: emit, finish: { continuation.finish() }))
        apps[app]?.observers.insert(id)
        continuation.onTermination = { [weak self] _ in Task { await self?.removeObserver(id) } }
        emit(self)  // the current value first
        return stream
    }

    /// Calls `onChange` with the current value, then with every change, one call at a time, in
    /// its own task: a slow or throwing callback never delays or breaks other observers. Errors go
    /// to the error sink with the micro-app's name.
    func observeState<Value>(
        _ key: StateKey<Value>, app: UInt64, onChange: @escaping @Sendable (Value) async throws -> Void
    ) async -> ObservationToken {
        let stream = await observeState(key, app: app)
        let taskID = makeID()
        let appName = apps[app]?.name
        let sink = errorSink
        let task = Task { [weak self] in
            for await value in stream {
                do {
                    try await onChange(value)
                } catch {
                    sink(RuntimeErrorReport(app: appName, context: "observer of \(key.binding)", error: error))
                }
            }
            await self?.taskFinished(taskID, app: app)
        }
        apps[app]?.tasks[taskID] = task
        return ObservationToken { task.cancel() }
    }

    private func taskFinished(_ id: UInt64, app: UInt64) {
        apps[app]?.tasks[id] = nil
    }

    func removeObserver(_ id: UInt64) {
        guard let observer = observers.removeValue(forKey: id) else { return }
        if let app = observer.app { apps[app]?.observers.remove(id) }
        if let channel = observer.channel { release(channel) }
    }

    // MARK: Loaders

    /// Loads a client-owned key once: concurrent callers share one run of `loader`; later calls
    /// return the loaded value until ``invalidate(_:)``. A failure is reported to the error sink
    /// (with the micro-app's name), rethrown, and not cached, so the next call retries.
    func load<Value>(_ key: StateKey<Value>, app: String?, loader: @escaping @Sendable () async throws -> Value) async throws -> Value {
        guard case .local = key.binding else { throw ClientRuntimeError.readOnly("\(key.binding)") }
        let binding = key.binding
        if loads[binding]?.loaded == true, loads[binding]?.task == nil { return try get(key) }
        let erasedLoader: @Sendable () async throws -> JSONValue = { try key.encode(try await loader()) }
        if loads[binding]?.task == nil {
            loads[binding] = LoadState(task: Task { try await erasedLoader() }, loader: erasedLoader, loaded: false, app: app)
        }
        let task = loads[binding]!.task!
        do {
            let json = try await task.value
            if loads[binding]?.task == task {
                loads[binding]?.task = nil
                loads[binding]?.loaded = true
                if case .local(let name) = binding {
                    localValues[name] = json
                    notify(binding)
                }
            }
            return try key.decode(json)
        } catch {
            if loads[binding]?.task == task {
                loads[binding]?.task = nil
                errorSink(RuntimeErrorReport(app: app, context: "loader of \(key.binding)", error: error))
            }
            throw error
        }
    }

    /// Marks a loaded key stale and runs its last loader again (observers see the new value).
    public func invalidate<Value>(_ key: StateKey<Value>) async {
        let binding = key.binding
        guard let state = loads[binding], let loader = state.loader, state.task == nil else { return }
        loads[binding]?.loaded = false
        _ = try? await load(StateKey<JSONValue>(binding: binding, default: .null), app: state.app, loader: loader)
    }

    // MARK: Apps and events

    /// The current connection state first, then every change and `banned` notice.
    func events(app: UInt64) -> AsyncStream<RuntimeEvent> {
        let (stream, continuation) = AsyncStream.makeStream(of: RuntimeEvent.self, bufferingPolicy: .bufferingNewest(32))
        guard apps[app] != nil else {
            continuation.finish()
            return stream
        }
        let id = makeID()
        continuation.yield(.connectionChanged(state))
        apps[app]?.events[id] = continuation
        continuation.onTermination = { [weak self] _ in Task { await self?.removeEvents(id, app: app) } }
        return stream
    }

    private func removeEvents(_ id: UInt64, app: UInt64) { apps[app]?.events[id] = nil }

    func broadcast(_ event: RuntimeEvent) {
        for app in apps.values {
            for continuation in app.events.values { continuation.yield(event) }
        }
    }

    /// Ends everything a micro-app owns and forgets it.
    func unmount(app: UInt64) {
        guard let scope = apps.removeValue(forKey: app) else { return }
        for id in scope.observers {
            observers[id]?.finish(nil)
            removeObserver(id)
        }
        for task in scope.tasks.values { task.cancel() }
        for continuation in scope.events.values { continuation.finish() }
        logger.debug("unmounted", metadata: ["app": "\(scope.name)"])
    }

    /// Ends all observations and events (terminal close or `close()`).
    func finishEverything(error: (any Error)?) {
        for (id, observer) in observers {
            observer.finish(error)
            observers[id] = nil
        }
        for subscription in channels.values {
            subscription.lingerTask?.cancel()
            for waiter in subscription.readyWaiters { waiter.resume(throwing: error ?? ClientRuntimeError.notConnected) }
        }
        channels.removeAll()
        for (key, scope) in apps {
            apps[key]?.observers.removeAll()
            for task in scope.tasks.values { task.cancel() }
        }
        for (_, pending) in offlineQueue { pending.complete(.failure(error ?? ClientRuntimeError.notConnected), in: self) }
        offlineQueue.removeAll()
    }
}

