package import HybridSyncBroker
package import HybridSyncProtocol

/// The broker's reads and writes, each one script or command.
extension RedisBroker {
    /// One script run: offsets, stream entries, retained state, deny-list and idempotency record
    /// together. Delivers (with what this node had not delivered before them) and completes.
    package func publish(
        _ requests: [PublishRequest], idempotency: IdempotencyRecord?, now: Double,
        completion: @escaping (Result<[SequencedPublication], BrokerError>) -> Void
    ) {
        var arguments = header(now: now, mode: "p", idempotency: idempotency)
        arguments.append(bytes(requests.count))
        for request in requests { arguments += fields(of: request) }
        submit(script: "write", arguments) { [self] result in
            completion(result.flatMap { value in
                Result { () throws(BrokerError) in try written(value, requests.map { ($0.channel, $0) }, now: now) }
            })
        }
    }

    /// One script run: position (creating the stream if asked), entries, state.
    package func read(_ channel: ChannelName, _ query: StreamQuery, now: Double, completion: @escaping (Result<StreamRead, BrokerError>) -> Void) {
        let wanted: UInt64 = query.includeHistory ? 1 : (query.since.map { $0.offset + 1 } ?? 0)
        let arguments = [
            configuration.prefix, channel.rawValue, query.create ? "1" : "0", StreamStore.randomEpoch(),
            "\(query.policy.historySize)", "\(query.policy.historyTTLSeconds)", "\(wanted)", query.includeState ? "1" : "0", "\(now)", nodeID,
        ].map { Array($0.utf8) }
        submit(script: "read", arguments) { result in
            completion(result.flatMap { value in
                guard let parts = value.elements, parts.count == 4, let epoch = parts[0].text, let offset = parts[1].int else {
                    return .success(StreamRead(position: nil))
                }
                return Result { () throws(BrokerError) in
                    try Self.streamRead(parts, epoch: epoch, offset: UInt64(offset), channel, query, now: now)
                }
            })
        }
    }

    /// `GET` of the record; expiry and body are checked here against `now`.
    package func recall(idempotencyKey: String, body: JSONValue, now: Double, completion: @escaping (Result<IdempotencyMatch, BrokerError>) -> Void) {
        submit(["GET", "\(configuration.prefix):i:\(idempotencyKey)"].map { Array($0.utf8) }) { result in
            completion(result.map { value in
                guard case .string(let raw) = value, case .object(let record)? = try? JSONValue.parse(raw),
                      Self.number(record["x"]).map({ $0 > now }) ?? false else { return .new }
                guard case .string(let storedBody)? = record["b"], (try? JSONValue.parse(storedBody)) == body else { return .conflict }
                guard case .array(let receipts)? = record["r"] else { return .new }
                return .repeated(receipts.compactMap { receipt in
                    guard case .array(let parts) = receipt, parts.count == 3, case .string(let name) = parts[0],
                          let channel = try? ChannelName(name), let offset = Self.number(parts[1]) else { return nil }
                    let key: String? = if case .string(let key) = parts[2] { key } else { nil }
                    return PublishReceipt(channel: channel, offset: UInt64(offset), key: key)
                })
            })
        }
    }

    /// `HGETALL` of the deny-list; only the bans that hold at `now`.
    package func bans(now: Double, completion: @escaping (Result<[String: Ban], BrokerError>) -> Void) {
        submit(["HGETALL", "\(configuration.prefix):bans"].map { Array($0.utf8) }) { result in
            completion(result.map { value in
                var bans: [String: Ban] = [:]
                let pairs = value.elements ?? []
                for index in stride(from: 0, to: pairs.count - 1, by: 2) {
                    if let user = pairs[index].text, let ban = RedisEntry.ban(pairs[index + 1]), ban.holds(at: now) { bans[user] = ban }
                }
                return bans
            })
        }
    }

    /// `HGET` of one user's ban; nil unless it holds at `now`.
    package func ban(of user: String, now: Double, completion: @escaping (Result<Ban?, BrokerError>) -> Void) {
        submit(["HGET", "\(configuration.prefix):bans", user].map { Array($0.utf8) }) { result in
            completion(result.map { RedisEntry.ban($0).flatMap { $0.holds(at: now) ? $0 : nil } })
        }
    }

    /// Lifts the expired bans (one script: deny-list entry and state key together, so a ban made
    /// again meanwhile is never lifted), and now and then checks the followed streams. History
    /// TTL and forgetting unused streams are Redis key expiry (``RedisScripts``).
    package func sweep(
        now: Double, banChannel: ChannelName, policy: (ChannelName) -> StreamPolicy?, inUse: (ChannelName) -> Bool,
        completion: @escaping (Result<[SequencedPublication], BrokerError>) -> Void
    ) {
        verifyFollowsIfDue(now: now)
        presence.tick()
        guard let banPolicy = policy(banChannel) else { return completion(.success([])) }
        var arguments = header(now: now, mode: "l", idempotency: nil)
        arguments += fields(of: PublishRequest(channel: banChannel, policy: banPolicy, data: .null, change: .remove(key: ""), denyList: .lift(user: "")))
        submit(script: "write", arguments) { [self] result in
            completion(result.flatMap { value in
                let users = value.elements.flatMap { $0.count > 1 ? $0[1].elements : nil }?.compactMap(\.text) ?? []
                let requests = users.map { user in
                    (banChannel, PublishRequest(channel: banChannel, policy: banPolicy, data: .null, change: .remove(key: user), denyList: .lift(user: user)))
                }
                return Result { () throws(BrokerError) in try written(value, requests, now: now) }
            })
        }
    }

