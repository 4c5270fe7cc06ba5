public import DequeModule
public import HybridSyncProtocol

/// The broker's data as an in-memory image: streams (epoch, offset, history, retained state), the
/// deny-list and idempotency records, with every rule that decides what they hold. Pure and
/// synchronous; ``MemoryBroker`` is this image alone, ``SQLiteBroker`` (HybridSyncSQLite) keeps it
/// and writes its ``Mutation``s to disk.
package final class StreamStore {
    /// One channel's stream.
    package final class Stream {
        /// Names this incarnation of the stream; positions of another epoch never match it.
        package let epoch: String
        /// The offset of the latest publication (0: none yet).
        public fileprivate(set) var offset: UInt64
        /// The policy of the latest use (unknown for a stream loaded from disk and not used since).
        public fileprivate(set) var policy: StreamPolicy?
        /// The publications kept for recovery, oldest first.
        public fileprivate(set) var history: Deque<SequencedPublication>
        /// The retained keyed state.
        public fileprivate(set) var state: [String: StateEntry]

        /// A stream as loaded or created.
        package init(epoch: String, offset: UInt64 = 0, history: [SequencedPublication] = [], state: [String: StateEntry] = [:]) {
            self.epoch = epoch
            self.offset = offset
            self.history = Deque(history)
            self.state = state
        }

        var isEmpty: Bool { history.isEmpty && state.isEmpty }

        /// Drops history beyond the size limit or older than the TTL; returns the first offset kept
        /// (nil when nothing was dropped).
        @discardableResult
        func trim(now: Double) -> UInt64? {
            guard let policy else { return nil }
            var dropped = false
            while history.count > policy.historySize {
                history.removeFirst()
                dropped = true
            }
            while let first = history.first, now - first.time > policy.historyTTLSeconds {
                history.removeFirst()
                dropped = true
            }
            return dropped ? (history.first?.publication.offset ?? offset + 1) : nil
        }
    }

    /// A change to the image, in the order it happened: what a durable engine must store.
    package enum Mutation {
        /// A publication on a stream (created with this epoch if new): its offset, history entry
        /// (when `kept`), state change, and what history dropped (offsets below `historyFrom`).
        case published(SequencedPublication, change: StateChange?, kept: Bool, historyFrom: UInt64?)
        case denyList(DenyListChange)
        case remembered(IdempotencyRecord, [PublishReceipt])
        /// History of `channel` below `offset` was dropped (TTL).
        case trimmed(ChannelName, below: UInt64)
        /// An idempotency record was forgotten (expired, or over the key limit).
        case forgotRecord(String)
        /// The stream holds nothing any more and is forgotten (its next use starts a new epoch).
        case forgotten(ChannelName)
    }

    private struct Remembered {
        let body: JSONValue
        let receipts: [PublishReceipt]
    }

    /// Every stream, by channel.
    package private(set) var streams: [ChannelName: Stream] = [:]
    /// The deny-list, by user (expired bans until the next sweep lifts them).
    package private(set) var bans: [String: Ban] = [:]
    private var remembered: [String: Remembered] = [:]
    private var rememberedOrder: Deque<(key: String, expires: Double)> = []
    private let makeEpoch: () -> String
    /// Mutations since the last ``takeMutations()``, when ``journaling``.
    private var mutations: [Mutation] = []
    private let journaling: Bool

    /// - Parameters:
    ///   - makeEpoch: names a new stream; it must never repeat an epoch of a stream that existed.
    ///   - journaling: keep the list of ``Mutation``s for a durable engine.
    package init(journaling: Bool = false, makeEpoch: @escaping () -> String) {
        self.journaling = journaling
        self.makeEpoch = makeEpoch
    }

    /// A fresh random epoch: 64 bits from the system's secure generator, as 16 hex digits.
    package static func randomEpoch() -> String {
        var generator = SystemRandomNumberGenerator()
        let value = generator.next() as UInt64
        let hex = String(value, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    // MARK: Loading (durable engines)

    /// Puts a stream read from disk into the image.
    package func restore(_ channel: ChannelName, _ stream: Stream) { streams[channel] = stream }

    /// Puts a ban read from disk into the image.
    package func restoreBan(_ user: String, _ ban: Ban) { bans[user] = ban }

    /// Puts an idempotency record read from disk into the image (call oldest first).
    package func restoreRecord(_ key: String, body: JSONValue, receipts: [PublishReceipt], expires: Double) {
        remembered[key] = Remembered(body: body, receipts: receipts)
        rememberedOrder.append((key, expires))
    }

    /// Whether there are mutations not taken yet.
    package var hasMutations: Bool { !mutations.isEmpty }

    /// The mutations since the last call, oldest first.
    package func takeMutations() -> [Mutation] {
        defer { mutations.removeAll(keepingCapacity: true) }
        return mutations
    }

    private func record(_ mutation: Mutation) {
        if journaling { mutations.append(mutation) }
    }

    // MARK: Operations

    /// Sequences `requests` in order and stores `idempotency` with them; returns the publications.
    package func publish(_ requests: [PublishRequest], idempotency: IdempotencyRecord?, now: Double) -> [SequencedPublication] {
        var results: [SequencedPublication] = []
        results.reserveCapacity(requests.count)
        for request in requests {
            let stream = self.stream(request.channel, policy: request.policy)
            stream.offset += 1
            var publication = Publication(channel: request.channel, offset: stream.offset, data: request.data)
            if request.policy.retainState, let change = request.change {
                publication.key = change.key
                switch change {
                case .set(let key):
                    stream.state[key] = StateEntry(value: request.data, version: stream.offset)
                case .remove(let key):
                    publication.removed = true
                    publication.data = .null
                    stream.state[key] = nil
                }
            }
            let sequenced = SequencedPublication(publication, epoch: stream.epoch, time: now)
            let kept = request.policy.historySize > 0
            if kept { stream.history.append(sequenced) }
            let historyFrom = stream.trim(now: now)
            switch request.denyList {
            case .ban(let user, let ban)?: bans[user] = ban
            case .lift(let user)?: bans[user] = nil
            case nil: break
            }
            record(.published(sequenced, change: publication.key == nil ? nil : request.change, kept: kept, historyFrom: historyFrom))
            if let change = request.denyList { record(.denyList(change)) }
            results.append(sequenced)
        }
        if let idempotency {
            let receipts = results.map { PublishReceipt(channel: $0.publication.channel, offset: $0.publication.offset, key: $0.publication.key) }
            remembered[idempotency.key] = Remembered(body: idempotency.body, receipts: receipts)
            rememberedOrder.append((idempotency.key, idempotency.expires))
            record(.remembered(idempotency, receipts))
            while rememberedOrder.count > idempotency.maxKeys, let oldest = rememberedOrder.popFirst() {
                forget(oldest.key)
            }
        }
        return results
    }

    /// Answers `query` on `channel` (creating the stream when it asks to).
    package func read(_ channel: ChannelName, _ query: StreamQuery, now: Double) -> StreamRead {
        let stream: Stream
        if query.create {
            stream = self.stream(channel, policy: query.policy)
        } else if let existing = streams[channel] {
            existing.policy = query.policy
            stream = existing
        } else {
            return StreamRead(position: nil)
        }
        if let below = stream.trim(now: now) { record(.trimmed(channel, below: below)) }
        var result = StreamRead(position: StreamPosition(epoch: stream.epoch, offset: stream.offset))
        if let since = query.since { result.missed = missed(in: stream, after: since) }
        if query.includeState { result.state = stream.state }
        if query.includeHistory { result.history = Array(stream.history) }
        return result
    }

    /// Exactly the publications after `position`, or nil when history cannot prove it has them all.
    private func missed(in stream: Stream, after position: StreamPosition) -> [SequencedPublication]? {
        guard position.epoch == stream.epoch, position.offset <= stream.offset else { return nil }
        if position.offset == stream.offset { return [] }
        guard let first = stream.history.first, first.publication.offset <= position.offset + 1 else { return nil }
        return stream.history.filter { $0.publication.offset > position.offset }
    }

    /// What a remembered request with `key` did, or whether `body` conflicts with it.
    package func recall(_ key: String, body: JSONValue, now: Double) -> IdempotencyMatch {
        evictRecords(now: now)
        guard let entry = remembered[key] else { return .new }
        return entry.body == body ? .repeated(entry.receipts) : .conflict
    }

    /// The bans that hold at `now`.
    package func activeBans(now: Double) -> [String: Ban] {
        bans.filter { $0.value.holds(at: now) }
    }

    /// The ban on `user` that holds at `now`, if any.
    package func ban(of user: String, now: Double) -> Ban? {
        bans[user].flatMap { $0.holds(at: now) ? $0 : nil }
    }

    /// TTL trimming, record expiry, forgetting empty streams not `inUse`, and lifting expired bans
    /// (each a publication removing the user's key from `banChannel`); returns those publications.
    package func sweep(
        now: Double, banChannel: ChannelName, policy: (ChannelName) -> StreamPolicy?, inUse: (ChannelName) -> Bool
    ) -> [SequencedPublication] {
        var lifts: [PublishRequest] = []
        if let banPolicy = policy(banChannel) {
            for (user, ban) in bans.sorted(by: { $0.key < $1.key }) where !ban.holds(at: now) {
                lifts.append(PublishRequest(channel: banChannel, policy: banPolicy, data: .null, change: .remove(key: user), denyList: .lift(user: user)))
            }
        }
        let lifted = publish(lifts, idempotency: nil, now: now)
        for (name, stream) in streams {
            if let current = policy(name) { stream.policy = current }
            if let below = stream.trim(now: now) { record(.trimmed(name, below: below)) }
            if stream.isEmpty, !inUse(name) {
                streams[name] = nil
                record(.forgotten(name))
            }
        }
        evictRecords(now: now)
        return lifted
    }

    private func evictRecords(now: Double) {
        while let oldest = rememberedOrder.first, oldest.expires <= now {
            rememberedOrder.removeFirst()
            forget(oldest.key)
        }
    }

    private func forget(_ key: String) {
        // A key is in the order once: it is stored again only after recall found it forgotten.
        remembered[key] = nil
        record(.forgotRecord(key))
    }

    private func stream(_ channel: ChannelName, policy: StreamPolicy) -> Stream {
        let stream: Stream
        if let existing = streams[channel] {
            stream = existing
        } else {
            stream = Stream(epoch: makeEpoch())
            streams[channel] = stream
        }
        stream.policy = policy
        return stream
    }
}

extension Ban {
    /// Whether the ban is in force at `now` (until lifted, or until `until` passes).
    package func holds(at now: Double) -> Bool {
        until.map { $0 > now } ?? true
    }
}
