import Foundation
import HybridSyncHTTP
import HybridSyncBroker
import HybridSyncProtocol
import HybridSyncRedis
import HybridSyncServer
import HybridSyncSQLite
import HybridSyncDaemonTesting
import Logging
import Testing

/// The engines the semantic suites run against: every broker must pass the same tests.
enum Engine: String, CaseIterable, CustomTestStringConvertible {
    case memory
    case sqlite
    /// A Redis of the test's own (``TestRedis``), whose results arrive within each service turn.
    case redis

    var testDescription: String { rawValue }

    /// A new broker; SQLite on a new file in a temporary directory (or on `path` to reopen one);
    /// Redis under a key prefix of its own on ``sharedRedis``.
    func makeBroker(path: String? = nil) throws -> any Broker {
        let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        switch self {
        case .memory: return MemoryBroker()
        case .sqlite: return try SQLiteBroker(path: path ?? Self.temporaryDatabasePath(), logger: quiet)
        case .redis:
            let configuration = try RedisBroker.Configuration(address: try Self.sharedRedis.get().address, prefix: "test-\(UUID().uuidString)")
            return RedisBroker(configuration: configuration, logger: quiet, schedule: nil)
        }
    }

    /// One Redis for every `.redis` test of the process, started by the first. A Redis each used to
    /// start together with the test run, and each start blocks a thread of the cooperative pool
    /// (which has one per core) while it waits for the server: on a loaded 2-core machine that
    /// stalled every test in the process for 10 s and more. No test kills this one, so it keeps
    /// nothing on disk; it goes when the process ends.
    private static let sharedRedis = Result { try TestRedis(durable: false) }

    /// Nodes of one cluster: `count` Redis brokers under one new prefix, with a presence lease of `lease` seconds.
    static func redisNodes(_ count: Int, lease: Double) throws -> [RedisBroker] {
        let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        let configuration = try RedisBroker.Configuration(
            address: try sharedRedis.get().address, prefix: "test-\(UUID().uuidString)", presenceLeaseSeconds: lease
        )
        return (0..<count).map { _ in RedisBroker(configuration: configuration, logger: quiet, schedule: nil) }
    }

    static func temporaryDatabasePath() -> String {
        try! makeTemporaryDirectory("hybridsync-test").appendingPathComponent("hybridsync.db").path
    }
}

/// A SyncServer behind the in-memory transport, with a manual clock and small helpers.
struct Harness {
    let clock: ManualServerClock
    let secret = "unit-test-secret"
    let server: InMemoryServer
    var tokens: TokenMinter { TokenMinter(secret: secret) }
    init(_ engine: Engine = .memory, maxQueuedBytes: Int = 1024 * 1024, _ configure: (inout ServerConfiguration) -> Void = { _ in }) {
        self.init(broker: try! engine.makeBroker(), maxQueuedBytes: maxQueuedBytes, configure)
    }

    /// A harness on a given broker (a reopened SQLite file, for restarts) and clock.
    init(
        broker: any Broker, hooks: (any BackendHooks)? = nil, webhooks: (any WebhookSink)? = nil, clock: ManualServerClock = ManualServerClock(), maxQueuedBytes: Int = 1024 * 1024,
        _ configure: (inout ServerConfiguration) -> Void = { _ in }
    ) {
        var configuration = ServerConfiguration(apiKey: "k", tokenSecret: "unit-test-secret")
        configure(&configuration)
        self.clock = clock
        server = InMemoryServer(configuration: configuration, broker: broker, hooks: hooks, webhooks: webhooks, clock: clock, maxQueuedBytes: maxQueuedBytes)
    }

    func token(_ user: String, expiresIn: Double? = 3600, claims: [String: JSONValue] = [:]) -> String {
        tokens.token(user: user, expiresIn: expiresIn, now: clock.now(), extraClaims: claims)
    }

    /// Opens a connection and authenticates it; fails the test if the server refuses.
    func connected(_ user: String = "7", claims: [String: JSONValue] = [:]) throws -> InMemoryConnection {
        let connection = server.openConnection()
        connection.send(#"{"id":1,"op":"connect","token":"\#(token(user, claims: claims))"}"#)
        let reply = connection.takeMessages()
        guard case .reply(1, .success(let result))? = reply.first, ConnectResult(result) != nil else {
            throw TestFailure("connect failed: \(reply)")
        }
        return connection
    }

    /// Sends one command and returns the reply to it plus any pushes that came with it.
    func command(_ connection: InMemoryConnection, _ json: String) -> [ServerMessage] {
        connection.send(json)
        return connection.takeMessages()
    }

    /// Subscribes and returns the result (and follow-up pushes, e.g. recovered publications).
    func subscribe(_ connection: InMemoryConnection, _ channel: String, id: UInt32 = 2, since: StreamPosition? = nil)
        throws -> (SubscribeResult, [Publication])
    {
        var command: [String: JSONValue] = ["id": .int(Int64(id)), "op": "subscribe", "channel": .string(channel)]
        if let since { command["since"] = since.json }
        let messages = self.command(connection, JSONValue.object(command).jsonString)
        guard case .reply(id, .success(let result))? = messages.first, let subscribed = SubscribeResult(result) else {
            throw TestFailure("subscribe to \(channel) failed: \(messages)")
        }
        return (subscribed, messages.dropFirst().compactMap(\.publication))
    }

    /// Calls the backend API; returns status and parsed body.
    @discardableResult
    func api(_ method: String, _ path: String, _ body: JSONValue? = nil, key: String? = "k") -> (status: Int, body: JSONValue) {
        let response = server.handle(HTTPRequest(
            method: method, path: path, headers: key.map { [("authorization", "Bearer \($0)")] } ?? [], body: body?.jsonBytes ?? []
        ))
        return (response.status, (try? JSONValue.parse(response.body)) ?? .null)
    }

    /// Moves the clock `seconds` on in steps of 10 s, `client` answering pings and the server
    /// ticking after each step (a live subscriber, as time passes); returns what `client` got.
    func pass(_ seconds: Int, answering client: InMemoryConnection) -> [ServerMessage] {
        var received: [ServerMessage] = []
        for _ in 0..<(seconds / 10) {
            clock.advance(by: 10)
            received += command(client, #"{"id":9,"op":"ping"}"#)
            server.tick()
        }
        return received
    }

    func publish(_ channel: String, _ data: JSONValue, key: String? = nil) -> JSONValue {
        var body: [String: JSONValue] = ["channel": .string(channel), "data": data]
        if let key { body["key"] = .string(key) }
        return api("POST", "/api/publish", .object(body)).body
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

extension ServerMessage {
    var publication: Publication? {
        if case .push(.publication(let publication)) = self { return publication }
        return nil
    }

    var errorCode: ErrorCode? {
        if case .reply(_, .failure(let error)) = self { return error.code }
        return nil
    }
}

extension [ServerMessage] {
    func errorCode(id: UInt32) -> ErrorCode? {
        for case .reply(let replyID, .failure(let error)) in self where replyID == id { return error.code }
        return nil
    }

    var disconnectReason: String? {
        for case .push(.disconnect(_, let reason)) in self { return reason }
        return nil
    }
}
