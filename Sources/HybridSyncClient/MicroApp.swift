import HybridSyncProtocol

/// A micro-app mounted into a ``ClientRuntime``: a scope that owns its observations and tasks.
/// ``unmount()`` (or releasing the last reference) ends all of them and releases server
/// subscriptions nobody else uses.
public final class MicroApp: Sendable {
    /// The name given at mount, used in logs and error reports.
    public let name: String
    let id: UInt64
    let runtime: ClientRuntime

    init(name: String, id: UInt64, runtime: ClientRuntime) {
        self.name = name
        self.id = id
        self.runtime = runtime
    }

    deinit {
        Task { [runtime, id] in await runtime.unmount(app: id) }
    }

    /// Publications on `channel` from now on. Many micro-apps observing one channel share one
    /// server subscription. Throws if the channel name is invalid or the server refuses it.
    public func observe(_ channel: String) async throws -> ClientRuntime.PublicationStream {
        let name: ChannelName
        do {
            name = try ChannelName(channel)
        } catch {
            throw ClientRuntimeError.server(ReplyError(.invalidChannel, error.description))
        }
        return try await runtime.observePublications(name, app: id)
    }

    /// The current value of `key` first, then every change (a slow reader gets the newest value).
    /// Problems (a refused channel, a value that does not decode) go to the runtime's error sink.
    public func observe<Value>(_ key: StateKey<Value>) async -> AsyncStream<Value> {
        await runtime.observeState(key, app: id)
    }

    /// Calls `onChange` with the current value of `key`, then with every change, until the token is
    /// cancelled or the micro-app unmounts. A throwing callback is reported to the error sink with
    /// this micro-app's name; other observers are not affected.
    public func observe<Value>(_ key: StateKey<Value>, onChange: @escaping @Sendable (Value) async throws -> Void) async -> ObservationToken {
        await runtime.observeState(key, app: id, onChange: onChange)
    }

    /// Loads a client-owned key once for all concurrent callers (see ``ClientRuntime/invalidate(_:)``).
    public func load<Value>(_ key: StateKey<Value>, _ loader: @escaping @Sendable () async throws -> Value) async throws -> Value {
        try await runtime.load(key, app: name, loader: loader)
    }

    /// Connection changes (current state first) and `banned` notices, for this micro-app.
    public func events() async -> AsyncStream<RuntimeEvent> {
        await runtime.events(app: id)
    }

    /// Ends every observation and task of this micro-app.
    public func unmount() async {
        await runtime.unmount(app: id)
    }
}