    // MARK: Encoding and decoding

    private func header(now: Double, mode: String, idempotency: IdempotencyRecord?) -> [[UInt8]] {
        [
            configuration.prefix, "\(now)", mode, "\(configuration.historySize)", idempotency?.key ?? "",
            idempotency?.body.jsonString ?? "", "\(idempotency?.expires ?? 0)", "\(idempotency?.maxKeys ?? 0)",
        ].map { Array($0.utf8) }
    }

    /// A request's 13 script fields (see ``RedisScripts/write``).
    private func fields(of request: PublishRequest) -> [[UInt8]] {
        let (change, key): (String, String) = switch request.change {
        case .set(let key)?: ("set", key)
        case .remove(let key)?: ("remove", key)
        case nil: ("", "")
        }
        let (denyList, user, ban, until): (String, String, [UInt8], String) = switch request.denyList {
        case .ban(let user, let ban)?: ("ban", user, RedisEntry.json(ban), ban.until.map { "\($0)" } ?? "")
        case .lift(let user)?: ("lift", user, [], "")
        case nil: ("", "", [], "")
        }
        let after = follows[request.channel].map { "\($0.delivered)" } ?? "-1"
        return [
            Array(request.channel.rawValue.utf8), bytes(request.policy.historySize), Array("\(request.policy.historyTTLSeconds)".utf8),
            Array((request.policy.retainState ? "1" : "0").utf8), request.data.jsonBytes, Array(change.utf8), Array(key.utf8),
            Array(denyList.utf8), Array(user.utf8), ban, Array(until.utf8), Array(after.utf8), Array(StreamStore.randomEpoch().utf8),
        ]
    }

    /// The publications a `write` script made (`requests` in order), delivered with each gap it reported.
    private func written(_ value: RedisValue, _ requests: [(ChannelName, PublishRequest)], now: Double) throws(BrokerError) -> [SequencedPublication] {
        guard let parts = value.elements, let mode = parts.first?.text else {
            throw BrokerError("Redis answered a write with \(value)")
        }
        if mode == "dup" {
            throw BrokerError("this Idempotency-Key was used by a request another node is answering; retry to get its answer")
        }
        let results = parts.dropFirst(2)
        guard results.count == requests.count else { throw BrokerError("Redis answered \(results.count) of \(requests.count) publications") }
        var published: [SequencedPublication] = []
        for ((channel, request), result) in zip(requests, results) {
            guard let fields = result.elements, fields.count == 4, let epoch = fields[0].text, let offset = fields[1].int else {
                throw BrokerError("Redis answered a publication with \(result)")
            }
            var publication = Publication(channel: channel, offset: UInt64(offset), data: request.data)
            if let key = fields[2].text {
                publication.key = key
                if case .remove = request.change {
                    publication.removed = true
                    publication.data = .null
                }
            }
            let sequenced = SequencedPublication(publication, epoch: epoch, time: now)
            var gap: [SequencedPublication] = []
            for entry in fields[3].elements ?? [] { gap.append(try RedisEntry.publication(entry, channel: channel, epoch: epoch)) }
            deliver(gap + [sequenced], on: channel)
            published.append(sequenced)
        }
        return published
    }

    private static func streamRead(
        _ parts: [RedisValue], epoch: String, offset: UInt64, _ channel: ChannelName, _ query: StreamQuery, now: Double
    ) throws(BrokerError) -> StreamRead {
        var entries: [SequencedPublication] = []
        for entry in parts[2].elements ?? [] {
            let publication = try RedisEntry.publication(entry, channel: channel, epoch: epoch)
            // History TTL: what is older is gone (as a sweep would have trimmed it).
            if now - publication.time <= query.policy.historyTTLSeconds { entries.append(publication) }
        }
        var read = StreamRead(position: StreamPosition(epoch: epoch, offset: offset))
        if let since = query.since {
            read.missed = missed(entries, after: since, epoch: epoch, offset: offset)
        }
        if query.includeState {
            let pairs = parts[3].elements ?? []
            for index in stride(from: 0, to: pairs.count - 1, by: 2) {
                if let key = pairs[index].text, let entry = RedisEntry.stateEntry(pairs[index + 1]) { read.state[key] = entry }
            }
        }
        if query.includeHistory { read.history = entries }
        return read
    }

    /// Exactly the publications after `position`, or nil when the entries cannot prove they are all
    /// there (the rule of ``StreamStore``).
    private static func missed(_ entries: [SequencedPublication], after position: StreamPosition, epoch: String, offset: UInt64) -> [SequencedPublication]? {
        guard position.epoch == epoch, position.offset <= offset else { return nil }
        if position.offset == offset { return [] }
        let after = entries.filter { $0.publication.offset > position.offset }
        guard let first = after.first, first.publication.offset == position.offset + 1 else { return nil }
        return after
    }

    private static func number(_ value: JSONValue?) -> Double? {
        switch value {
        case .int(let value)?: Double(value)
        case .double(let value)?: value
        default: nil
        }
    }

    private func bytes(_ value: Int) -> [UInt8] { Array(String(value).utf8) }
}
