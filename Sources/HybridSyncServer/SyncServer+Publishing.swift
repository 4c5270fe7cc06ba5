public import HybridSyncProtocol
import Logging

extension SyncServer {
    /// Sequences one publication and fans the same encoded bytes out to every subscriber.
    @discardableResult
    func publish(_ data: JSONValue, on channel: ChannelState, change: ChannelState.StateChange?) -> Publication {
        let (publication, message) = channel.publish(data, change: change, now: clock.now())
        transport.send(message, to: channel.subscribers)
        logger.debug("published", metadata: [
            "channel": "\(channel.name)", "offset": "\(publication.offset)", "subscribers": "\(channel.subscribers.count)",
        ])
        return publication
    }

    /// Publishes `data` on `name` (optionally as a state change) from the backend. Throws an API
    /// error for an unknown namespace or a key on a namespace that does not retain state.
    @discardableResult
    public func publish(_ data: JSONValue, to name: ChannelName, key: String? = nil, remove: Bool = false) throws(APIError) -> Publication {
        guard let channel = channel(name) else { throw APIError(400, "invalid_channel", unknownNamespace(name).message) }
        var change: ChannelState.StateChange?
        if let key {
            guard channel.policy.retainState else {
                throw APIError(400, "state_not_retained", "namespace '\(name.namespace)' does not retain state: publish without 'key', or enable retainState")
            }
            guard !key.isEmpty, key.utf8.count <= 256 else { throw APIError(400, "bad_request", "'key' must be 1-256 bytes") }
            change = remove ? .remove(key: key) : .set(key: key)
        }
        return publish(data, on: channel, change: change)
    }
}

/// An API failure: HTTP status, a stable `error.code` and a message that says what to do.
public struct APIError: Error, Sendable, Equatable {
    public var status: Int
    public var code: String
    public var message: String

    public init(_ status: Int, _ code: String, _ message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    var response: HTTPResponse { .error(status, code: code, message: message) }
}
