import HybridSyncProtocol
import HybridSyncServerTransport

/// The server's sessions by connection, and the open ones of each authenticated user (for bans,
/// disconnects and `GET /api/users/<user>/sessions`).
struct SessionTable {
    private var byConnection: [ConnectionID: Session] = [:]
    private var byUser: [String: Set<ConnectionID>] = [:]

    subscript(_ connection: ConnectionID) -> Session? { byConnection[connection] }

    /// Open connections (authenticated or not).
    var count: Int { byConnection.count }

    var all: Dictionary<ConnectionID, Session>.Values { byConnection.values }

    /// Whether `session` is still the one open on its connection (a broker result may arrive
    /// after its connection closed, or after the id was reused).
    func holds(_ session: Session) -> Bool { byConnection[session.id] === session }

    mutating func opened(_ session: Session) { byConnection[session.id] = session }

    /// `session` authenticated as `user`.
    mutating func authenticated(_ session: Session, as user: String) {
        byUser[user, default: []].insert(session.id)
    }

    /// Forgets the session of `connection`, and returns it.
    mutating func remove(_ connection: ConnectionID) -> Session? {
        guard let session = byConnection.removeValue(forKey: connection) else { return nil }
        if let user = session.identity?.userID {
            byUser[user]?.remove(connection)
            if byUser[user]?.isEmpty == true { byUser[user] = nil }
        }
        return session
    }

    /// The sessions of `user` that are not closing, oldest connection first.
    func open(of user: String) -> [Session] {
        (byUser[user] ?? []).sorted().compactMap { byConnection[$0] }.filter { !$0.isClosing }
    }
}
