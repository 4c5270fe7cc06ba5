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
    /// The value while the key is absent (and before the first snapshot while offline).
    public let defaultValue: Value
    /// For channel maps: a decoder that works entry by entry, so one bad entry cannot hide the
    /// others and a change of one key decodes that key only.
    let makeMapDecoder: (@Sendable () -> MapDecoder<Value>)?

    /// A client-owned value, shared by every micro-app of the runtime.
    public init(local name: String, default defaultValue: Value) {
        binding = .local(name)
        self.defaultValue = defaultValue
        makeMapDecoder = nil
    }

    /// One key of a channel's retained state (`defaultValue` while the key is absent).
    public init(channel: String, key: String, default defaultValue: Value) {
        binding = .serverKey(channel: channel, key: key)
        self.defaultValue = defaultValue
        makeMapDecoder = nil
    }

    /// The whole retained state of a channel, as a dictionary keyed like the server's state.
    /// An entry whose value does not decode as `Element` is left out (and reported to the error
    /// sink with its key); the other entries stay live.
    public init<Element>(channelMap channel: String) where Value == [String: Element] {
        binding = .serverMap(channel: channel)
        defaultValue = [:]
        makeMapDecoder = {
            var decoded: [String: Element] = [:]
            var raw: [String: JSONValue] = [:]
            return MapDecoder { changes, replacing in
                var changed = false
                var failures: [(key: String, error: any Error)] = []
                if replacing {
                    let kept = Set(changes.map(\.key))
                    for key in raw.keys where !kept.contains(key) {
                        raw[key] = nil
                        decoded[key] = nil
                        changed = true
                    }
                }
                for (key, json) in changes where raw[key] != json {
                    changed = true
                    raw[key] = json
                    decoded[key] = nil
                    guard let json else { continue }
                    do {
                        decoded[key] = try JSONDecoder().decode(Element.self, from: Data(json.jsonBytes))
                    } catch {
                        failures.append((key, error))
                    }
                }
                return (changed, decoded, failures.sorted { $0.key < $1.key })
            }
        }
    }

    init(binding: StateBinding, default defaultValue: Value) {
        self.binding = binding
        self.defaultValue = defaultValue
        makeMapDecoder = nil
    }

    /// Decodes the current JSON: the value (nil when it does not decode) and what failed.
    func decodeEntries(_ json: JSONValue?) -> (value: Value?, failures: [(what: String, error: any Error)]) {
        if let makeMapDecoder, case .object(let members)? = json {
            let result = makeMapDecoder().apply(members.map { ($0.key, $0.value) }, true)
            return (result.value, result.failures.map { ("\(binding) entry '\($0.key)'", $0.error) })
        }
        do {
            return (try decode(json), [])
        } catch {
            return (nil, [("\(binding)", error)])
        }
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

/// One observer's decoded channel map: it keeps every decoded entry and the JSON it came from,
/// so applying changed entries decodes those only (the cost of a change does not grow with the
/// map). `apply(entries, replacing)`: each entry's new JSON (nil: removed); with `replacing`, the
/// entries are the whole map and keys not among them are gone. It answers whether anything
/// changed, the map, and the entries that did not decode (left out).
final class MapDecoder<Value> {
    let apply: ([(key: String, json: JSONValue?)], Bool) -> (changed: Bool, value: Value, failures: [(key: String, error: any Error)])

    init(_ apply: @escaping ([(key: String, json: JSONValue?)], Bool) -> (changed: Bool, value: Value, failures: [(key: String, error: any Error)])) {
        self.apply = apply
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
