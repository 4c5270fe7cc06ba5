public import HybridSyncProtocol
public import HybridSyncServerTransport

/// Where streams live: the per-channel sequencer (epoch, offset), history, retained keyed state,
/// idempotency keys and the deny-list. Who is connected *here* is not its business (that is the
/// server's hub); a broker may be in this process (memory, SQLite) or across the network (Redis).
///
/// ## The contract every engine keeps
/// - Results arrive through completions, called on the server's thread (the one that calls the
///   broker), and **in call order**: a completion never runs before the completions of earlier
///   calls. A networked engine hands its results back through the server's loop to keep this.
/// - A completion may run before the call returns (memory), or later: at the latest at the end of
///   the service turn, in ``flush()`` (SQLite commits then), or when the network answers.
/// - A write's completion means the write is stored as durably as the engine promises: the server
///   fans a publication out and acknowledges it only then, so no client ever sees an offset that a
///   crash could take back.
/// - A publication request, its retained-state change, its deny-list change and its idempotency
///   record are applied together or not at all.
/// - **Fan-out is the broker's event, the completion is the acknowledgement.** Every publication
///   reaches the server's hub through ``BrokerListener/broker(delivered:)``, once, in stream order,
///   whether this node, another node or the sweep made it. A local engine delivers what it
///   sequences, before the completion of the write. An engine shared by several nodes delivers the
///   channels the server ``follow(_:after:)``s; there a write's publication may reach the hub after
///   its completion, when publications of other nodes come before it and have not arrived yet.
public protocol Broker: PresenceEngine {
    /// The server that receives deliveries and node commands (held weakly).
    func attach(_ listener: any BrokerListener)

    /// Multi-node engines: deliver publications made anywhere on `channel` after `position`
    /// (the server has subscribers for it here). Local engines deliver everything anyway.
    func follow(_ channel: ChannelName, after position: StreamPosition)

    /// Stop delivering `channel`'s publications made elsewhere (no subscriber left here).
    func unfollow(_ channel: ChannelName)

    /// Multi-node engines: hand `command` to every other node (their listeners' ``BrokerListener/broker(received:)``).
    func announce(_ command: NodeCommand)

    /// Sequences `requests` (next offset on each channel, history, retained state, deny-list) and
    /// stores `idempotency` with them. Fails as a whole.
    func publish(
        _ requests: [PublishRequest], idempotency: IdempotencyRecord?, now: Double,
        completion: @escaping (Result<[SequencedPublication], BrokerError>) -> Void
    )

    /// Reads one channel's stream as `query` asks (position, recovery, state, history).
    func read(_ channel: ChannelName, _ query: StreamQuery, now: Double, completion: @escaping (Result<StreamRead, BrokerError>) -> Void)

    /// What an earlier request with this idempotency key did, if it is still remembered.
    func recall(idempotencyKey: String, body: JSONValue, now: Double, completion: @escaping (Result<IdempotencyMatch, BrokerError>) -> Void)

    /// The deny-list: every ban that holds at `now` (a ban whose `until` has passed does not).
    func bans(now: Double, completion: @escaping (Result<[String: Ban], BrokerError>) -> Void)

    /// The ban on `user` that holds at `now`, if any.
    func ban(of user: String, now: Double, completion: @escaping (Result<Ban?, BrokerError>) -> Void)

    /// Housekeeping, about once a second: trims history by TTL (`policy` gives each channel's
    /// current policy, nil for a namespace no longer configured), forgets expired idempotency keys,
    /// forgets streams that hold nothing (no history, no retained state) unless `inUse` says the
    /// server still has subscribers on them, and lifts the bans whose `until` has passed: each
    /// lift removes the user's key from `banChannel` in the same atomic step (so a ban made again
    /// meanwhile is never lifted by mistake). Completes with those lift publications.
    func sweep(
        now: Double, banChannel: ChannelName, policy: (ChannelName) -> StreamPolicy?, inUse: (ChannelName) -> Bool,
        completion: @escaping (Result<[SequencedPublication], BrokerError>) -> Void
    )

