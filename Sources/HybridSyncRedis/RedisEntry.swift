import HybridSyncBroker
import HybridSyncProtocol

/// Decoding what the scripts and the tail return into the broker's types.
enum RedisEntry {
    /// The offset a stream entry stands for (its id is `<offset>-0`).
    static func offset(of entry: RedisValue) -> UInt64? {
        guard let id = entry.elements?.first?.text, let dash = id.firstIndex(of: "-") else { return nil }
        return UInt64(id[..<dash])
    }

    /// A stream entry `[id, [field, value, …]]` as a publication of `channel` in `epoch`.
    static func publication(_ entry: RedisValue, channel: ChannelName, epoch: String) throws(BrokerError) -> SequencedPublication {
        guard let offset = offset(of: entry), let fields = entry.elements?.last?.elements else {
            throw BrokerError("a stream entry of '\(channel)' is malformed: \(entry)")
        }
        var data: [UInt8] = Array("null".utf8)
        var time = 0.0
        var key: String?
        var removed = false
        var index = 0
        while index + 1 < fields.count {
            guard case .string(let name) = fields[index], case .string(let value) = fields[index + 1] else { break }
            switch name {
            case [UInt8(ascii: "d")]: data = value
            case [UInt8(ascii: "t")]: time = Double(String(decoding: value, as: UTF8.self)) ?? 0
            case [UInt8(ascii: "k")]: key = String(decoding: value, as: UTF8.self)
            case [UInt8(ascii: "r")]: removed = true
            default: break
            }
            index += 2
        }
        let value: JSONValue
        do {
            value = try JSONValue.parse(data)
        } catch {
            throw BrokerError("the data of '\(channel)' offset \(offset) in Redis is not JSON: \(error)")
        }
        var publication = Publication(channel: channel, offset: offset, data: value)
        publication.key = key
        publication.removed = removed
        return SequencedPublication(publication, epoch: epoch, time: time)
    }

    /// A retained-state field value `<version>:<value JSON>`.
    static func stateEntry(_ raw: RedisValue) -> StateEntry? {
        guard case .string(let bytes) = raw, let colon = bytes.firstIndex(of: UInt8(ascii: ":")),
              let version = UInt64(String(decoding: bytes[..<colon], as: UTF8.self)),
              let value = try? JSONValue.parse(bytes[(colon + 1)...]) else { return nil }
        return StateEntry(value: value, version: version)
    }

    /// A ban as stored in `P:bans`.
    static func ban(_ raw: RedisValue) -> Ban? {
        guard case .string(let bytes) = raw, case .object(let object)? = try? JSONValue.parse(bytes),
              case .string(let reason)? = object["reason"] else { return nil }
        let until: Double? = switch object["until"] {
        case .double(let value)?: value
        case .int(let value)?: Double(value)
        default: nil
        }
        return Ban(reason: reason, until: until)
    }

    /// A ban's JSON for `P:bans`.
    static func json(_ ban: Ban) -> [UInt8] {
        JSONValue.object(["reason": .string(ban.reason), "until": ban.until.map { .double($0) } ?? .null]).jsonBytes
    }
}
