import HybridSyncBroker
import HybridSyncProtocol
import HybridSyncServerTransport

/// Who is subscribed *here*, per channel: the local half of fan-out (the broker owns the streams).
///
/// A subscriber first *joins*: while the broker reads its snapshot, publications delivered
/// meanwhile are held for it instead of sent; once the snapshot is replied it is *activated*, and
/// the held ones newer than the snapshot follow. A snapshot can also be *ahead* of what this node
/// has fanned out (with a broker shared by several nodes, a publication made elsewhere reaches the
/// snapshot before its delivery reaches this node): the subscriber then catches up, skipping the
/// deliveries its snapshot already holds. So no publication is lost or repeated around a
/// subscribe, whatever the broker's latency.
final class Hub {
    final class Subscribers {
        fileprivate(set) var live: Set<ConnectionID> = []
        fileprivate(set) var joining: [ConnectionID: [SequencedPublication]] = [:]
        /// Activated subscribers whose snapshot is ahead of ``lastOffset``: the offset they hold.
        fileprivate(set) var catchingUp: [ConnectionID: UInt64] = [:]
        /// The offset of the latest publication fanned out here.
        fileprivate(set) var lastOffset: UInt64 = 0
        /// Whether the broker was asked to follow the channel for this node.
        var followed = false
        var count: Int { live.count + joining.count + catchingUp.count }
        /// The subscribers that have their subscribe answer (live or catching up).
        var answered: Set<ConnectionID> { live.union(catchingUp.keys) }
        /// Every subscriber, whatever its stage.
        var all: [ConnectionID] { Array(live) + Array(joining.keys) + Array(catchingUp.keys) }
    }

    private(set) var channels: [ChannelName: Subscribers] = [:]
    /// Told when a channel gets its first subscriber here (true) and loses its last (false).
    var occupancy: ((ChannelName, Bool) -> Void)?

    func join(_ connection: ConnectionID, _ channel: ChannelName) {
        if let subscribers = channels[channel] {  // one lookup for the usual case
            subscribers.joining[connection] = []
            return
        }
        let subscribers = Subscribers()
        channels[channel] = subscribers
        subscribers.joining[connection] = []
        occupancy?(channel, true)
    }

    /// Makes a joining subscriber live; returns what was delivered meanwhile after `offset` (nil
    /// when it is not joining any more).
    func activate(_ connection: ConnectionID, _ channel: ChannelName, after offset: UInt64) -> [SequencedPublication]? {
        guard let subscribers = channels[channel], let held = subscribers.joining.removeValue(forKey: connection) else { return nil }
        if subscribers.lastOffset < offset {
            subscribers.catchingUp[connection] = offset
            return []
        }
        subscribers.live.insert(connection)
        return held.filter { $0.publication.offset > offset }
    }

    /// Removes a subscriber; returns the channel's entry when it was the last one (the channel is gone).
    @discardableResult
    func leave(_ connection: ConnectionID, _ channel: ChannelName) -> Subscribers? {
        guard let subscribers = channels[channel] else { return nil }
        subscribers.live.remove(connection)
        subscribers.joining[connection] = nil
        subscribers.catchingUp[connection] = nil
        guard subscribers.count == 0 else { return nil }
        channels[channel] = nil
        occupancy?(channel, false)
        return subscribers
    }

    /// The broker lost the channel's stream: its next stream starts over (new epoch, offset 1).
    func reset(_ channel: ChannelName) {
        guard let subscribers = channels[channel] else { return }
        subscribers.followed = false
        subscribers.lastOffset = 0
    }

    func subscriberCount(_ channel: ChannelName) -> Int { channels[channel]?.count ?? 0 }

    /// Sends the publication's bytes (encoded once) to every live subscriber; holds it for joining
    /// ones; sends it to a catching-up one only past the offset its snapshot holds.
    func fanOut(_ publication: SequencedPublication, through transport: any ServerTransport) {
        guard let subscribers = channels[publication.publication.channel] else { return }
        let offset = publication.publication.offset
        subscribers.lastOffset = offset
        if !subscribers.catchingUp.isEmpty {
            for (connection, held) in subscribers.catchingUp where offset > held {
                subscribers.catchingUp[connection] = nil
                subscribers.live.insert(connection)
            }
        }
        if !subscribers.live.isEmpty { transport.send(publication.message, to: subscribers.live) }
        // In place: iterating `keys` while writing values would copy the table on every publication.
        for index in subscribers.joining.indices { subscribers.joining.values[index].append(publication) }
    }
}
