import HybridSyncProtocol
import Logging

/// Subscription tokens from each micro-app's provider: fetched before a subscribe, refreshed with
/// `sub_refresh` before they expire (the subscription goes on, nothing is re-sent), and the end
/// of a subscription whose token expired (its observers end; the connection stays).
extension ClientRuntime {
    /// Sends the subscribe sent as `ticket`, with a token from the channel's provider when it has one.
    func sendSubscribe(_ name: ChannelName, since: StreamPosition?, ticket: UInt64) {
        guard let provider = tokens.provider(for: name) else { return transmitSubscribe(name, since: since, ticket: ticket, token: nil) }
        Task { [weak self] in
            let token: Result<String?, any Error>
            do { token = .success(try await provider(name.rawValue)) } catch { token = .failure(error) }
            await self?.tokenFetched(name, since: since, ticket: ticket, token)
        }
    }

    private func tokenFetched(_ name: ChannelName, since: StreamPosition?, ticket: UInt64, _ token: Result<String?, any Error>) {
        guard subscriptions[name]?.status == .pending(ticket: ticket, since: since) else { return }
        switch token {
        case .success(let token):
            transmitSubscribe(name, since: since, ticket: ticket, token: token)
        case .failure(let error):
            logger.info("subscription token provider failed", metadata: ["channel": "\(name)", "error": "\(error)"])
            subscriptions.ended(name)
            subscribeFailed(name, ClientRuntimeError.subscriptionToken(name.rawValue, error), waiting: waiters.tickets(for: .ready(name)))
        }
    }

    private func transmitSubscribe(_ name: ChannelName, since: StreamPosition?, ticket: UInt64, token: String?) {
        guard let connection = link.socket else { return }
        connection.send(commands.transmit(.subscribe(channel: name, since: since, token: token), .init(ticket: ticket, purpose: .subscribe(name, since: since))))
    }

    /// A subscription that ends in `ttl` seconds: its token is refreshed before then.
    func scheduleTokenRefresh(_ name: ChannelName, ttl: Double) {
        schedule(.tokenRefresh(name), after: .milliseconds(Int64(SubscriptionTokens.refreshDelay(ttl: ttl) * 1000)))
    }

    /// The refresh timer of `name` fired: a fresh token from its provider, sent with `sub_refresh`.
    /// A failure is retried every 5 s; at the token's expiry the server ends the subscription.
    func refreshToken(_ name: ChannelName) {
        guard subscriptions[name]?.status == .active, let provider = tokens.provider(for: name) else { return }
        Task { [weak self] in
            do {
                guard let token = try await provider(name.rawValue) else { return }
                guard let answer = try await self?.call(.subscriptionRefresh(channel: name, token: token), queueable: false) else { return }
                if let ttl = answer["ttl"]?.doubleValue { await self?.scheduleTokenRefresh(name, ttl: ttl) }
            } catch {
                await self?.tokenRefreshFailed(name, error)
            }
        }
    }

    private func tokenRefreshFailed(_ name: ChannelName, _ error: any Error) {
        logger.info("subscription token refresh failed; retrying in 5 s", metadata: ["channel": "\(name)", "error": "\(error)"])
        schedule(.tokenRefresh(name), after: .seconds(5))
    }

    /// The server ended a subscription (its token expired, `unsubscribed`): its observers end with
    /// the server's error; the connection and the other subscriptions go on.
    func subscriptionEnded(_ name: ChannelName, _ error: ReplyError) {
        logger.info("the server ended a subscription", metadata: ["channel": "\(name)", "error": "\(error)"])
        subscriptions.ended(name)
        timer.remove(.tokenRefresh(name))
        endObservers(of: name, error: ClientRuntimeError.serverRefused(error))
    }
}
