import HybridSyncProtocol

/// One live state observer, owned by a micro-app: `emit` decodes a change and yields the new
/// value (skipping a value equal to the last one); `finish` ends its stream.
struct StateObserver {
    let app: UInt64
    let binding: StateBinding
    let channel: ChannelName?
    let emit: (StateUpdate) -> Void
    let finish: ((any Error)?) -> Void
}

/// One live observer of a channel's events, owned by a micro-app.
struct ChannelObserver {
    let app: UInt64
    let channel: ChannelName
    let continuation: ClientRuntime.ChannelEvents.Continuation
}

/// One live follower of a channel's present users, owned by a micro-app.
struct PresenceObserver {
    let app: UInt64
    let channel: ChannelName
    let continuation: ClientRuntime.PresentUsers.Continuation
}

/// The runtime's live observers by id, and which channels have none of their state retained.
/// Bookkeeping only: the runtime ends streams and gives holds back.
struct ObserverTable {
    private(set) var states: [UInt64: StateObserver] = [:]
    private var channels: [UInt64: ChannelObserver] = [:]
    private var channelObserverIDs: [ChannelName: Set<UInt64>] = [:]
    private var presences: [UInt64: PresenceObserver] = [:]
    /// Channels whose namespace keeps no state (their subscribe result had none).
    var channelsWithoutState: Set<ChannelName> = []

    /// One observer taken out of the table.
    enum Removed {
        case state(StateObserver)
        case channel(ChannelObserver)
        case presence(PresenceObserver)
    }

    var count: Int { states.count + channels.count + presences.count }

    /// Every observer's id, state observers first.
    var ids: [UInt64] { Array(states.keys) + Array(channels.keys) + Array(presences.keys) }

    mutating func add(_ id: UInt64, _ observer: StateObserver) { states[id] = observer }

    mutating func add(_ id: UInt64, _ observer: ChannelObserver) {
        channels[id] = observer
        channelObserverIDs[observer.channel, default: []].insert(id)
    }

    mutating func add(_ id: UInt64, _ observer: PresenceObserver) { presences[id] = observer }

    /// Presence observers of `name`, by id.
    func presenceObservers(of name: ChannelName) -> [UInt64: PresenceObserver] { presences.filter { $0.value.channel == name } }

    /// Channel observers of `name`.
    func channelObservers(of name: ChannelName) -> Set<UInt64> { channelObserverIDs[name] ?? [] }

    /// State observers whose key lives on `name`.
    func stateObservers(of name: ChannelName) -> [UInt64] {
        states.filter { $0.value.channel == name }.map(\.key)
    }

    func channelObserver(_ id: UInt64) -> ChannelObserver? { channels[id] }

    /// The channel an observer holds, if any.
    func channel(of id: UInt64) -> ChannelName? { states[id]?.channel ?? channels[id]?.channel ?? presences[id]?.channel }

    mutating func remove(_ id: UInt64) -> Removed? {
        if let observer = states.removeValue(forKey: id) { return .state(observer) }
        if let observer = presences.removeValue(forKey: id) { return .presence(observer) }
        guard let observer = channels.removeValue(forKey: id) else { return nil }
        channelObserverIDs[observer.channel]?.remove(id)
        if channelObserverIDs[observer.channel]?.isEmpty == true { channelObserverIDs[observer.channel] = nil }
        return .channel(observer)
    }
}
