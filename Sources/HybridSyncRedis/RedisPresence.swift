import HybridSyncBroker
import HybridSyncProtocol
import Logging

/// This node's half of presence in Redis (``RedisScripts/presenceJoin`` and its siblings): each
/// change is one script, and every node learns it from the control stream, in the order it was
/// made. It remembers this node's contexts, so it can join them again when the node's lease was
/// lost, and the leaves Redis did not take, to send them again.
final class RedisPresence {
    /// One presence of a connection of this node on a channel, as it was joined.
    private struct Seat {
        let user: String
        let info: JSONValue?
        let maxUsers: Int
    }

    private unowned let broker: RedisBroker
    private var seats: [UInt64: [ChannelName: Seat]] = [:]
    private var unsentLeaves: [(channels: [ChannelName], connection: UInt64)] = []
    /// This turn's sessions opened minus closed, per user, for ``flushSessionCounts()``.
    private var sessionDeltas: [String: Int] = [:]

    init(broker: RedisBroker) {
        self.broker = broker
    }

    private var prefix: String { broker.configuration.prefix }

    /// See ``PresenceEngine/presenceJoin(_:user:connection:info:maxUsers:completion:)``.
    func join(
        _ channel: ChannelName, user: String, connection: UInt64, info: JSONValue?, maxUsers: Int,
        completion: @escaping (Result<PresenceJoin, BrokerError>) -> Void
    ) {
        let seat = Seat(user: user, info: info, maxUsers: maxUsers)
        submitJoin(channel, seat, connection: connection) { [self] result in
            if case .success(.joined) = result { seats[connection, default: [:]][channel] = seat }
            completion(result)
        }
    }

    /// See ``PresenceEngine/presenceLeave(_:connection:)``.
    func leave(_ channels: [ChannelName], connection: UInt64) {
        for channel in channels { seats[connection]?[channel] = nil }
        if seats[connection]?.isEmpty == true { seats[connection] = nil }
        submitLeave(channels, connection: connection)
    }

    /// See ``PresenceEngine/presence(of:completion:)``.
    func members(of channel: ChannelName, completion: @escaping (Result<[PresenceMember], BrokerError>) -> Void) {
        broker.submit(script: "presence_read", [prefix, channel.rawValue, "m"].map { Array($0.utf8) }) { result in
            completion(result.map { value in
                let flat = value.elements ?? []
                return stride(from: 0, to: flat.count - 2, by: 3).compactMap { index -> PresenceMember? in
                    guard let user = flat[index].text, let contexts = flat[index + 1].int else { return nil }
                    let info = flat[index + 2].text.flatMap { try? JSONValue.parse(Array($0.utf8)) }
                    return PresenceMember(user: user, contexts: Int(contexts), info: info == .null ? nil : info)
                }.sorted { $0.user < $1.user }
            })
        }
    }

    /// See ``PresenceEngine/presenceStats(of:completion:)``.
    func stats(of channel: ChannelName, completion: @escaping (Result<PresenceStats, BrokerError>) -> Void) {
        broker.submit(script: "presence_read", [prefix, channel.rawValue, "s"].map { Array($0.utf8) }) { result in
            completion(result.map { value in
                let counts = value.elements?.compactMap(\.int) ?? []
                return PresenceStats(users: Int(counts.first ?? 0), contexts: Int(counts.last ?? 0))
            })
        }
    }

    /// See ``PresenceEngine/occupancy(_:occupied:completion:)``.
    func occupancy(_ channel: ChannelName, occupied: Bool, completion: @escaping (Bool) -> Void) {
        let arguments = [prefix, broker.nodeID, channel.rawValue, occupied ? "1" : "0"]
        broker.submit(script: "occupancy", arguments.map { Array($0.utf8) }) { result in
            completion((try? result.get())?.int == 1)
        }
    }

    /// See ``PresenceEngine/sessionCounted(user:opened:)``: kept until ``flushSessionCounts()``.
    func count(user: String, opened: Bool) {
        sessionDeltas[user, default: 0] += opened ? 1 : -1
    }

