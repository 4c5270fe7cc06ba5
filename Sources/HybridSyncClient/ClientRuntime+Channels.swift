import HybridSyncProtocol
import Logging

extension ClientRuntime {
    // MARK: Holding channels

    /// Performs what the subscription table asks for.
    func perform(_ actions: [SubscriptionTable.Action]) {
        for action in actions {
            switch action {
            case .subscribe(let name, let since):
                guard isOnline, link.socket != nil else { continue }
                let ticket = makeID()
                subscriptions.sent(name, ticket: ticket, since: since)
                sendSubscribe(name, since: since, ticket: ticket)
            case .unsubscribe(let name):
                fireAndForget(.unsubscribe(channel: name))
            case .startLinger(let name):
                schedule(.linger(name), after: configuration.subscriptionLinger)
            case .cancelLinger(let name):
                timer.remove(.linger(name))
            case .forget(let name):
                store.forget(name)
                tokens.forget(name)
                timer.remove(.tokenRefresh(name))
                logger.debug("channel released", metadata: ["channel": "\(name)"])
            }
        }
    }

    /// Takes a hold on `name`, subscribing if needed. Returns once the subscription is active, or
    /// at once while offline (it activates after reconnecting). Throws when the server refuses it,
    /// after ``Configuration/commandTimeout``, or when the task is cancelled.
    func hold(_ name: ChannelName, app: UInt64) async throws {
        try checkUsable()
        tokens.adopt(name, registry[app]?.subscriptionToken)
        perform(subscriptions.hold(name, online: isOnline))
        guard case .pending? = subscriptions[name]?.status else { return }
        do {
            _ = try await wait(.ready(name), timeout: configuration.commandTimeout, what: "subscribe")
        } catch {
            release(name)
            throw error
        }
    }

    /// Gives a hold back; the last one out unsubscribes after the linger.
    func release(_ name: ChannelName) {
        perform(subscriptions.release(name, linger: configuration.subscriptionLinger > .zero))
    }

    // MARK: Subscribe answers and live publications

    /// Applies a subscribe answer (nil: the connection went away first), inside the actor and
    /// before the next message, so the recovered pushes that follow see it.
    func subscribeAnswered(_ name: ChannelName, ticket: UInt64, _ result: Result<JSONValue, ReplyError>?) {
        let answer: SubscriptionTable.Answer
        switch result {
        case nil: answer = .lost
        case .failure(let error): answer = .refused(error)
        case .success(let json):
            if let subscribed = SubscribeResult(json) {
                answer = .subscribed(subscribed)
            } else {
                answer = .refused(ReplyError(.internalError, "unreadable subscribe result"))
            }
        }
        let ready = waiters.tickets(for: .ready(name))
        switch subscriptions.answered(name, ticket: ticket, answer) {
        case .stale(let undo):
            if undo { fireAndForget(.unsubscribe(channel: name)) }
        case .ready(let snapshot, let resync, let retainsState):
            if retainsState {
                observers.channelsWithoutState.remove(name)
            } else {
                // Its state observers would only ever see their defaults: end them, as hybridsync.js does.
                observers.channelsWithoutState.insert(name)
                for id in observers.stateObservers(of: name) {
                    removeObserver(id, error: ClientRuntimeError.stateNotRetained(name.rawValue))
                }
            }
            if let snapshot { notify(store.replace(name, with: snapshot)) }
            if let ttl = result.flatMap({ try? $0.get() }).flatMap(SubscribeResult.init)?.ttl { scheduleTokenRefresh(name, ttl: ttl) }
            if let resync {
                logger.info("could not recover, applied the snapshot", metadata: [
                    "channel": "\(name)", "from": "\(resync.from)", "to": "\(resync.to)",
                ])
                for id in observers.channelObservers(of: name) { yield(.resynced(resync), to: id) }
            }
            readPresence(name)
            for ticket in ready { resolve(ticket, .success(.null)) }
        case .refused(let refusal):
            logger.info("subscribe refused", metadata: ["channel": "\(name)", "error": "\(refusal)"])
            subscribeFailed(name, ClientRuntimeError.serverRefused(refusal), waiting: ready)
        case .offline:
            for ticket in ready { resolve(ticket, .success(.null)) }
        }
    }