    /// The end of a service turn: an engine that groups writes commits them now and runs the
    /// completions that waited for the commit.
    func flush()
}

/// What a broker tells its server (called on the server's thread).
public protocol BrokerListener: AnyObject {
    /// Publications to fan out to this node's subscribers, in stream order per channel, each once.
    func broker(delivered publications: [SequencedPublication])
    /// The engine lost `channel`'s stream (its data is gone, or a gap cannot be filled): the
    /// subscribers here hold positions it can no longer serve and must re-subscribe.
    func broker(lost channel: ChannelName)
    /// A command another node announced.
    func broker(received command: NodeCommand)
    /// Presence changes made on any node (``PresenceEngine``), in the order they were made;
    /// `madeHere` when this node made them (its webhooks report them, so each is reported once).
    func broker(presence changes: [PresenceChange], madeHere: Bool)
    /// Channels left without subscribers on every node because the node that held them died
    /// (its lease ended), noticed by this node (see ``PresenceEngine/occupancy(_:occupied:completion:)``).
    func broker(vacated channels: [ChannelName])
}

/// What one node asks every other node to do to the sessions it holds.
public enum NodeCommand: Sendable, Equatable {
    /// `user` was banned: send the `banned` push and close with 4501.
    case ban(user: String, Ban)
    /// Close `user`'s sessions with `code`.
    case disconnect(user: String, code: CloseCode, reason: String)
}

extension Broker {
    /// A single-node engine sees every write: nothing to follow.
    public func follow(_ channel: ChannelName, after position: StreamPosition) {}
    /// A single-node engine sees every write: nothing to follow.
    public func unfollow(_ channel: ChannelName) {}
    /// A single-node engine has no other node to tell.
    public func announce(_ command: NodeCommand) {}
}

/// What the broker keeps for the channels of one namespace.
public struct StreamPolicy: Sendable, Hashable {
    /// Publications kept for recovery (0: none).
    public var historySize: Int
    /// Seconds a publication stays in history.
    public var historyTTLSeconds: Double
    /// Whether publications with a key maintain retained state.
    public var retainState: Bool

    /// A policy; the server derives one from each namespace's configuration.
    public init(historySize: Int, historyTTLSeconds: Double, retainState: Bool) {
        self.historySize = historySize
        self.historyTTLSeconds = historyTTLSeconds
        self.retainState = retainState
    }
}

/// What a publication does to its channel's retained state.
public enum StateChange: Sendable, Hashable {
    /// The publication's data becomes the key's value.
    case set(key: String)
    /// The key is removed.
    case remove(key: String)

    /// The key the change is about.
    public var key: String {
        switch self {
        case .set(let key), .remove(let key): key
        }
    }
}

/// What a publication does to the deny-list, in the same atomic step.
public enum DenyListChange: Sendable, Equatable {
    /// `user` is banned (replacing an earlier ban).
    case ban(user: String, Ban)
    /// `user`'s ban ends.
    case lift(user: String)
}

/// One publication to sequence.
public struct PublishRequest: Sendable, Equatable {
    /// The channel to publish on.
    public var channel: ChannelName
    /// What the broker keeps for that channel.
    public var policy: StreamPolicy
    /// The payload, sent to subscribers as it is (the value, for a state set).
    public var data: JSONValue
    /// The retained-state change it makes, if any (ignored where the namespace does not retain state).
    public var change: StateChange?
    /// The deny-list change stored in the same atomic step (bans), if any.
    public var denyList: DenyListChange?

    /// A publication request.
    public init(channel: ChannelName, policy: StreamPolicy, data: JSONValue, change: StateChange? = nil, denyList: DenyListChange? = nil) {
        self.channel = channel
        self.policy = policy
        self.data = data
        self.change = change
        self.denyList = denyList
    }
}

