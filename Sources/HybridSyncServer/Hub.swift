import HybridSyncBroker
import HybridSyncProtocol

/// Who is subscribed *here*, per channel: the local half of fan-out (the broker owns the streams).
///
/// A subscriber first *joins*: while the broker reads its snapshot, publications that complete are
/// held for it instead of sent; once the snapshot is replied it is *activated*, and the held ones
/// newer than the snapshot follow. So no publication is lost or repeated around a subscribe,
/// whatever the broker's latency.
final class Hub {
    final class Subscribers {
        fileprivate(set) var live: Set<ConnectionID> = []
        fileprivate(set) var joining: [ConnectionID: [SequencedPublication]] = [:]
        var count: Int { live.count + joining.count }
    }

    private(set) var channels: [ChannelName: Subscribers] = [:]

    func join(_ connection: ConnectionID, _ channel: ChannelName) {
        let subscribers = channels[channel] ?? Subscribers()
        channels[channel] = subscribers
        subscribers.joining[connection] = []
    }

    /// Makes a joining subscriber live; returns what completed meanwhile after `position` (nil when
    /// it is not joining any more).
    func activate(_ connection: ConnectionID, _ channel: ChannelName, after offset: UInt64) -> [SequencedPublication]? {
        guard let subscribers = channels[channel], let held = subscribers.joining.removeValue(forKey: connection) else { return nil }
        subscribers.live.insert(connection)
        return held.filter { $0.publication.offset > offset }
    }

    func leave(_ connection: ConnectionID, _ channel: ChannelName) {
        guard let subscribers = channels[channel] else { return }
        subscribers.live.remove(connection)
        subscribers.joining[connection] = nil
        if subscribers.count == 0 { channels[channel] = nil }
    }

    func subscriberCount(_ channel: ChannelName) -> Int { channels[channel]?.count ?? 0 }

    /// Sends the publication's bytes (encoded once) to every live subscriber; holds it for joining ones.
    func fanOut(_ publication: SequencedPublication, through transport: any ServerTransport) {
        guard let subscribers = channels[publication.publication.channel] else { return }
        if !subscribers.live.isEmpty { transport.send(publication.message, to: subscribers.live) }
        // In place: iterating `keys` while writing values would copy the table on every publication.
        for index in subscribers.joining.indices { subscribers.joining.values[index].append(publication) }
    }
}
