import HybridSyncProtocol

/// What one change did to one binding: for a channel map, the keys that changed (nil: the whole
/// map, as after its first snapshot).
struct BindingChange: Equatable {
    let binding: StateBinding
    var keys: [String]? = nil
}

/// The runtime's shared state as a pure value: client-owned values, each subscribed channel's
/// retained state, and which observers watch which binding (so a change reaches exactly its
/// observers, without scanning the others). Every change returns the bindings it changed.
struct StateStore {
    private(set) var local: [String: JSONValue] = [:]
    private(set) var channels: [String: [String: StateEntry]] = [:]
    private var watchers: [StateBinding: Set<UInt64>] = [:]

    /// The current JSON of `binding` (nil: absent, the key's default applies; a map is never absent).
    func value(of binding: StateBinding) -> JSONValue? {
        switch binding {
        case .local(let name): local[name]
        case .serverKey(let channel, let key): channels[channel]?[key]?.value
        case .serverMap(let channel): .object((channels[channel] ?? [:]).mapValues(\.value))
        }
    }

    /// The JSON of one key of a channel's state (nil: absent).
    func entry(_ channel: String, _ key: String) -> JSONValue? { channels[channel]?[key]?.value }

    /// Whether the value of `binding` is known: always for local keys; for server keys once their
    /// channel's first snapshot arrived (before that, a default would be a guess, not the state).
    func isKnown(_ binding: StateBinding) -> Bool {
        guard let channel = binding.channel else { return true }
        return channels[channel] != nil
    }

    mutating func setLocal(_ name: String, _ value: JSONValue) -> [BindingChange] {
        guard local[name] != value else { return [] }
        local[name] = value
        return [BindingChange(binding: .local(name))]
    }

    /// Applies a publication that carries a key (a set or a removal) to a known channel.
    mutating func apply(_ publication: Publication) -> [BindingChange] {
        guard let key = publication.key, channels[publication.channel.rawValue] != nil else { return [] }
        let channel = publication.channel.rawValue
        if publication.removed {
            guard channels[channel]?.removeValue(forKey: key) != nil else { return [] }
        } else {
            channels[channel]?[key] = StateEntry(value: publication.data, version: publication.offset)
        }
        return [BindingChange(binding: .serverKey(channel: channel, key: key)), BindingChange(binding: .serverMap(channel: channel), keys: [key])]
    }

    /// Replaces a channel's state with a snapshot: the bindings of every key whose value changed.
    mutating func replace(_ channel: ChannelName, with snapshot: [String: StateEntry]) -> [BindingChange] {
        let name = channel.rawValue
        guard let old = channels[name] else {
            // The first snapshot: every observer of the channel learns its value now.
            channels[name] = snapshot
            return watchers.keys.filter { $0.channel == name }.map { BindingChange(binding: $0) }
        }
        channels[name] = snapshot
        let changed = Set(old.keys).union(snapshot.keys).filter { old[$0]?.value != snapshot[$0]?.value }.sorted()
        guard !changed.isEmpty else { return [] }
        return changed.map { BindingChange(binding: .serverKey(channel: name, key: $0)) }
            + [BindingChange(binding: .serverMap(channel: name), keys: changed)]
    }

    /// Forgets a channel's state (nobody holds it any more, or the runtime stopped).
    mutating func forget(_ channel: ChannelName) { channels[channel.rawValue] = nil }

    mutating func forgetChannels() { channels.removeAll() }

    mutating func watch(_ binding: StateBinding, by observer: UInt64) { watchers[binding, default: []].insert(observer) }

    mutating func unwatch(_ binding: StateBinding, by observer: UInt64) {
        watchers[binding]?.remove(observer)
        if watchers[binding]?.isEmpty == true { watchers[binding] = nil }
    }

    /// The observers of these bindings.
    func watchers(of bindings: [StateBinding]) -> [UInt64] {
        bindings.flatMap { watchers[$0] ?? [] }
    }
}
