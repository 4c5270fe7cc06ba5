import HybridSyncBroker
import HybridSyncProtocol

extension Hub {
    /// Sends `channel_occupied` and `channel_vacated` to `sink` (none: nothing is tracked) when a
    /// channel's first subscriber here arrives or its last leaves and `broker` says that made the
    /// channel occupied or vacated on every node (see ``PresenceEngine/occupancy(_:occupied:completion:)``).
    func reportOccupancy(to sink: (any WebhookSink)?, through broker: any Broker) {
        guard let sink else { return }
        occupancy = { [broker] channel, occupied in
            broker.occupancy(channel, occupied: occupied) { changed in
                if changed { sink.record(occupied ? "channel_occupied" : "channel_vacated", ["channel": .string(channel.rawValue)]) }
            }
        }
    }
}
