import HybridSyncProtocol
import Logging

/// The runtime's single server subscription to a channel, shared by every observer of it.
final class ChannelSubscription {
    enum Status { case offline, pending, active }

    let name: ChannelName
    var status: Status = .offline
    /// Publication observers and server-key observers holding this channel.
    var holders = 0
    /// Where this client is in the channel's stream (nil before the first subscribe result).
    var position: StreamPosition?
    /// The channel's retained state as this client knows it.
    var state: [String: StateEntry] = [:]
    var lingerTask: Task<Void, Never>?
    /// Observers waiting for the first subscribe result.
    var readyWaiters: [CheckedContinuation<Void, any Error>] = []

    init(name: ChannelName) { self.name = name }
}

extension ClientRuntime {
    // MARK: Holding channels

    /// Takes a hold on `name`, subscribing if needed. Returns once the subscription is active, or
    /// at once while offline (it activates after reconnecting). Throws when the server refuses it.
    func hold(_ name: ChannelName) async throws {
        let subscription = channels[name] ?? {
            let created = ChannelSubscription(name: name)
            channels[name] = created
            return created
        }()
        subscription.holders += 1
        subscription.lingerTask?.cancel()
        subscription.lingerTask = nil
        if subscription.status == .offline, case .connected = state { subscribe(subscription) }
        guard subscription.status == .pending else { return }
        do {
            try await withCheckedThrowingContinuation { subscription.readyWaiters.append($0) }
        } catch {
            release(name)
            throw error
        }
    }

    /// Gives a hold back; the last one out unsubscribes after the linger.
    func release(_ name: ChannelName) {
        guard let subscription = channels[name] else { return }
        subscription.holders -= 1
        guard subscription.holders == 0 else { return }
        let linger = configuration.subscriptionLinger
        if linger <= .zero {
            dropIfUnused(name)
        } else {
            subscription.lingerTask = Task {
                guard (try? await self.sleep(linger)) != nil else { return }
                self.dropIfUnused(name)
            }
        }
    }

    private func dropIfUnused(_ name: ChannelName) {
        guard let subscription = channels[name], subscription.holders == 0 else { return }
        channels[name] = nil
        subscription.lingerTask = nil
        if subscription.status == .active {
            _ = send(.unsubscribe(channel: name), queueWhenOffline: false)
        }
        // A subscribe still in flight is undone when its result arrives (see subscribe).
        logger.debug("channel released", metadata: ["channel": "\(name)"])
    }

    // MARK: Subscribing and recovery

    /// Sends `subscribe` (with the last position, to recover) and applies the result as it is
    /// handled, before any push that follows it.
    func subscribe(_ subscription: ChannelSubscription) {
        subscription.status = .pending
        let since = subscription.position
        let pending = send(.subscribe(channel: subscription.name, since: since), queueWhenOffline: false)
        // Runs from `handle`, inside the actor, before the next message is read.
        let name = subscription.name
        let identity = ObjectIdentifier(subscription)
        let apply: (isolated ClientRuntime, Result<JSONValue, any Error>) -> Void = { runtime, result in
            runtime.applySubscribe(name, identity: identity, since: since, result)
        }
        if let result = pending.result { apply(self, result) } else { pending.onComplete = apply }
    }

    func resubscribeAll() {
        for subscription in channels.values { subscribe(subscription) }
    }

