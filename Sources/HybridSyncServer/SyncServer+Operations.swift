package import HybridSyncBroker
package import HybridSyncProtocol

/// Why a backend operation failed, in the server's terms (the HTTP router maps each reason to its
/// status and code, docs/API.md).
package struct OperationError: Error, Sendable, Equatable {
    package enum Reason: Sendable, Equatable {
        /// The channel's namespace is not configured.
        case invalidChannel
        /// Retained state asked of a namespace that keeps none.
        case stateNotRetained
        /// An argument is out of its range (a key's length).
        case invalidArgument
        /// An idempotency key reused with another body.
        case idempotencyConflict
        /// The storage engine failed; nothing was applied.
        case engineUnavailable
        /// Presence asked of a namespace that keeps none.
        case presenceDisabled
    }

    package let reason: Reason
    /// What was wrong and what to do.
    package let message: String

    package init(_ reason: Reason, _ message: String) {
        self.reason = reason
        self.message = message
    }

    /// The storage engine failed: nothing was applied; retrying later may work.
    static func engine(_ error: BrokerError) -> OperationError {
        OperationError(.engineUnavailable, "the storage engine failed (\(error.message)); nothing was applied, retry later")
    }
}

/// What a backend service may ask of the server (docs/API.md), typed and free of HTTP: the
/// router of `HybridSyncAPI` parses requests into these calls and renders their results. Every
/// call runs on the transport's thread; completions come back on it.
extension SyncServer {
    package typealias Completion<Value> = (Result<Value, OperationError>) -> Void

    /// An idempotent write: a repeat of `key` (already scoped by the caller) within the window is
    /// answered from the first one's receipts; the same key with another `body` is a conflict.
    package struct Idempotency: Sendable {
        package var key: String
        package var body: JSONValue

        package init(key: String, body: JSONValue) {
            self.key = key
            self.body = body
        }
    }

    /// The configuration in force (the API key and the API rate are the router's to apply).
    package var currentConfiguration: ServerConfiguration { configuration }

    /// Wall-clock seconds since 1970, as the server reads them (a ban's `until`).
    package var now: Double { clock.now() }

    /// The server clock's monotonic seconds (rate buckets).
    package var monotonicNow: Double { clock.monotonic() }

    /// One publication on `name` (optionally a state change), validated: an unknown namespace, or a
    /// key on a namespace that does not retain state, is refused.
    package func publication(_ data: JSONValue, to name: ChannelName, key: String?, remove: Bool = false) throws(OperationError) -> PublishRequest {
        let policy = try configuredPolicy(name)
        var change: StateChange?
        if let key {
            guard policy.retainState else {
                throw OperationError(.stateNotRetained, "namespace '\(name.namespace)' does not retain state: publish without 'key', or enable retainState")
            }
            guard !key.isEmpty, key.utf8.count <= 256 else { throw OperationError(.invalidArgument, "'key' must be 1-256 bytes") }
            change = remove ? .remove(key: key) : .set(key: key)
        }
        return PublishRequest(channel: name, policy: policy.stream, data: data, change: change)
    }

    /// Stores `requests` in one broker write (once per idempotency key, with it); completes with
    /// their receipts once stored and fanned out.
    package func publish(_ requests: [PublishRequest], idempotency: Idempotency?, completion: @escaping Completion<[PublishReceipt]>) {
        let receipts: ([SequencedPublication]) -> [PublishReceipt] = { published in
            published.map { PublishReceipt(channel: $0.publication.channel, offset: $0.publication.offset, key: $0.publication.key) }
        }
        guard let idempotency else {
            return sequence(requests) { completion($0.map(receipts).mapError(OperationError.engine)) }
        }
        let now = clock.now()
        broker.recall(idempotencyKey: idempotency.key, body: idempotency.body, now: now) { [self] result in
            switch result {
            case .failure(let error):
                completion(.failure(.engine(error)))
            case .success(.repeated(let earlier)):
                completion(.success(earlier))
            case .success(.conflict):
                completion(.failure(OperationError(.idempotencyConflict, "the idempotency key was used on this route and channel with a different body; use a new key")))
            case .success(.new):
                let record = IdempotencyRecord(
                    key: idempotency.key, body: idempotency.body, expires: now + configuration.idempotencyWindowSeconds,
                    maxKeys: configuration.idempotencyMaxKeys
                )
                sequence(requests, idempotency: record) { completion($0.map(receipts).mapError(OperationError.engine)) }
            }
        }
    }

