import HybridSyncBroker
import HybridSyncProtocol
import HybridSyncServerTransport
@testable import HybridSyncServer
import Testing

/// The hub around a subscribe, whatever order the broker's answers arrive in.
@Suite("Hub")
struct HubTests {
    private final class Recorder: ServerTransport {
        var sent: [ConnectionID: [UInt64]] = [:]
        func send(_ message: OutboundMessage, to connections: some Sequence<ConnectionID>) {
            let offset = (try? ServerMessage.decode(message.bytes)).flatMap { message -> UInt64? in
                if case .push(.publication(let publication)) = message { return publication.offset }
                return nil
            }
            for connection in connections { sent[connection, default: []].append(offset ?? 0) }
        }
        func close(_ connection: ConnectionID, code: CloseCode, reason: String) {}
    }

    private let channel = try! ChannelName("chat:room")

    private func publication(_ offset: UInt64) -> SequencedPublication {
        SequencedPublication(Publication(channel: channel, offset: offset, data: .int(Int64(offset))), epoch: "e", time: 0)
    }

    @Test("a snapshot behind the deliveries: the held ones newer than it follow it")
    func snapshotBehind() {
        let (hub, transport) = (Hub(), Recorder())
        hub.join(ConnectionID(1), channel)
        hub.fanOut(publication(1), through: transport)
        hub.fanOut(publication(2), through: transport)
        let held = hub.activate(ConnectionID(1), channel, after: 1)
        #expect(held?.map(\.publication.offset) == [2])
        hub.fanOut(publication(3), through: transport)
        #expect(transport.sent[ConnectionID(1)] == [3], "live after the snapshot")
    }

    @Test("a snapshot ahead of the deliveries (another node published, this node's tail is behind): it catches up without repeats")
    func snapshotAhead() {
        let (hub, transport) = (Hub(), Recorder())
        hub.join(ConnectionID(1), channel)
        _ = hub.activate(ConnectionID(1), channel, after: 0)
        hub.join(ConnectionID(2), channel)
        #expect(hub.activate(ConnectionID(2), channel, after: 2)?.isEmpty == true, "nothing held: the snapshot already has 1 and 2")
        for offset in UInt64(1)...4 { hub.fanOut(publication(offset), through: transport) }
        #expect(transport.sent[ConnectionID(1)] == [1, 2, 3, 4])
        #expect(transport.sent[ConnectionID(2)] == [3, 4], "1 and 2 are in its snapshot; 3 and 4 once each")
        #expect(hub.subscriberCount(channel) == 2)
        #expect(hub.leave(ConnectionID(1), channel) == nil)
        #expect(hub.leave(ConnectionID(2), channel) != nil, "the last one leaving removes the channel")
    }
}
