import Foundation
import HybridSyncProtocol

/// A typed key into the runtime's shared state.
///
/// ```swift
/// let theme = StateKey<String>(local: "theme", default: "light")          // client-owned
/// let ban = StateKey<BanInfo?>(channel: "moderation:users", key: "42", default: nil)  // server-owned
/// let bans = StateKey<[String: BanInfo]>(channelMap: "moderation:users")   // the whole channel state
/// ```
/// Server-bound keys follow the channel's retained state: the runtime subscribes while someone
/// observes them, and every server change lands in the shared state. They are read-only here.
public struct StateKey<Value: Codable & Sendable>: Sendable {
    let binding: StateBinding
    let defaultValue: Value

    /// A client-owned value, shared by every micro-app of the runtime.
    public init(local name: String, default defaultValue: Value) {
        binding = .local(name)
        self.defaultValue = defaultValue
    }

    /// One key of a channel's retained state (`defaultValue` while the key is absent).
    public init(channel: String, key: String, default defaultValue: Value) {
        binding = .serverKey(channel: channel, key: key)
        self.defaultValue = defaultValue
    }

    /// The whole retained state of a channel, as a dictionary keyed like the server's state.
    public init<Element>(channelMap channel: String) where Value == [String: Element] {
        binding = .serverMap(channel: channel)
        defaultValue = [:]
    }

    init(binding: StateBinding, default defaultValue: Value) {
        self.binding = binding
        self.defaultValue = defaultValue
    }

    /// Decodes the stored JSON (nil: absent) into a value.
    func decode(_ json: JSONValue?) throws -> Value {
        guard let json else { return defaultValue }
        return try JSONDecoder().decode(Value.self, from: Data(json.jsonBytes))
    }

    /// Encodes a value for storage.
    func encode(_ value: Value) throws -> JSONValue {
        try JSONValue.parse(Array(JSONEncoder().encode(value)))
    }
}

/// Where a state key's value lives.
enum StateBinding: Hashable, Sendable, CustomStringConvertible {
    case local(String)
    case serverKey(channel: String, key: String)
    case serverMap(channel: String)

    var channel: String? {
        switch self {
        case .local: nil
        case .serverKey(let channel, _), .serverMap(let channel): channel
        }
    }

    var description: String {
        switch self {
        case .local(let name): "local '\(name)'"
        case .serverKey(let channel, let key): "'\(channel)' key '\(key)'"
        case .serverMap(let channel): "'\(channel)' state"
        }
    }
}
