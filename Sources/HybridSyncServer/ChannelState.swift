import HybridSyncProtocol

/// One channel's stream position and live subscribers. Owned by the server's thread.
final class ChannelState {
    let name: ChannelName
    /// Identifies this stream; a new value means earlier offsets are meaningless.
    let epoch: String
    /// Offset of the latest publication; 0 before the first.
    private(set) var offset: UInt64 = 0
    private(set) var subscribers: Set<ConnectionID> = []

    init(name: ChannelName, epoch: String) {
        self.name = name
        self.epoch = epoch
    }

    /// Assigns the next offset.
    func nextOffset() -> UInt64 {
        offset += 1
        return offset
    }

    func add(_ connection: ConnectionID) { subscribers.insert(connection) }
    func remove(_ connection: ConnectionID) { subscribers.remove(connection) }
}
