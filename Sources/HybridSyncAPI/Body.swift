import HybridSyncHTTP
import HybridSyncProtocol

/// A request body as a JSON object, and its fields read with the API's refusals (400).
struct Body {
    let json: JSONValue

    /// `bytes` parsed; not JSON, or not an object, is refused.
    init(_ bytes: [UInt8]) throws(HTTPError) {
        let value: JSONValue
        do {
            value = try JSONValue.parse(bytes)
        } catch {
            throw .badRequest("body is not JSON: \(error.description)")
        }
        guard case .object = value else { throw .badRequest("body must be a JSON object") }
        json = value
    }

    /// A field of any type, required.
    func field(_ name: String) throws(HTTPError) -> JSONValue {
        guard let value = json[name] else { throw .badRequest("body needs '\(name)'") }
        return value
    }

    /// A non-empty string field, required.
    func string(_ name: String) throws(HTTPError) -> String {
        guard let value = json[name]?.stringValue, !value.isEmpty else {
            throw .badRequest("body needs '\(name)' (a non-empty string)")
        }
        return value
    }

    /// A string field, or nil when absent or null.
    func optionalString(_ name: String) throws(HTTPError) -> String? {
        guard let value = json[name], value != .null else { return nil }
        guard let text = value.stringValue else { throw .badRequest("'\(name)' must be a string") }
        return text
    }

    /// The `channel` field as a channel name.
    func channel() throws(HTTPError) -> ChannelName {
        try Self.channelName(try string("channel"))
    }

    /// The `channels` field: 1-1000 strings.
    func channelList() throws(HTTPError) -> [String] {
        guard case .array(let raw)? = json["channels"], !raw.isEmpty, raw.count <= 1000 else {
            throw .badRequest("'channels' must be an array of 1-1000 channel names")
        }
        var names: [String] = []
        for value in raw {
            guard let text = value.stringValue else { throw .badRequest("'channels' must hold strings") }
            names.append(text)
        }
        return names
    }

    /// `raw` as a channel name; a malformed one is `invalid_channel`.
    static func channelName(_ raw: String) throws(HTTPError) -> ChannelName {
        do {
            return try ChannelName(raw)
        } catch {
            throw .invalidChannel(error.description)
        }
    }
}