    /// A subscribe failed (refused, or its token could not be had): its waiters and observers end with `error`.
    func subscribeFailed(_ name: ChannelName, _ error: ClientRuntimeError, waiting ready: [UInt64]) {
        for ticket in ready { resolve(ticket, .failure(error)) }
        endObservers(of: name, error: error)
    }

    /// Applies one live publication: in order, or the gap is repaired by resubscribing from the
    /// last position (the server then sends exactly what was missed, or a snapshot and `resynced`).
    func deliver(_ publication: Publication) {
        switch subscriptions.deliver(publication) {
        case .ignore:
            return
        case .gap(let since):
            logger.info("gap in channel stream, resubscribing to recover", metadata: [
                "channel": "\(publication.channel)", "have": "\(since.offset)", "got": "\(publication.offset)",
            ])
            fireAndForget(.unsubscribe(channel: publication.channel))
            perform([.subscribe(publication.channel, since: since)])
        case .apply:
            notify(store.apply(publication))
            for id in observers.channelObservers(of: publication.channel) { yield(.publication(publication), to: id) }
        }
    }

    private func yield(_ event: ChannelEvent, to id: UInt64) {
        guard let observer = observers.channelObserver(id) else { return }
        if case .dropped = observer.continuation.yield(event) {
            let error = ClientRuntimeError.observerOverflow(configuration.observerBufferLimit)
            errorSink(RuntimeErrorReport(app: registry.name(of: observer.app), context: "observer of '\(observer.channel)'", error: error))
            removeObserver(id, error: error)
        }
    }

    // MARK: Channel observers

    /// Events of `name` for micro-app `app`, from now on.
    func observeChannel(_ name: ChannelName, app: UInt64) async throws -> ChannelEvents {
        try await holdForObserver(name, app: app)
        let id = makeID()
        let (stream, continuation) = ChannelEvents.makeStream(bufferingPolicy: .bufferingOldest(configuration.observerBufferLimit))
        observers.add(id, ChannelObserver(app: app, channel: name, continuation: continuation))
        registry.addObserver(id, to: app)
        continuation.onTermination = { [weak self] _ in Task { await self?.removeObserver(id, error: nil) } }
        return stream
    }

    /// Takes a hold on `name` for a new observer of micro-app `app` (see ``hold(_:app:)``).
    func holdForObserver(_ name: ChannelName, app: UInt64) async throws {
        try checkUsable()
        guard registry[app] != nil else { throw ClientRuntimeError.unmounted }
        try await hold(name, app: app)
        guard registry[app] != nil else {
            release(name)
            throw ClientRuntimeError.unmounted
        }
    }

    /// Ends every observer of a channel (the server refused it).
    func endObservers(of name: ChannelName, error: any Error) {
        for id in observers.channelObservers(of: name) { removeObserver(id, error: error) }
        for id in observers.stateObservers(of: name) { removeObserver(id, error: error) }
        endPresenceObservers(of: name, error: error)
    }

    /// Ends one observer (`error` nil: normally) and gives its hold back.
    func removeObserver(_ id: UInt64, error: (any Error)?) {
        switch observers.remove(id) {
        case .state(let observer):
            store.unwatch(observer.binding, by: id)
            registry.removeObserver(id, from: observer.app)
            observer.finish(error)
            if let channel = observer.channel { release(channel) }
        case .channel(let observer):
            registry.removeObserver(id, from: observer.app)
            observer.continuation.finish(throwing: error)
            release(observer.channel)
        case .presence(let observer):
            registry.removeObserver(id, from: observer.app)
            observer.continuation.finish(throwing: error)
            if observers.presenceObservers(of: observer.channel).isEmpty { presence[observer.channel] = nil }
            release(observer.channel)
        case nil:
            break
        }
    }
}
