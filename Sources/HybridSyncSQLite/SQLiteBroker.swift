import DequeModule
package import HybridSyncBroker
package import HybridSyncProtocol
package import Logging

/// The durable embedded engine: the broker's image in memory (``StreamStore``), every change
/// written to a SQLite database in WAL mode, grouped into one transaction per service turn.
///
/// - Writes apply to the image at once; their completions wait for the turn's commit in
///   ``flush()``, so a publication is fanned out and acknowledged only once it is on disk.
/// - Reads answer from the image: at once when nothing waits for a commit, otherwise after the
///   completions queued before them (the broker's call-order guarantee).
/// - At start the whole database is loaded (deny-list included) before the server accepts anyone.
///   Epochs are stored, so a client's position stays valid across a restart or a crash.
/// - If a commit fails, its writes are rolled back, their callers get a ``BrokerError`` (503 for
///   the API) and the image is reloaded from the database, so memory never runs ahead of disk.
package final class SQLiteBroker: Broker {
    /// What a commit waits for before an acknowledged publish is reported (`engine.sqlite.synchronous`).
    package enum Synchronous: String, Sendable, CaseIterable {
        /// WAL commits reach the OS before the acknowledgement: they survive a crash of the daemon
        /// (`kill -9`), and may be lost if the machine loses power or the kernel crashes.
        case normal
        /// Every commit is fsync'ed before the acknowledgement: it survives power loss too, at the
        /// cost of one fsync per service turn that wrote something.
        case full
    }

    private struct Pending {
        /// False for a read queued only to keep call order.
        let needsCommit: Bool
        let succeed: () -> Void
        let fail: (BrokerError) -> Void
    }

    let database: SQLiteDatabase
    let path: String
    /// This daemon's ownership of the file; released last (after the database is closed).
    private let lock: DatabaseFileLock
    private let logger: Logger
    private var store: StreamStore
    /// Presence is not written to the file: every context closes with the process (one node).
    private var presence = PresenceTable()
    private weak var listener: (any BrokerListener)?
    private var pending: Deque<Pending> = []
    /// Set when the database became unusable: every call fails with it.
    private var broken: BrokerError?

    /// Takes exclusive ownership of the database at `path` (one daemon per file), opens or
    /// creates it, and loads it.
    /// - Throws: ``BrokerError`` saying what is wrong with the file and what to do; when another
    ///   process holds the file, which one (from `<path>.lock`).
    package init(path: String, synchronous: Synchronous = .normal, logger: Logger) throws(BrokerError) {
        self.path = path
        self.logger = logger
        do {
            lock = try DatabaseFileLock(databasePath: path)
        } catch {
            throw BrokerError(
                "engine.sqlite.path '\(path)' cannot be used: \(error). One daemon owns a SQLite file: "
                    + "stop the other daemon first (a restart must not overlap), give this one its own file, "
                    + "or run several nodes on the redis engine"
            )
        }
        do {
            database = try SQLiteDatabase(path: path)
            try Self.prepare(database, synchronous: synchronous)
            store = try Self.load(database)
        } catch {
            throw BrokerError(
                "engine.sqlite.path '\(path)' is not a usable HybridSync database: \(error). "
                    + "Check the path and its permissions; if the file is damaged, move it away to start empty "
                    + "(clients then get recovered:false and a fresh snapshot) or restore a backup"
            )
        }
        logger.info("sqlite engine loaded", metadata: [
            "path": "\(path)", "streams": "\(store.streams.count)", "bans": "\(store.bans.count)",
            "synchronous": "\(synchronous.rawValue)",
        ])
    }

    // MARK: Broker

    /// See ``Broker/attach(_:)``.
    package func attach(_ listener: any BrokerListener) { self.listener = listener }

    /// Applies to the image now; completes after this turn's commit (``flush()``).
    package func publish(
        _ requests: [PublishRequest], idempotency: IdempotencyRecord?, now: Double,
        completion: @escaping (Result<[SequencedPublication], BrokerError>) -> Void
    ) {
        if let broken { return completion(.failure(broken)) }
        let published = store.publish(requests, idempotency: idempotency, now: now)
        pending.append(Pending(needsCommit: true, succeed: { [weak self] in
            self?.listener?.broker(delivered: published)
            completion(.success(published))
        }, fail: { completion(.failure($0)) }))
    }

    /// Answers from the image, in call order.
    package func read(_ channel: ChannelName, _ query: StreamQuery, now: Double, completion: @escaping (Result<StreamRead, BrokerError>) -> Void) {
        answer(store.read(channel, query, now: now), completion)
    }

    /// Answers from the image, in call order.
    package func recall(idempotencyKey: String, body: JSONValue, now: Double, completion: @escaping (Result<IdempotencyMatch, BrokerError>) -> Void) {
        answer(store.recall(idempotencyKey, body: body, now: now), completion)
    }

    /// Answers from the image, in call order.
    package func bans(now: Double, completion: @escaping (Result<[String: Ban], BrokerError>) -> Void) {
        answer(store.activeBans(now: now), completion)
    }

    /// Answers from the image, in call order.
    package func ban(of user: String, now: Double, completion: @escaping (Result<Ban?, BrokerError>) -> Void) {
        answer(store.ban(of: user, now: now), completion)
    }

    /// Applies to the image now (trims, expired-ban lifts); completes after this turn's commit.
    package func sweep(
        now: Double, banChannel: ChannelName, policy: (ChannelName) -> StreamPolicy?, inUse: (ChannelName) -> Bool,
        completion: @escaping (Result<[SequencedPublication], BrokerError>) -> Void
    ) {
        if let broken { return completion(.failure(broken)) }
        let lifted = store.sweep(now: now, banChannel: banChannel, policy: policy, inUse: inUse)
        pending.append(Pending(needsCommit: true, succeed: { [weak self] in
            if !lifted.isEmpty { self?.listener?.broker(delivered: lifted) }
            completion(.success(lifted))
        }, fail: { completion(.failure($0)) }))
    }

    /// Commits what this turn changed in one transaction, then runs the completions it held, in order.
    package func flush() {
        guard !pending.isEmpty || store.hasMutations else { return }
        let mutations = store.takeMutations()
        var failure: BrokerError?
        if !mutations.isEmpty {
            do {
                try write(mutations)
            } catch {
                failure = BrokerError("could not write to '\(path)': \(error)")
            }
        }
        if let failure {
            recover(from: failure)
            return
        }
        // Completions may call the broker again: those calls queue behind what is answered now.
        var ready = pending.count
        while ready > 0, let next = pending.popFirst() {
            ready -= 1
            next.succeed()
        }
        // Reads queued behind them need no commit of their own.
        while let next = pending.first, !next.needsCommit {
            pending.removeFirst()
            next.succeed()
        }
    }

    // MARK: Presence (in this process: the one node; in call order like the reads)

    /// See ``PresenceEngine/presenceJoin(_:user:connection:info:maxUsers:completion:)``: applied
    /// now, its changes delivered just before its completion runs.
    package func presenceJoin(
        _ channel: ChannelName, user: String, connection: UInt64, info: JSONValue?, maxUsers: Int,
        completion: @escaping (Result<PresenceJoin, BrokerError>) -> Void
    ) {
        if let broken { return completion(.failure(broken)) }
        let (outcome, changes) = presence.join(channel, user: user, connection: connection, info: info, maxUsers: maxUsers)
        answer(outcome) { [weak self] result in
            if case .success = result, !changes.isEmpty { self?.listener?.broker(presence: changes, madeHere: true) }
            completion(result)
        }
    }

    /// See ``PresenceEngine/presenceLeave(_:connection:)``: the changes are delivered in call order.
    package func presenceLeave(_ channels: [ChannelName], connection: UInt64) {
        let changes = presence.leave(channels, connection: connection)
        guard !changes.isEmpty else { return }
        answer(()) { [weak self] _ in self?.listener?.broker(presence: changes, madeHere: true) }
    }

    /// See ``PresenceEngine/presence(of:completion:)``.
    package func presence(of channel: ChannelName, completion: @escaping (Result<[PresenceMember], BrokerError>) -> Void) {
        answer(presence.members(of: channel), completion)
    }

    /// See ``PresenceEngine/presenceStats(of:completion:)``.
    package func presenceStats(of channel: ChannelName, completion: @escaping (Result<PresenceStats, BrokerError>) -> Void) {
        answer(presence.stats(of: channel), completion)
    }

    // MARK: Internals

    /// Answers a read at once, or after what is queued before it.
    private func answer<Value>(_ value: Value, _ completion: @escaping (Result<Value, BrokerError>) -> Void) {
        if let broken { return completion(.failure(broken)) }
        if pending.isEmpty { return completion(.success(value)) }
        pending.append(Pending(needsCommit: false, succeed: { completion(.success(value)) }, fail: { completion(.failure($0)) }))
    }

    /// A commit failed: nothing of this turn is stored, so the image is rebuilt from the database
    /// and every waiting caller is told.
    private func recover(from failure: BrokerError) {
        logger.info("sqlite commit failed; rolling back this turn's writes", metadata: ["path": "\(path)", "error": "\(failure.message)"])
        _ = try? database.execute("ROLLBACK")
        do {
            store = try Self.load(database)
        } catch {
            broken = BrokerError("'\(path)' failed and could not be reloaded (\(error)); restart the daemon after fixing the disk")
            logger.info("sqlite engine unusable", metadata: ["path": "\(path)", "error": "\(error)"])
        }
        let failed = pending
        pending.removeAll()
        for entry in failed { entry.fail(failure) }
    }
}
