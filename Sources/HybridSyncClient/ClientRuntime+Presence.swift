import HybridSyncProtocol
import Logging

/// Presence followed live (``MicroApp/observePresence(_:)``): once a followed channel's
/// subscription is active, one `presence` read, the pushes applied on top (``PresenceFollow``);
/// after every (re)subscribe a read again, so after a reconnect the list is the server's again.
extension ClientRuntime {
    /// The users present on one channel, as a micro-app follows them.
    public typealias PresentUsers = AsyncThrowingStream<[PresentUser], any Error>

    /// The present users of `name` for micro-app `app`: the current list once known, then the
    /// whole list after every change. A slow reader gets the newest list.
    func observePresence(_ name: ChannelName, app: UInt64) async throws -> PresentUsers {
        try await holdForObserver(name, app: app)
        let (stream, continuation) = PresentUsers.makeStream(bufferingPolicy: .bufferingNewest(1))
        let id = makeID()
        observers.add(id, PresenceObserver(app: app, channel: name, continuation: continuation))
        registry.addObserver(id, to: app)
        continuation.onTermination = { [weak self] _ in Task { await self?.removeObserver(id, error: nil) } }
        if presence[name] == nil { presence[name] = PresenceFollow() }
        if let list = presence[name]?.list { continuation.yield(list) } else { readPresence(name) }
        return stream
    }

    /// Sends a `presence` read of a followed channel whose subscription is active, unless one is
    /// out; pushes are held from now until it answers. Otherwise the next subscribe answer reads.
    func readPresence(_ name: ChannelName) {
        guard presence[name]?.isReading == false, subscriptions[name]?.status == .active else { return }
        let ticket = makeID()
        presence[name]?.reading(ticket)
        Task { [weak self] in
            guard let self else { return }
            let answer: Result<JSONValue, any Error>
            do { answer = .success(try await call(.presence(channel: name), queueable: false)) } catch { answer = .failure(error) }
            await presenceRead(name, ticket: ticket, answer)
        }
    }

    private func presenceRead(_ name: ChannelName, ticket: UInt64, _ answer: Result<JSONValue, any Error>) {
        switch answer.map(PresenceResult.init) {
        case .success(let result?):
            if presence[name]?.answered(ticket, result.members) == true { yieldPresence(name) }
        case .success(nil):
            presence[name]?.failed(ticket)
            endPresenceObservers(of: name, error: ClientRuntimeError.protocolViolation("presence result"))
        case .failure(let error as ClientRuntimeError) where error.code == .serverRefused:
            presence[name]?.failed(ticket)
            endPresenceObservers(of: name, error: error)
        case .failure(let error):
            // The connection went (or the answer is late): the next subscribe answer reads again.
            logger.debug("presence read failed", metadata: ["channel": "\(name)", "error": "\(error)"])
            presence[name]?.failed(ticket)
        }
    }

    /// A `join`, `leave` or `presence_update` push.
    func presencePushed(_ change: PresenceChange) {
        if presence[change.channel]?.pushed(change) == true { yieldPresence(change.channel) }
    }

    private func yieldPresence(_ name: ChannelName) {
        guard let list = presence[name]?.list else { return }
        for observer in observers.presenceObservers(of: name).values { observer.continuation.yield(list) }
    }

    /// Ends the presence followers of `name` (the server refused the read: 114 where the
    /// namespace keeps no presence).
    func endPresenceObservers(of name: ChannelName, error: any Error) {
        for id in observers.presenceObservers(of: name).keys { removeObserver(id, error: error) }
    }
}
