public import HybridSyncProtocol

/// The app backend's say on connects and subscriptions (the connect and subscribe proxies of
/// docs/API.md "Hooks"). An implementation asks the backend without ever blocking the server's
/// thread, bounds every call by a timeout, and completes **on the server's thread** (as a broker
/// does), with ``HookDecision/unavailable(_:)`` when the backend cannot answer in time.
public protocol BackendHooks: AnyObject {
    /// Whether the connection of `request` may connect (its token already verified). Only called
    /// when ``connects`` is true.
    func connect(_ request: HookRequest, completion: @escaping (HookDecision) -> Void)
    /// Whether the connection of `request` may subscribe to its channel (a namespace with
    /// `subscribeProxy`). Only called when ``subscribes`` is true.
    func subscribe(_ request: HookRequest, completion: @escaping (HookDecision) -> Void)
    /// Whether connects are asked (`hooks.connectURL` is set).
    var connects: Bool { get }
    /// Whether subscriptions in namespaces with `subscribeProxy` are asked (`hooks.subscribeURL` is set).
    var subscribes: Bool { get }
}

/// What a hook asks the backend about.
public struct HookRequest: Sendable, Equatable {
    /// The user (the token's `sub`).
    public var user: String
    /// The connection's id, as its `connect` result names it.
    public var client: String
    /// The name the client gave in `connect`, if any.
    public var name: String?
    /// The peer's address.
    public var remoteAddress: String
    /// The channel, for a subscribe.
    public var channel: ChannelName?
    /// The token's `info` claim, if any.
    public var info: JSONValue?

    /// A request.
    public init(user: String, client: String, name: String?, remoteAddress: String, channel: ChannelName?, info: JSONValue?) {
        self.user = user
        self.client = client
        self.name = name
        self.remoteAddress = remoteAddress
        self.channel = channel
        self.info = info
    }
}

/// The backend's answer to a hook.
public enum HookDecision: Sendable, Equatable {
    /// Allowed. `info` (if any) replaces the token's as what presence shows of the user; for a
    /// connect, `channels` are more names or `prefix*` patterns the connection may subscribe to in
    /// `claim` namespaces.
    case allow(info: JSONValue?, channels: [String])
    /// Refused, with the backend's reason.
    case deny(reason: String)
    /// The backend did not answer usably (timeout, error, too many calls in flight, its circuit
    /// open): the client gets a temporary error and may retry.
    case unavailable(String)
}
