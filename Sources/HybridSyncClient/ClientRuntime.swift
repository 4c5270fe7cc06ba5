public import HybridSyncProtocol
import HybridSyncLWS
public import Logging

/// The shared runtime of one client context: it owns the ONE WebSocket connection that every
/// micro-app mounted into it shares.
///
/// ```swift
/// let runtime = ClientRuntime(url: "ws://127.0.0.1:8080/", token: { try await fetchToken() })
/// try await runtime.start()
/// let chat = await runtime.mount("chat")
/// for try await ban in try await chat.observe("moderation:bans") { hide(ban.data) }
/// ```
public actor ClientRuntime {
    /// Publications of one channel, as a micro-app sees them.
    public typealias PublicationStream = AsyncThrowingStream<Publication, any Error>

    private let url: String
    private let tokenProvider: @Sendable () async throws -> String
    private let transport: any ClientTransport
    private let clientName: String?
    let logger: Logger

    private var connection: (any ClientConnection)?
    private var readerTask: Task<Void, Never>?
    private var nextCommandID: UInt32 = 1
    private var pendingReplies: [UInt32: PendingReply] = [:]
    private(set) var state: ConnectionState = .idle
    private var stateObservers: [UInt64: AsyncStream<ConnectionState>.Continuation] = [:]

    var channels: [ChannelName: ChannelSubscription] = [:]
    var apps: [UInt64: Set<ObserverKey>] = [:]
    private var nextID: UInt64 = 1

    /// Commands of each kind sent on the wire, for tests and diagnostics.
    public private(set) var sentCommandCounts: [String: Int] = [:]

    /// Creates a runtime over any transport (tests use an in-memory one).
    public init(
        url: String, clientName: String? = nil, transport: any ClientTransport,
        logger: Logger = Logger(label: "hybridsync.client"), token: @escaping @Sendable () async throws -> String
    ) {
        self.url = url
        self.clientName = clientName
        self.transport = transport
        self.logger = logger
        self.tokenProvider = token
    }

    /// Creates a runtime on libwebsockets (the process's one lws client context).
    public init(
        url: String, clientName: String? = nil, allowSelfSignedCertificates: Bool = false,
        logger: Logger = Logger(label: "hybridsync.client"), token: @escaping @Sendable () async throws -> String
    ) {
        let transport = LWSConnector(allowSelfSignedCertificates: allowSelfSignedCertificates)
        self.init(url: url, clientName: clientName, transport: transport, logger: logger, token: token)
    }

    // MARK: Lifecycle

    /// Opens the connection and authenticates. Throws if either fails.
    public func start() async throws {
        setState(.connecting)
        let connection: any ClientConnection
        do {
            connection = try await transport.connect(to: url)
        } catch {
            setState(.disconnected(code: nil, reason: "\(error)"))
            throw error
        }
        self.connection = connection
        readerTask = Task { [weak self] in
            for await event in connection.events {
                guard let self else { return }
                await self.handle(event)
            }
        }
        let token = try await tokenProvider()
        let result = try await request(.connect(token: token, name: clientName))
        guard let connected = ConnectResult(result) else {
            throw ClientRuntimeError.protocolViolation("connect result without client/version")
        }
        setState(.connected(client: connected.client))
        logger.debug("runtime connected", metadata: ["client": "\(connected.client)"])
    }

    /// Closes the connection and ends every observation. The runtime cannot be started again.
    public func close() {
        connection?.close(code: .normal, reason: "client closed")
        connection = nil
        for key in channels.keys { finishChannel(key, error: nil) }
        apps.removeAll()
        setState(.closed)
        for observer in stateObservers.values { observer.finish() }
        stateObservers.removeAll()
    }

    /// Mounts a micro-app: a scope that owns its observations until ``MicroApp/unmount()``.
    public func mount(_ name: String) -> MicroApp {
        let id = makeID()
        apps[id] = []
        logger.debug("mounted", metadata: ["app": "\(name)"])
        return MicroApp(name: name, id: id, runtime: self)
    }

    /// The connection state now, then every change.
    public func connectionStates() -> AsyncStream<ConnectionState> {
        let (stream, continuation) = AsyncStream.makeStream(of: ConnectionState.self, bufferingPolicy: .bufferingNewest(16))
        continuation.yield(state)
        let id = makeID()
        stateObservers[id] = continuation
        continuation.onTermination = { [weak self] _ in Task { await self?.removeStateObserver(id) } }
        return stream
    }

    /// Mounted micro-apps and live observations, for leak checks.
    public var counts: (apps: Int, observers: Int, channels: Int) {
        (apps.count, channels.values.reduce(0) { $0 + $1.observers.count }, channels.count)
    }

    // MARK: Internals

    func makeID() -> UInt64 {
        defer { nextID += 1 }
        return nextID
    }

    private func removeStateObserver(_ id: UInt64) { stateObservers[id] = nil }

    private func setState(_ new: ConnectionState) {
        state = new
        for observer in stateObservers.values { observer.yield(new) }
    }

    /// Sends a command now (so commands reach the wire in call order); the reply arrives later.
    func send(_ operation: ClientCommand.Operation) -> PendingReply {
        let pending = PendingReply()
        guard let connection else {
            pending.complete(.failure(ClientRuntimeError.notConnected))
            return pending
        }
        let id = nextCommandID
        nextCommandID = nextCommandID == UInt32.max ? 1 : nextCommandID + 1
        sentCommandCounts[operation.name, default: 0] += 1
        pendingReplies[id] = pending
        connection.send(ClientCommand(id: id, operation).encoded())
        return pending
    }

    /// Waits for the reply of a command sent with ``send(_:)``.
    func reply(_ pending: PendingReply) async throws -> JSONValue {
        if let result = pending.result { return try result.get() }
        return try await withCheckedThrowingContinuation { pending.waiters.append($0) }
    }

    /// Sends a command and waits for its reply.
    func request(_ operation: ClientCommand.Operation) async throws -> JSONValue {
        try await reply(send(operation))
    }

    private func handle(_ event: ClientConnectionEvent) {
        switch event {
        case .frame(let frame):
            for line in FrameCodec.messages(in: frame) {
                do {
                    handle(try ServerMessage.decode(line))
                } catch {
                    logger.warning("unreadable server message", metadata: ["error": "\(error)"])
                }
            }
        case .closed(let code, let reason):
            connectionClosed(code: code, reason: reason)
        }
    }

    private func handle(_ message: ServerMessage) {
        switch message {
        case .reply(let id, let result):
            guard let pending = pendingReplies.removeValue(forKey: id) else {
                logger.debug("reply for unknown command", metadata: ["id": "\(id)"])
                return
            }
            pending.complete(result.mapError { ClientRuntimeError.server($0) })
        case .push(.publication(let publication)):
            deliver(publication)
        case .push(.ping):
            _ = send(.ping)  // any command proves liveness; the reply is ignored
        case .push(.banned(let ban)):
            logger.notice("this user is banned", metadata: ["reason": "\(ban.reason)"])
        case .push(.disconnect(let code, let reason)):
            logger.info("server is closing the connection", metadata: ["code": "\(code)", "reason": "\(reason)"])
        }
    }

    private func connectionClosed(code: CloseCode?, reason: String) {
        guard connection != nil else { return }
        connection = nil
        logger.info("connection closed", metadata: ["code": "\(code.map { "\($0)" } ?? "none")", "reason": "\(reason)"])
        let failure = ClientRuntimeError.connectionClosed(code, reason)
        for pending in pendingReplies.values { pending.complete(.failure(failure)) }
        pendingReplies.removeAll()
        // Observations stay open across a "reconnect" close; a terminal close ends them with the reason.
        if let code, !code.shouldReconnect {
            for key in channels.keys { finishChannel(key, error: failure) }
        }
        for subscription in channels.values { subscription.isActive = false }
        setState(.disconnected(code: code, reason: reason))
    }
}

/// A command's reply that may arrive before or after someone waits for it. Actor-confined.
final class PendingReply {
    private(set) var result: Result<JSONValue, any Error>?
    var waiters: [CheckedContinuation<JSONValue, any Error>] = []

    func complete(_ result: Result<JSONValue, any Error>) {
        guard self.result == nil else { return }
        self.result = result
        for waiter in waiters { waiter.resume(with: result) }
        waiters.removeAll()
    }
}