    /// Stores the turn's session counts in one script (a connect storm would otherwise cost a
    /// script per connect); a user whose sessions opened and closed within the turn is left out.
    func flushSessionCounts() {
        guard !sessionDeltas.isEmpty else { return }
        var arguments = [prefix, broker.nodeID]
        for (user, delta) in sessionDeltas where delta != 0 { arguments += [user, String(delta)] }
        sessionDeltas.removeAll(keepingCapacity: true)
        guard arguments.count > 2 else { return }
        broker.submit(script: "session_counts", arguments.map { Array($0.utf8) }) { [broker] result in
            if case .failure(let error) = result {
                broker.logger.debug("session counts not stored; a ban's sessionsClosed may miss them", metadata: ["error": "\(error.message)"])
            }
        }
    }

    /// See ``PresenceEngine/sessionsElsewhere(of:completion:)``.
    func sessionsElsewhere(of user: String, completion: @escaping (Result<Int, BrokerError>) -> Void) {
        broker.submit(script: "sessions_elsewhere", [prefix, broker.nodeID, user].map { Array($0.utf8) }) { result in
            completion(result.map { Int($0.int ?? 0) })
        }
    }

    /// About once a second (from the sweep): renews this node's lease, removes the contexts of
    /// nodes whose lease ended, sends the leaves Redis did not take, and joins this node's
    /// contexts again when its lease was gone (Redis was unreachable for longer than the lease,
    /// or restarted empty).
    func tick() {
        let leaves = unsentLeaves
        unsentLeaves.removeAll()
        for leave in leaves { submitLeave(leave.channels, connection: leave.connection) }
        let arguments = [prefix, broker.nodeID, "\(broker.configuration.presenceLeaseSeconds)"]
        broker.submit(script: "presence_tick", arguments.map { Array($0.utf8) }) { [self] result in
            switch result {
            case .failure(let error):
                broker.logger.debug("presence lease not renewed", metadata: ["error": "\(error.message)"])
            case .success(let answer):
                let parts = answer.elements ?? []
                if parts.first?.int == 1 { rejoinSeats() }
                let vacated = parts.dropFirst().compactMap { $0.text.flatMap { try? ChannelName($0) } }
                if !vacated.isEmpty { broker.listener?.broker(vacated: vacated) }
            }
        }
    }

    /// A control-stream entry of presence changes, made on any node (this one included).
    func received(_ object: [String: JSONValue]) {
        guard case .array(let items)? = object["changes"] else { return }
        let changes = items.compactMap(PresenceChange.init(pushJSON:))
        if !changes.isEmpty { broker.listener?.broker(presence: changes, madeHere: object["origin"]?.stringValue == broker.nodeID) }
    }

    private func submitJoin(_ channel: ChannelName, _ seat: Seat, connection: UInt64, completion: @escaping (Result<PresenceJoin, BrokerError>) -> Void) {
        let arguments = [
            prefix, broker.nodeID, "\(connection)", channel.rawValue, seat.user, seat.info?.jsonString ?? "null",
            "\(seat.maxUsers)", "\(broker.configuration.presenceLeaseSeconds)",
        ]
        broker.submit(script: "presence_join", arguments.map { Array($0.utf8) }) { [self] result in
            completion(result.map { value in
                switch value.text {
                case "full": return .full(maxUsers: seat.maxUsers)
                case "joined new":
                    rejoinSeats()
                    return .joined
                default: return .joined
                }
            })
        }
    }

    private func submitLeave(_ channels: [ChannelName], connection: UInt64) {
        guard !channels.isEmpty else { return }
        let arguments = [prefix, broker.nodeID, "\(connection)"] + channels.map(\.rawValue)
        broker.submit(script: "presence_leave", arguments.map { Array($0.utf8) }) { [self] result in
            guard case .failure(let error) = result else { return }
            broker.logger.debug("presence leave not stored yet; retrying with the next tick", metadata: ["error": "\(error.message)"])
            unsentLeaves.append((channels, connection))
        }
    }

    /// The node's lease was gone, so other nodes may have removed its contexts: join them again
    /// (a context still present only keeps its info).
    private func rejoinSeats() {
        guard !seats.isEmpty else { return }
        broker.logger.info("presence lease was lost; joining this node's contexts again", metadata: ["connections": "\(seats.count)"])
        for (connection, channels) in seats {
            for (channel, seat) in channels { submitJoin(channel, seat, connection: connection) { _ in } }
        }
    }
}