    /// Removes one retained key. Removing a key that is not there changes nothing (no publication,
    /// no offset used): completes with `removed` false and the current version.
    package func removeState(_ name: ChannelName, key: String, completion: @escaping Completion<(removed: Bool, version: UInt64)>) throws(OperationError) {
        let removal = try publication(.null, to: name, key: key, remove: true)
        read(name, StreamQuery(policy: removal.policy, includeState: true), completion) { [self] stream in
            guard stream.state[key] != nil else { return completion(.success((false, stream.position?.offset ?? 0))) }
            sequence([removal]) { result in
                completion(result.map { (true, $0[0].publication.offset) }.mapError(OperationError.engine))
            }
        }
    }

    /// What a read of a channel includes.
    package enum ChannelRead: Sendable {
        /// The position only; a channel without a stream answers none.
        case position
        /// The position and the retained state (refused where no state is retained).
        case state
        /// The position and what history holds.
        case history
    }

    /// Reads `name`'s stream: its position, and its state or history as `kind` asks.
    package func read(_ name: ChannelName, _ kind: ChannelRead, completion: @escaping Completion<StreamRead>) throws(OperationError) {
        let policy = try configuredPolicy(name)
        let query: StreamQuery
        switch kind {
        case .position:
            query = StreamQuery(policy: policy.stream)
        case .state:
            guard policy.retainState else {
                throw OperationError(.stateNotRetained, "namespace '\(name.namespace)' does not retain state")
            }
            query = StreamQuery(policy: policy.stream, create: true, includeState: true)
        case .history:
            query = StreamQuery(policy: policy.stream, create: true, includeHistory: true)
        }
        read(name, query, completion) { completion(.success($0)) }
    }

    /// Subscribers of `name` on this node.
    package func subscriberCount(_ name: ChannelName) -> Int { hub.subscriberCount(name) }

    /// Open WebSocket connections and channels with subscribers here.
    package var load: (connections: Int, channels: Int) { (sessions.count, hub.channels.count) }

    /// Completes when the storage engine answers a read.
    package func checkEngine(completion: @escaping Completion<Void>) {
        broker.ban(of: "", now: clock.now()) { result in
            completion(result.map { _ in () }.mapError {
                OperationError(.engineUnavailable, "the storage engine does not answer: \($0.message)")
            })
        }
    }

    /// The daemon's metrics as Prometheus text with the gauges brought up to date, or nil when
    /// no exporter is installed.
    package func exportMetrics() -> [UInt8]? {
        guard let metricsExporter else { return nil }
        metrics.refresh(sessions, hub)
        return metricsExporter()
    }

    /// Bans `user` (see ``ban(user:reason:until:completion:)``), completing with how many live
    /// sessions closed and the state version of the ban.
    package func banUser(_ user: String, reason: String, until: Double?, completion: @escaping Completion<(sessionsClosed: Int, version: UInt64)>) {
        ban(user: user, reason: reason, until: until) { completion($0.mapError(OperationError.engine)) }
    }

    /// Lifts `user`'s ban; completes with false when there was none.
    package func unbanUser(_ user: String, completion: @escaping Completion<Bool>) {
        unban(user: user) { completion($0.mapError(OperationError.engine)) }
    }

    /// Every ban that holds now, by user.
    package func bans(completion: @escaping Completion<[String: Ban]>) {
        broker.bans(now: clock.now()) { completion($0.mapError(OperationError.engine)) }
    }

    /// The user's live sessions on this node, oldest first.
    package func sessions(of user: String) -> [JSONValue] { sessions.open(of: user).map { $0.json(clock: clock) } }

    // MARK: Helpers

    func configuredPolicy(_ name: ChannelName) throws(OperationError) -> NamespacePolicy {
        guard let policy = policy(name) else { throw OperationError(.invalidChannel, configuration.unknownNamespace(name).message) }
        return policy
    }

    /// Reads a stream, then runs `next` with it (a failure completes here).
    private func read<Value>(_ name: ChannelName, _ query: StreamQuery, _ completion: @escaping Completion<Value>, next: @escaping (StreamRead) -> Void) {
        broker.read(name, query, now: clock.now()) { result in
            switch result {
            case .success(let stream): next(stream)
            case .failure(let error): completion(.failure(.engine(error)))
            }
        }
    }
}
