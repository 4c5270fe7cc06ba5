import HybridSyncProtocol
import Logging

/// The server's side of the app backend's connect and subscribe proxies (``BackendHooks``;
/// docs/API.md "Hooks"): builds the question, and turns the answer into what the command gets.
final class HookDesk {
    private let hooks: (any BackendHooks)?
    private let logger: Logger

    init(hooks: (any BackendHooks)?, logger: Logger) {
        self.hooks = hooks
        self.logger = logger
    }

    /// What an allowed hook attached: presence info and, for a connect, more `claim` channels.
    typealias Grant = (info: JSONValue?, channels: [String])

    /// Asks the backend (where `enabled` says that hook is configured; otherwise allows at once)
    /// whether `session` of `identity` may connect (`channel` nil) or subscribe to `channel`.
    /// Fails with 119 (connect) or 103 (subscribe) when it refused, 118 (temporary) when it could
    /// not answer in time; does not complete when the session closed meanwhile (`isOpen`).
    func ask(
        _ enabled: KeyPath<any BackendHooks, Bool>, _ session: Session, _ identity: Identity, channel: ChannelName?,
        isOpen: @escaping () -> Bool, completion: @escaping (Result<Grant, ReplyError>) -> Void
    ) {
        guard let hooks, hooks[keyPath: enabled] else { return completion(.success((nil, []))) }
        let request = HookRequest(
            user: identity.userID, client: "\(session.id)", name: session.clientName, remoteAddress: session.remoteAddress,
            channel: channel, info: identity.info
        )
        let what = channel.map { "subscribe to '\($0)'" } ?? "connect"
        let ask = channel == nil ? hooks.connect : hooks.subscribe
        ask(request) { [logger] decision in
            guard isOpen() else { return completion(.failure(ReplyError(.internalError, "closed"))) }
            switch decision {
            case .allow(let info, let channels):
                completion(.success((info, channels)))
            case .deny(let reason):
                logger.info("the app backend refused", metadata: session.metadata.merging(["what": "\(what)", "reason": "\(reason)"]) { $1 })
                completion(.failure(ReplyError(channel == nil ? .refusedByBackend : .permissionDenied, "the app backend refused the \(what): \(reason)")))
            case .unavailable(let why):
                completion(.failure(ReplyError(.backendUnavailable, "the app backend could not answer the \(what) (\(why)); retry shortly")))
            }
        }
    }
}
