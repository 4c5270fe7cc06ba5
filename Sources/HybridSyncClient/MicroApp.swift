import HybridSyncProtocol

/// A micro-app mounted into a ``ClientRuntime``: a scope that owns its observations and tasks.
/// ``unmount()`` (or releasing the last reference) ends all of them and releases server
/// subscriptions nobody else uses. Keep a reference for as long as the micro-app observes.
public final class MicroApp: Sendable {
    /// The name given at mount, used in logs and error reports.
    public let name: String
    let id: UInt64
    /// The runtime this micro-app is mounted into.
    public let runtime: ClientRuntime

    init(name: String, id: UInt64, runtime: ClientRuntime) {
        self.name = name
        self.id = id
        self.runtime = runtime
    }

    deinit {
        Task { [runtime, id] in await runtime.unmount(app: id) }
    }

    /// Events of `channel` from now on: publications in order and `.resynced` when the runtime
    /// could not recover what it missed. Many micro-apps observing one channel share one server
    /// subscription. Throws `invalidChannel` (checked locally), `serverRefused`, `unmounted`,
    /// `closed`, `timeout` (``ClientRuntime/Configuration/commandTimeout``) or `CancellationError`.
    public func observe(_ channel: String) async throws -> ClientRuntime.ChannelEvents {
        try await runtime.observeChannel(try ClientRuntimeError.channel(channel), app: id)
    }

    /// The current value of `key` first, then every change (a slow reader gets the newest value;
    /// an equal value is not repeated). Throws like ``observe(_:)-(String)``; the stream ends with
    /// the runtime's error when it stops, and normally when the micro-app unmounts. Values that do
    /// not decode go to the runtime's error sink (a channel map leaves out just the bad entries).
    public func observe<Value>(_ key: StateKey<Value>) async throws -> AsyncThrowingStream<Value, any Error> {
        try await runtime.observeState(key, app: id)
    }

    /// Calls `onChange` with the current value of `key`, then with every change, until the token is
    /// cancelled or the micro-app unmounts. A throwing callback is reported to the error sink with
    /// this micro-app's name; other observers are not affected.
    public func observe<Value>(_ key: StateKey<Value>, onChange: @escaping @Sendable (Value) async throws -> Void) async throws -> ObservationToken {
        try await runtime.observeState(key, app: id, onChange: onChange)
    }

    /// Publishes `data` on `channel` (where its namespace lets clients publish) through the shared
    /// connection and returns its offset; see ``ClientRuntime/publish(_:data:)``. A command larger
    /// than the server's `maxMessageBytes` fails with `messageTooBig` before anything is sent.
    @discardableResult
    public func publish(_ channel: String, data: JSONValue) async throws -> UInt64 {
        try await runtime.publish(channel, data: data)
    }

    /// What the server's history still holds on `channel` after `position` (for example after a
    /// `.resynced(from:to:)`): `complete` says whether nothing is missing. Needs a connection
    /// (`notConnected` otherwise); bounded by ``ClientRuntime/Configuration/commandTimeout``.
    public func backfill(_ channel: String, after position: StreamPosition) async throws -> Backfill {
        try await runtime.backfill(try ClientRuntimeError.channel(channel), after: position)
    }

    /// Who is present on `channel` (a namespace with presence, docs/PROTOCOL.md "Presence"), on
    /// every node, sorted by user: observe the channel first (the server answers only its
    /// subscribers: `serverRefused` 112; 114 where the namespace keeps no presence). Needs a
    /// connection (`notConnected`); bounded by ``ClientRuntime/Configuration/commandTimeout``.
    public func presence(_ channel: String) async throws -> [PresenceMember] {
        let json = try await runtime.call(.presence(channel: try ClientRuntimeError.channel(channel)), queueable: false)
        guard let result = PresenceResult(json) else { throw ClientRuntimeError.protocolViolation("presence result") }
        return result.members
    }

    /// Who is present on `channel` (a namespace with presence), live: the current users sorted by
    /// user once the runtime has them, then the whole list again after every change (a join, a
    /// leave, a new info). The runtime reads ``presence(_:)`` once subscribed and applies the
    /// server's pushes on top; after every reconnect it reads again, so a list that changed while
    /// offline is replaced by the server's (offline, the last list stays:
    /// ``ClientRuntime/connectionState`` says so). Holds the channel like ``observe(_:)-(String)``
    /// and throws like it; where the namespace keeps no presence the stream ends with
    /// `serverRefused` 114. A slow reader gets the newest list.
    public func observePresence(_ channel: String) async throws -> ClientRuntime.PresentUsers {
        try await runtime.observePresence(try ClientRuntimeError.channel(channel), app: id)
    }

    /// How many users, and connections of theirs, are present on `channel`; as ``presence(_:)``.
    public func presenceStats(_ channel: String) async throws -> PresenceStats {
        let json = try await runtime.call(.presenceStats(channel: try ClientRuntimeError.channel(channel)), queueable: false)
        guard let users = json["users"]?.intValue, let contexts = json["contexts"]?.intValue else {
            throw ClientRuntimeError.protocolViolation("presence_stats result")
        }
        return PresenceStats(users: Int(users), contexts: Int(contexts))
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
