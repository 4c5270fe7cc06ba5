import HybridSyncProtocol

/// The runtime's server subscriptions as a pure value: one per channel, shared by every holder
/// (observers of publications and of server keys), with its stream position, linger and the
/// recovery rules. Each change returns the actions the runtime performs.
struct SubscriptionTable {
    enum Status: Equatable {
        /// Not subscribed on the current connection (or no connection).
        case offline
        /// A subscribe from `since` is on the wire as `ticket`.
        case pending(ticket: UInt64, since: StreamPosition?)
        case active
    }

    struct Entry: Equatable {
        var holders = 0
        var status = Status.offline
        /// Where this client is in the channel's stream (nil before the first subscribe result).
        var position: StreamPosition?
        /// No holder is left; it unsubscribes when the linger ends.
        var lingering = false
    }

    enum Action: Equatable {
        /// Send `subscribe` from `since`, then call ``sent(_:ticket:since:)``.
        case subscribe(ChannelName, since: StreamPosition?)
        case unsubscribe(ChannelName)
        /// Start the linger timer; call ``lingerEnded(_:)`` when it ends.
        case startLinger(ChannelName)
        case cancelLinger(ChannelName)
        /// The channel is gone: forget its state.
        case forget(ChannelName)
    }

    /// How a subscribe answer changes the channel.
    enum Answer: Equatable {
        case subscribed(SubscribeResult)
        case refused(ReplyError)
        /// The connection went away first.
        case lost
    }

    enum Outcome: Equatable {
        /// Not the subscribe this table waits for (released, or superseded); `undo` when the server
        /// holds a subscription nobody wants.
        case stale(undo: Bool)
        /// Active. `snapshot` (nil when recovered: the missed publications follow) replaces the
        /// state; `resync` is set when the publications after `from` could not be recovered;
        /// `retainsState` is false for a namespace that keeps no state (the result had none).
        case ready(snapshot: [String: StateEntry]?, resync: ChannelResync?, retainsState: Bool)
        case refused(ReplyError)
        /// It subscribes again after reconnecting.
        case offline
    }

    /// What a live publication means for the stream.
    enum Delivery: Equatable {
        /// Next in order: apply it.
        case apply
        /// Not for an active subscription, or already applied.
        case ignore
        /// Publications are missing: unsubscribe and subscribe again from `since` to recover.
        case gap(since: StreamPosition)
    }

    private(set) var entries: [ChannelName: Entry] = [:]

    subscript(name: ChannelName) -> Entry? { entries[name] }

    /// Takes a hold; subscribes when `online` and not subscribed.
    mutating func hold(_ name: ChannelName, online: Bool) -> [Action] {
        var entry = entries[name] ?? Entry()
        var actions: [Action] = []
        entry.holders += 1
        if entry.lingering {
            entry.lingering = false
            actions.append(.cancelLinger(name))
        }
        if entry.status == .offline, online { actions.append(.subscribe(name, since: entry.position)) }
        entries[name] = entry
        return actions
    }

    /// The subscribe for `name` went on the wire as `ticket`.
    mutating func sent(_ name: ChannelName, ticket: UInt64, since: StreamPosition?) {
        entries[name]?.status = .pending(ticket: ticket, since: since)
    }

    /// Gives a hold back; the last one out lingers (or, with no linger, leaves at once).
    mutating func release(_ name: ChannelName, linger: Bool) -> [Action] {
        guard var entry = entries[name], entry.holders > 0 else { return [] }
        entry.holders -= 1
        guard entry.holders == 0 else {
            entries[name] = entry
            return []
        }
        if linger {
            entry.lingering = true
            entries[name] = entry
            return [.startLinger(name)]
        }
        entries[name] = entry
        return drop(name)
    }

    /// The linger of `name` ended.
    mutating func lingerEnded(_ name: ChannelName) -> [Action] {
        guard let entry = entries[name], entry.holders == 0 else { return [] }
        return drop(name)
    }

    private mutating func drop(_ name: ChannelName) -> [Action] {
        guard let entry = entries.removeValue(forKey: name) else { return [] }
        // A subscribe still on the wire is undone when its answer arrives (it is stale then).
        return entry.status == .active ? [.unsubscribe(name), .forget(name)] : [.forget(name)]
    }

    /// Applies the answer to the subscribe sent as `ticket`.
    mutating func answered(_ name: ChannelName, ticket: UInt64, _ answer: Answer) -> Outcome {
        guard var entry = entries[name], case .pending(ticket, let since) = entry.status else {
            if case .subscribed = answer { return .stale(undo: true) }
            return .stale(undo: false)
        }
        defer { entries[name] = entry }
        switch answer {
        case .subscribed(let result):
            entry.status = .active
            if result.recovered == true, since != nil { return .ready(snapshot: nil, resync: nil, retainsState: true) }
            entry.position = result.position
            let resync = since.map { ChannelResync(channel: name, from: $0, to: result.position) }
            return .ready(snapshot: result.state ?? [:], resync: resync, retainsState: result.state != nil)
        case .refused(let error):
            entry.status = .offline
            return .refused(error)
        case .lost:
            entry.status = .offline
            return .offline
        }
    }

    /// Checks a live publication against the stream position (and advances it).
    mutating func deliver(_ publication: Publication) -> Delivery {
        guard var entry = entries[publication.channel], entry.status == .active, let position = entry.position else {
            return .ignore
        }
        if publication.offset <= position.offset { return .ignore }
        guard publication.offset == position.offset + 1 else { return .gap(since: position) }
        entry.position?.offset = publication.offset
        entries[publication.channel] = entry
        return .apply
    }

    /// The server ended the subscription of `name` (it stays held until its holders let go).
    mutating func ended(_ name: ChannelName) {
        entries[name]?.status = .offline
    }

    /// The connection dropped: nothing is subscribed on the server any more.
    mutating func connectionLost() {
        for name in entries.keys { entries[name]?.status = .offline }
    }

    /// After a reconnect: subscribe every channel again from its position.
    func resubscribeAll() -> [Action] {
        entries.filter { $0.value.status == .offline }.map { .subscribe($0.key, since: $0.value.position) }
    }

    /// Forgets every channel (the runtime stopped).
    mutating func removeAll() {
        entries.removeAll()
    }
}
