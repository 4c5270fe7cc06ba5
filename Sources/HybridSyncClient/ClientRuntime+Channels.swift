import HybridSyncProtocol

/// Identifies one observation of one channel by one micro-app.
struct ObserverKey: Hashable, Sendable {
    var channel: ChannelName
    var observer: UInt64
}

/// The runtime's single server subscription to a channel, shared by all its observers.
final class ChannelSubscription {
    var observers: [UInt64: ClientRuntime.PublicationStream.Continuation] = [:]
    /// The subscribe command in flight (or done); concurrent first observers all wait on it.
    var subscribing: Task<SubscribeResult, any Error>?
    var isActive = false
    /// The last offset delivered to observers.
    var offset: UInt64 = 0
}

extension ClientRuntime {
    /// Adds an observer of `channel` for micro-app `app`, subscribing on the server if it is the first.
    func observe(_ channel: ChannelName, app: UInt64) async throws -> PublicationStream {
        guard apps[app] != nil else { throw ClientRuntimeError.unmounted }
        let subscription = channels[channel] ?? {
            let created = ChannelSubscription()
            channels[channel] = created
            return created
        }()
        let observer = makeID()
        let (stream, continuation) = PublicationStream.makeStream(bufferingPolicy: .unbounded)
        subscription.observers[observer] = continuation
        apps[app]?.insert(ObserverKey(channel: channel, observer: observer))
        continuation.onTermination = { [weak self] _ in
            Task { await self?.removeObserver(ObserverKey(channel: channel, observer: observer), app: app) }
        }

        if subscription.subscribing == nil {
            let pending = send(.subscribe(channel: channel))
            subscription.subscribing = Task { try await subscribeResult(pending) }
        }
        let key = ObserverKey(channel: channel, observer: observer)
        do {
            let result = try await subscription.subscribing!.value
            if !subscription.isActive {
                subscription.isActive = true
                subscription.offset = result.position.offset
            }
        } catch {
            // Every observer waiting on this subscribe fails; a later observe tries again.
            subscription.subscribing = nil
            removeObserver(key, app: app)
            throw error
        }
        guard subscription.observers[observer] != nil else {
            // Unmounted while the subscribe was in flight.
            releaseIfUnused(channel)
            throw ClientRuntimeError.unmounted
        }
        return stream
    }

    private func subscribeResult(_ pending: PendingReply) async throws -> SubscribeResult {
        let result = try await reply(pending)
        guard let subscribed = SubscribeResult(result) else {
            throw ClientRuntimeError.protocolViolation("subscribe result without channel/epoch/offset")
        }
        return subscribed
    }

    /// Removes one observer; the last one out releases the server subscription.
    func removeObserver(_ key: ObserverKey, app: UInt64) {
        apps[app]?.remove(key)
        guard let continuation = channels[key.channel]?.observers.removeValue(forKey: key.observer) else { return }
        continuation.finish()
        releaseIfUnused(key.channel)
    }

    /// Drops a channel nobody observes. A subscribe still in flight keeps the entry (so a new observer
    /// joins it instead of subscribing twice); its completion calls this again.
    private func releaseIfUnused(_ channel: ChannelName) {
        guard let subscription = channels[channel], subscription.observers.isEmpty else { return }
        if subscription.isActive {
            channels[channel] = nil
            _ = send(.unsubscribe(channel: channel))  // sent now, so a later subscribe follows it
        } else if subscription.subscribing == nil {
            channels[channel] = nil
        }
    }

    /// Ends every observation of `app` and forgets it.
    func unmount(app: UInt64) {
        guard let keys = apps.removeValue(forKey: app) else { return }
        for key in keys { removeObserver(key, app: app) }
    }

    func deliver(_ publication: Publication) {
        guard let subscription = channels[publication.channel], subscription.isActive else { return }
        subscription.offset = publication.offset
        for observer in subscription.observers.values { observer.yield(publication) }
    }

    func finishChannel(_ channel: ChannelName, error: (any Error)?) {
        guard let subscription = channels.removeValue(forKey: channel) else { return }
        for observer in subscription.observers.values { observer.finish(throwing: error) }
        for key in apps.keys { apps[key] = apps[key]?.filter { $0.channel != channel } }
    }
}
