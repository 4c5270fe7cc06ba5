import HybridSyncProtocol
import Logging

extension ClientRuntime {
    // MARK: Driving the state machine

    /// Performs the machine's actions, then tells the micro-apps if the public state changed.
    func drive(_ actions: [ConnectionStateMachine.Action]) {
        for action in actions {
            switch action {
            case .connect(let refresh):
                link.generation += 1
                let attempt = link.generation
                timer.remove(.retry)
                schedule(.connectAttempt, after: configuration.connectTimeout)
                Task { [weak self] in await self?.openConnection(generation: attempt, refreshedToken: refresh) }
            case .scheduleRetry(let delay):
                timer.remove(.connectAttempt)
                schedule(.retry, after: delay)
            case .resubscribeAll:
                perform(subscriptions.resubscribeAll())
            case .reportTerminal(let code, let reason):
                logger.info("connection closed for good", metadata: ["code": "\(code.map { "\($0)" } ?? "-")", "reason": "\(reason)"])
                stop(with: status.terminalError(code: code, reason: reason))
            case .closeSocket:
                link.drop(reason: "client closed")
            }
        }
        announceState()
    }

    /// The runtime stopped (terminal close or ``close()``): every wait, observer stream and queued
    /// command ends with `error`; channels and their state are forgotten, so nothing stale is
    /// ever shown as current. Mounted apps stay (their event streams tell them), and so do their
    /// callback observers: they report the error and follow their keys again after ``start()``.
    func stop(with error: ClientRuntimeError) {
        status.stoppedError = error
        status.lastError = error.description
        for entry in commands.dropQueue() { resolve(entry.ticket, .failure(error)) }
        _ = commands.connectionLost()
        for ticket in waiters.tickets { resolve(ticket, .failure(error)) }
        subscriptions.removeAll()
        store.forgetChannels()
        for id in observers.ids { removeObserver(id, error: error) }
        timer.removeAll()
    }

    func announceState() {
        let now = connectionState
        guard now != status.announcedState else { return }
        status.announcedState = now
        registry.broadcast(.connectionChanged(now))
    }

    // MARK: One connection attempt

    private func openConnection(generation attempt: Int, refreshedToken: Bool) async {
        do {
            let token = try await tokenProvider()
            guard attempt == link.generation, case .connecting = machine.state else { return }
            let opened = try await transport.connect(to: url)
            guard attempt == link.generation, case .connecting = machine.state else {
                opened.close(code: .normal, reason: "superseded")
                return
            }
            link.socket = opened
            link.lastHeard = timer.now
            link.reader = Task { [weak self] in
                for await event in opened.events {
                    guard let self else { return }
                    await self.received(event, generation: attempt)
                }
            }
            let frame = commands.transmit(.connect(token: token, name: configuration.clientName),
                                          CommandChannel.Entry(ticket: makeID(), purpose: .connect))
            opened.send(frame)
            logger.debug("connect sent", metadata: ["token_refreshed": "\(refreshedToken)"])
        } catch {
            guard attempt == link.generation else { return }
            attemptFailed(error)
        }
    }

    private func attemptFailed(_ error: any Error) {
        let permanent = (error as? ClientTransportError)?.isPermanent == true
        let reason = permanent ? "invalid URL: \(error)" : "\(error)"
        if permanent { status.permanentFailure = ClientRuntimeError(.invalidURL, reason) }
        status.lastError = reason
        logger.debug("connect attempt failed", metadata: ["error": "\(error)"])
        link.drop(reason: "connect failed")
        drive(machine.connectFailed(reason: reason, permanent: permanent, now: timer.now))
    }

    private func connectAnswered(_ result: Result<JSONValue, ReplyError>) {
        timer.remove(.connectAttempt)
        switch result {
        case .success(let json):
            guard let connected = ConnectResult(json) else {
                return attemptFailed(ClientRuntimeError.protocolViolation("connect result without client/version"))
            }
            link.clientID = connected.client
            commands.maxMessageBytes = connected.limits?.maxMessageBytes
            status.lastRefusal = nil
            let interval = connected.pingInterval + connected.pongTimeout
            link.silenceLimit = connected.pingInterval > 0 ? .milliseconds(Int64(interval * 1000)) : nil
            if let silenceLimit = link.silenceLimit { schedule(.watchdog, after: silenceLimit) }
            let actions = machine.connected()
            drive(actions)
            // Channels held before the first connect (observed while idle) subscribe now too.
            if !actions.contains(.resubscribeAll) { perform(subscriptions.resubscribeAll()) }
            let queued = commands.reconnected()
            for frame in queued.frames { link.socket?.send(frame) }
            for (entry, error) in queued.refused { resolve(entry.ticket, .failure(error)) }
            for ticket in waiters.tickets(for: .start) { resolve(ticket, .success(.null)) }
            logger.debug("runtime connected", metadata: ["client": "\(connected.client)"])
        case .failure(let refusal):
            status.lastRefusal = refusal
            status.lastError = "connect refused: \(refusal)"
            // These are followed by the close that decides what happens next (a backend's refusal: 4503).
            if [.unauthorized, .tokenExpired, .banned, .refusedByBackend].contains(refusal.code) { return }
            attemptFailed(ClientRuntimeError.serverRefused(refusal))
        }
    }

