import HybridSyncBroker
public import HybridSyncProtocol

/// Presence's glue: the subscribe joins, the commands and reads go to the ``PresenceDesk``.
extension SyncServer {
    /// Pushes presence changes made on any node to the subscribers here.
    public func broker(presence changes: [PresenceChange], madeHere: Bool) { presenceDesk.push(changes, madeHere: madeHere) }

    /// Reports channels a dead node's end left empty everywhere (`channel_vacated`).
    public func broker(vacated channels: [ChannelName]) { for name in channels { webhooks?.record("channel_vacated", ["channel": .string(name.rawValue)]) } }

    /// The `presence` (`stats` false) and `presence_stats` commands: 108, 102, 114, 112, or the answer.
    func readPresence(_ session: Session, of name: ChannelName, stats: Bool, _ finish: @escaping Finish) {
        guard session.identity != nil else { return finish(.failure(ReplyError(.notConnected, "send 'connect' with a token first")), []) }
        guard let policy = policy(name) else { return finish(.failure(configuration.unknownNamespace(name)), []) }
        if let refusal = PresenceDesk.refusal(of: name, policy: policy, for: session) { return finish(.failure(refusal), []) }
        let answer: (Result<JSONValue, BrokerError>) -> Void = { finish($0.mapError { _ in ReplyError.engineUnavailable }, []) }
        stats ? presenceDesk.stats(of: name, completion: answer) : presenceDesk.members(of: name, completion: answer)
    }

    /// `GET /api/presence/<channel>` (`stats` false) and `GET /api/presence_stats/<channel>`.
    package func readPresence(_ name: ChannelName, stats: Bool, completion: @escaping Completion<JSONValue>) throws(OperationError) {
        if let refusal = PresenceDesk.refusal(of: name, policy: try configuredPolicy(name)) { throw OperationError(.presenceDisabled, refusal.message) }
        let answer: (Result<JSONValue, BrokerError>) -> Void = { completion($0.mapError(OperationError.engine)) }
        stats ? presenceDesk.stats(of: name, completion: answer) : presenceDesk.members(of: name, completion: answer)
    }
}
