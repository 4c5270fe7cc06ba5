public import HybridSyncProtocol

/// What an observer of a channel receives: publications in order, and an explicit signal when
/// continuity was lost.
public enum ChannelEvent: Sendable, Equatable {
    /// The next publication of the channel.
    case publication(Publication)
    /// The runtime came back but the server could not prove which publications it missed (history
    /// too short, or the stream restarted): publications after `from` up to `to` may be missing.
    /// Retained state is current again (it was replaced by the server's snapshot). Ask
    /// ``MicroApp/backfill(_:after:)`` for what history still holds.
    case resynced(ChannelResync)

    /// The publication, for `.publication`.
    public var publication: Publication? {
        if case .publication(let publication) = self { return publication }
        return nil
    }
}

/// A loss of continuity on one channel.
public struct ChannelResync: Sendable, Equatable {
    /// The channel whose continuity was lost.
    public let channel: ChannelName
    /// The last position this client had applied.
    public let from: StreamPosition
    /// The server's position now; live publications continue after it.
    public let to: StreamPosition

    /// A loss of continuity on `channel` between `from` and `to`.
    public init(channel: ChannelName, from: StreamPosition, to: StreamPosition) {
        self.channel = channel
        self.from = from
        self.to = to
    }
}

/// What the server's history still holds after a position (``MicroApp/backfill(_:after:)``).
public struct Backfill: Sendable, Equatable {
    /// The publications after the asked position that history still holds, in order.
    public let publications: [Publication]
    /// True when they are all of them: nothing between the asked position and ``position`` is missing.
    public let complete: Bool
    /// The channel's position when the server answered.
    public let position: StreamPosition
}

extension Backfill {
    /// The part of a history answer after `position`; complete only when the epoch is the same and
    /// every offset up to the answer's position is there.
    init(_ result: HistoryResult, after position: StreamPosition) {
        let sameEpoch = result.position.epoch == position.epoch
        publications = result.publications.filter { !sameEpoch || $0.offset > position.offset }
        let missing = Int64(result.position.offset) - Int64(position.offset)
        complete = sameEpoch && missing >= 0 && Int64(publications.count) == missing
        self.position = result.position
    }
}