    // MARK: Inbound

    private func received(_ event: ClientConnectionEvent, generation eventGeneration: Int) {
        guard eventGeneration == link.generation else { return }
        switch event {
        case .frame(let frame):
            link.lastHeard = timer.now
            for line in FrameCodec.messages(in: frame) {
                do {
                    handle(try ServerMessage.decode(line))
                } catch {
                    logger.info("unreadable server message", metadata: ["error": "\(error)"])
                }
            }
        case .closed(let code, let reason):
            connectionClosed(code: code, reason: reason)
        }
    }

    private func handle(_ message: ServerMessage) {
        switch message {
        case .reply(let id, let result):
            guard let entry = commands.replied(id) else {
                logger.debug("reply for unknown or abandoned command", metadata: ["id": "\(id)"])
                return
            }
            switch entry.purpose {
            case .call:
                resolve(entry.ticket, result.mapError { ClientRuntimeError.serverRefused($0) })
            case .connect:
                connectAnswered(result)
            case .subscribe(let name, _):
                subscribeAnswered(name, ticket: entry.ticket, result)
            case .fireAndForget:
                break
            }
        case .push(.publication(let publication)):
            deliver(publication)
        case .push(.ping):
            fireAndForget(.ping)  // any command proves liveness; the reply is ignored
        case .push(.banned(let ban)):
            logger.info("this user is banned", metadata: ["reason": "\(ban.reason)"])
            status.lastBan = ban
            registry.broadcast(.banned(ban))
        case .push(.disconnect(let code, let reason)):
            logger.debug("server is closing the connection", metadata: ["code": "\(code)", "reason": "\(reason)"])
        case .push(.presence(let change)): presencePushed(change)
        case .push(.unsubscribed(let name, let error)): subscriptionEnded(name, error)
        }
    }

    /// The socket ended (`code` nil: dropped, or silent past the watchdog).
    func connectionClosed(code: CloseCode?, reason: String) {
        guard link.socket != nil else { return }
        link.socket = nil
        status.lastClose = code
        status.lastError = "connection closed (\(code.map { "\($0)" } ?? "no close code")): \(reason)"
        // Routine (the runtime reconnects by itself): debug; a stop for good is logged at info.
        logger.debug("connection closed", metadata: ["code": "\(code.map { "\($0)" } ?? "none")", "reason": "\(reason)"])
        lostConnection()
        drive(machine.closed(code: code, reason: reason, now: timer.now))
    }

    /// What is on the wire is gone: waiting calls fail with `connectionLost`, subscriptions go
    /// offline (they resubscribe from their positions after reconnecting).
    func lostConnection() {
        timer.remove(.watchdog)
        for entry in commands.connectionLost() {
            switch entry.purpose {
            case .call: resolve(entry.ticket, .failure(ClientRuntimeError.connectionLost))
            case .subscribe(let name, _): subscribeAnswered(name, ticket: entry.ticket, nil)
            case .connect, .fireAndForget: break
            }
        }
        subscriptions.connectionLost()
    }

    // MARK: Timers

    /// What a deadline is for.
    enum TimerKey: Hashable, Sendable {
        case retry, connectAttempt, watchdog
        case linger(ChannelName)
        case wait(UInt64)
        case tokenRefresh(ChannelName)
    }

    func schedule(_ key: TimerKey, after delay: Duration) {
        timer.set(key, after: delay)
        armTimer()
    }

    private func armTimer() {
        guard !status.isDisposed else { return }
        timer.arm { [weak self] in await self?.timerFired() }
    }

    private func timerFired() {
        let (now, due) = timer.takeExpired()
        for key in due { fire(key, now: now) }
        armTimer()
    }

    private func fire(_ key: TimerKey, now: Duration) {
        switch key {
        case .retry:
            drive(machine.retryTimerFired(now: now))
        case .connectAttempt:
            guard case .connecting = machine.state else { return }
            attemptFailed(ClientRuntimeError.timeout("the connection attempt", configuration.connectTimeout))
        case .watchdog:
            guard case .connected = machine.state, let silenceLimit = link.silenceLimit else { return }
            let silent = now - link.lastHeard
            guard silent >= silenceLimit else { return schedule(.watchdog, after: silenceLimit - silent) }
            logger.debug("no message from the server within the ping interval; reconnecting", metadata: ["silent": "\(silent)"])
            link.socket?.close(code: .normal, reason: "no ping from the server")
            connectionClosed(code: nil, reason: "no message from the server for \(silent)")
        case .linger(let name):
            perform(subscriptions.lingerEnded(name))
        case .tokenRefresh(let name):
            refreshToken(name)
        case .wait(let ticket):
            guard let role = waiters.role(of: ticket) else { return }
            resolve(ticket, .failure(ClientRuntimeError.timeout(role.what, role.bound(configuration))))
        }
    }
}