/// A publication with its place in the stream and its push, encoded once for every subscriber.
public struct SequencedPublication: Sendable {
    /// The publication with its offset.
    public let publication: Publication
    /// The epoch of the stream it belongs to.
    public let epoch: String
    /// When it was sequenced (wall-clock seconds since 1970; history TTL counts from here).
    public let time: Double
    /// The `publication` push, encoded once and shared by every subscriber.
    public let message: OutboundMessage

    /// Wraps a sequenced publication and encodes its push.
    public init(_ publication: Publication, epoch: String, time: Double) {
        self.publication = publication
        self.epoch = epoch
        self.time = time
        self.message = OutboundMessage(ServerMessage.encodePublication(
            channel: publication.channel, offset: publication.offset, data: publication.data.jsonBytes,
            key: publication.key, removed: publication.removed
        ), mayCoalesce: true)
    }
}

/// What a read asks for.
public struct StreamQuery: Sendable, Equatable {
    /// What the broker keeps for the channel.
    public var policy: StreamPolicy
    /// Create the stream (a new epoch) when there is none: subscribers need a position to hold.
    public var create: Bool
    /// The subscriber's last position: answer with exactly what it missed, if history proves it.
    public var since: StreamPosition?
    /// Include the retained state in the answer.
    public var includeState: Bool
    /// Include what history holds in the answer.
    public var includeHistory: Bool

    /// A read; by default only the position, without creating a stream.
    public init(policy: StreamPolicy, create: Bool = false, since: StreamPosition? = nil, includeState: Bool = false, includeHistory: Bool = false) {
        self.policy = policy
        self.create = create
        self.since = since
        self.includeState = includeState
        self.includeHistory = includeHistory
    }
}

/// A read's answer.
public struct StreamRead: Sendable {
    /// The stream's current position; nil when it has no stream (and the query did not create one).
    public var position: StreamPosition?
    /// With `since`: the publications after it, or nil when history cannot prove it has them all
    /// (another epoch, trimmed, or a position from the future).
    public var missed: [SequencedPublication]?
    /// With `includeState`: the retained state.
    public var state: [String: StateEntry]
    /// With `includeHistory`: what history holds, oldest first.
    public var history: [SequencedPublication]

    /// A read's answer.
    public init(position: StreamPosition?, missed: [SequencedPublication]? = nil, state: [String: StateEntry] = [:], history: [SequencedPublication] = []) {
        self.position = position
        self.missed = missed
        self.state = state
        self.history = history
    }
}

/// A remembered API request, stored with the publications it made.
public struct IdempotencyRecord: Sendable, Equatable {
    /// The key, already scoped by the caller (route and channels).
    public var key: String
    /// The request body: a repeat with another body is a conflict.
    public var body: JSONValue
    /// When the key is forgotten (wall-clock seconds since 1970).
    public var expires: Double
    /// Keys kept at most; the oldest go first.
    public var maxKeys: Int

    /// A record to store with a publication.
    public init(key: String, body: JSONValue, expires: Double, maxKeys: Int) {
        self.key = key
        self.body = body
        self.expires = expires
        self.maxKeys = maxKeys
    }
}

/// What a publication made by a remembered request looked like, enough to answer its repeat.
public struct PublishReceipt: Sendable, Equatable {
    /// The channel published on.
    public var channel: ChannelName
    /// The offset it got.
    public var offset: UInt64
    /// The retained-state key it set or removed, if any.
    public var key: String?

    /// A receipt.
    public init(channel: ChannelName, offset: UInt64, key: String?) {
        self.channel = channel
        self.offset = offset
        self.key = key
    }
}

/// The answer to ``Broker/recall(idempotencyKey:body:now:completion:)``.
public enum IdempotencyMatch: Sendable, Equatable {
    /// Not seen (or forgotten): run the request.
    case new
    /// Seen with the same body: these were its publications.
    case repeated([PublishReceipt])
    /// Seen with another body: a client bug.
    case conflict
}

/// A broker operation failed; nothing of it was applied.
public struct BrokerError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What failed, for logs and for the operator.
    public var message: String

    /// An error saying what failed.
    public init(_ message: String) { self.message = message }

    /// The message.
    public var description: String { message }
}
