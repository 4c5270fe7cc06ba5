import Foundation
import HybridSyncBroker
import HybridSyncProtocol
import HybridSyncRedis
import HybridSyncServer
import HybridSyncSQLite
import HybridSyncTesting
import Logging
import Testing

/// The engines the semantic suites run against: every broker must pass the same tests.
enum Engine: String, CaseIterable, CustomTestStringConvertible {
    case memory
    case sqlite
    /// A Redis of the test's own (``TestRedis``), released with the broker.
    case redis

    var testDescription: String { rawValue }

    /// A new broker; SQLite on a new file in a temporary directory (or on `path` to reopen one).
    func makeBroker(path: String? = nil) throws -> any Broker {
        switch self {
        case .memory: return MemoryBroker()
        case .sqlite: return try SQLiteBroker(path: path ?? Self.temporaryDatabasePath(), logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        case .redis: return try RedisTestBroker()
        }
    }

    static func temporaryDatabasePath() -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hybridsync-test-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory.appendingPathComponent("hybridsync.db").path
    }
}

/// A Redis broker whose results arrive within each service turn, on a Redis of its own.
final class RedisTestBroker: Broker {
    let redis: TestRedis
    let broker: RedisBroker

    init(redis: TestRedis? = nil) throws {
        self.redis = try redis ?? TestRedis()
        broker = RedisBroker(
            configuration: try RedisBroker.Configuration(address: self.redis.address),
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }), schedule: nil
        )
    }

    func attach(_ listener: any BrokerListener) { broker.attach(listener) }
    func follow(_ channel: ChannelName, after position: StreamPosition) { broker.follow(channel, after: position) }
    func unfollow(_ channel: ChannelName) { broker.unfollow(channel) }
    func announce(_ command: NodeCommand) { broker.announce(command) }
    func publish(_ requests: [PublishRequest], idempotency: IdempotencyRecord?, now: Double,
                 completion: @escaping (Result<[SequencedPublication], BrokerError>) -> Void) {
        broker.publish(requests, idempotency: idempotency, now: now, completion: completion)
    }
    func read(_ channel: ChannelName, _ query: StreamQuery, now: Double, completion: @escaping (Result<StreamRead, BrokerError>) -> Void) {
        broker.read(channel, query, now: now, completion: completion)
    }
    func recall(idempotencyKey: String, body: JSONValue, now: Double, completion: @escaping (Result<IdempotencyMatch, BrokerError>) -> Void) {
        broker.recall(idempotencyKey: idempotencyKey, body: body, now: now, completion: completion)
    }
    func bans(now: Double, completion: @escaping (Result<[String: Ban], BrokerError>) -> Void) { broker.bans(now: now, completion: completion) }
    func ban(of user: String, now: Double, completion: @escaping (Result<Ban?, BrokerError>) -> Void) {
        broker.ban(of: user, now: now, completion: completion)
    }
    func sweep(now: Double, banChannel: ChannelName, policy: (ChannelName) -> StreamPolicy?, inUse: (ChannelName) -> Bool,
               completion: @escaping (Result<[SequencedPublication], BrokerError>) -> Void) {
        broker.sweep(now: now, banChannel: banChannel, policy: policy, inUse: inUse, completion: completion)
    }
    func flush() { broker.flush() }
}

/// A SyncServer behind the in-memory transport, with a manual clock and small helpers.
struct Harness {
    let clock: ManualWallClock
    let secret = "unit-test-secret"
    let server: InMemoryServer
    var tokens: TokenMinter { TokenMinter(secret: secret) }

    init(_ engine: Engine = .memory, _ configure: (inout ServerConfiguration) -> Void = { _ in }) {
        self.init(broker: try! engine.makeBroker(), configure)
    }

    /// A harness on a given broker (a reopened SQLite file, for restarts) and clock.
    init(broker: any Broker, clock: ManualWallClock = ManualWallClock(), _ configure: (inout ServerConfiguration) -> Void = { _ in }) {
        var configuration = ServerConfiguration(apiKey: "k", tokenSecret: "unit-test-secret")
        configure(&configuration)
        self.clock = clock
        server = InMemoryServer(configuration: configuration, broker: broker, clock: clock)
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
            method: method, path: path, authorization: key.map { "Bearer \($0)" }, body: body?.jsonBytes ?? []
        ))
        return (response.status, (try? JSONValue.parse(response.body)) ?? .null)
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