    private func applySubscribe(
        _ name: ChannelName, identity: ObjectIdentifier, since: StreamPosition?, _ result: Result<JSONValue, any Error>
    ) {
        guard let subscription = channels[name], ObjectIdentifier(subscription) == identity else {
            // Released while the subscribe was in flight: undo it.
            if case .success = result { _ = send(.unsubscribe(channel: name), queueWhenOffline: false) }
            return
        }
        switch result {
        case .success(let json):
            guard let subscribed = SubscribeResult(json) else {
                logger.warning("unreadable subscribe result", metadata: ["channel": "\(name)"])
                return
            }
            if subscribed.recovered == true, since != nil {
                // Exactly the missed publications follow as pushes and advance the position.
                logger.debug("recovered", metadata: ["channel": "\(name)", "from": "\(since!)", "to": "\(subscribed.position)"])
            } else {
                if since != nil {
                    logger.info("could not recover, applying the snapshot", metadata: ["channel": "\(name)", "from": "\(since!)"])
                }
                subscription.position = subscribed.position
                replaceState(of: subscription, with: subscribed.state ?? [:])
            }
            subscription.status = .active
            for waiter in subscription.readyWaiters { waiter.resume() }
            subscription.readyWaiters.removeAll()
        case .failure(let error):
            if let runtimeError = error as? ClientRuntimeError, runtimeError.serverError == nil {
                // The connection went away or is not there: it resubscribes after reconnecting.
                subscription.status = .offline
                for waiter in subscription.readyWaiters { waiter.resume() }
                subscription.readyWaiters.removeAll()
                return
            }
            logger.info("subscribe refused", metadata: ["channel": "\(name)", "error": "\(error)"])
            subscription.status = .offline
            for waiter in subscription.readyWaiters { waiter.resume(throwing: error) }
            subscription.readyWaiters.removeAll()
            endObservers(of: name, error: error)
        }
    }

    /// Applies one live publication: in order, or the gap is repaired by resubscribing.
    func deliver(_ publication: Publication) {
        guard let subscription = channels[publication.channel], subscription.status == .active,
              let position = subscription.position
        else { return }
        if publication.offset <= position.offset { return }  // already applied
        guard publication.offset == position.offset + 1 else {
            logger.warning("gap in channel stream, resubscribing to recover", metadata: [
                "channel": "\(publication.channel)", "have": "\(position.offset)", "got": "\(publication.offset)",
            ])
            _ = send(.unsubscribe(channel: publication.channel), queueWhenOffline: false)
            subscribe(subscription)
            return
        }
        subscription.position?.offset = publication.offset
        if let key = publication.key {
            if publication.removed {
                subscription.state[key] = nil
            } else {
                subscription.state[key] = StateEntry(value: publication.data, version: publication.offset)
            }
            notifyKey(channel: publication.channel, key: key)
        }
        for (id, observer) in observers {
            guard case .publications(let channel, _, let continuation) = observer.kind, channel == publication.channel else { continue }
            if case .dropped = continuation.yield(publication) {
                let error = ClientRuntimeError.observerOverflow(configuration.observerBufferLimit)
                if let app = observer.app { errorSink(RuntimeErrorReport(app: apps[app]?.name, context: "observer of '\(channel)'", error: error)) }
                continuation.finish(throwing: error)
                removeObserver(id)
            }
        }
    }

    /// Replaces a channel's state with a snapshot and tells observers of every key that changed.
    private func replaceState(of subscription: ChannelSubscription, with snapshot: [String: StateEntry]) {
        let old = subscription.state
        subscription.state = snapshot
        let changed = Set(old.keys).union(snapshot.keys).filter { old[$0]?.value != snapshot[$0]?.value }
        for key in changed { notifyKey(channel: subscription.name, key: key) }
    }

    // MARK: Publication observers

    /// Publications on `name` for micro-app `app`, from now on.
    func observePublications(_ name: ChannelName, app: UInt64) async throws -> PublicationStream {
        guard apps[app] != nil else { throw ClientRuntimeError.unmounted }
        try await hold(name)
        guard apps[app] != nil else {
            release(name)
            throw ClientRuntimeError.unmounted
        }
        let id = makeID()
        let (stream, continuation) = PublicationStream.makeStream(bufferingPolicy: .bufferingOldest(configuration.observerBufferLimit))
        observers[id] = Observer(app: app, kind: .publications(name, app, continuation))
        apps[app]?.observers.insert(id)
        continuation.onTermination = { [weak self] _ in Task { await self?.removeObserver(id) } }
        return stream
    }

    /// Ends every observer of a channel (the server refused it, or the runtime closed).
    func endObservers(of name: ChannelName, error: (any Error)?) {
        for (id, observer) in observers where observer.channel == name {
            observer.finish(error)
            removeObserver(id)
        }
    }
}
