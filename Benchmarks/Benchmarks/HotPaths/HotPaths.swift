import Benchmark
import HybridSyncAdmin
import HybridSyncProtocol
import HybridSyncServerTransport
import HybridSyncServer
import HybridSyncAPI
import HybridSyncHTTP
import HybridSyncWebSocket
import Logging

/// Counts what the server hands to its transport and writes nothing: the server's own cost.
final class CountingTransport: ServerTransport {
    var deliveries = 0
    func send(_ message: OutboundMessage, to connections: some Sequence<ConnectionID>) {
        for _ in connections { deliveries += 1 }
    }
    func close(_ connection: ConnectionID, code: CloseCode, reason: String) {}
}

/// A server on the memory engine with `subscribers` sessions connected and subscribed to `chat:room`.
func serverWithSubscribers(_ subscribers: Int) -> (SyncServer, CountingTransport) {
    let transport = CountingTransport()
    let server = SyncServer(
        configuration: ServerConfiguration(apiKey: "bench", tokenSecret: "bench-secret"), transport: transport,
        logger: .init(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })
    )
    let token = TokenMinter(secret: "bench-secret").token(user: "bench", expiresIn: 86_400)
    for id in 1...subscribers {
        let connection = ConnectionID(UInt64(id))
        server.connectionOpened(connection, info: ConnectionInfo(remoteAddress: "bench"))
        server.received(Array(#"{"id":1,"op":"connect","token":"\#(token)"}"#.utf8), from: connection)
        server.received(Array(#"{"id":2,"op":"subscribe","channel":"chat:room"}"#.utf8), from: connection)
    }
    server.endOfTurn()
    return (server, transport)
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .cpuTotal, .mallocCountTotal, .throughput], maxDuration: .seconds(3))
    let channel = try! ChannelName("chat:room")
    let data = Array(#"{"user":"42","text":"hello, world","at":1767225600}"#.utf8)

    Benchmark("encode a publication push") { benchmark in
        for offset in benchmark.scaledIterations {
            blackHole(ServerMessage.encodePublication(channel: channel, offset: UInt64(offset), data: data, key: nil, removed: false))
        }
    }

    // What one WRITEABLE does for a connection with 16 pending publications: pack them into one
    // text frame and write its header (the socket write itself is not measured).
    let push = ServerMessage.encodePublication(channel: channel, offset: 41, data: data, key: nil, removed: false)
    let packer = FramePacker(capacity: 32 * 1024, headroom: 16)
    Benchmark("pack 16 pending publications into one frame") { benchmark in
        push.withUnsafeBufferPointer { message in
            for _ in benchmark.scaledIterations {
                packer.reset()
                for _ in 0..<16 { _ = packer.append(message.baseAddress!, count: message.count) }
                blackHole(packer.writeHeader())
            }
        }
    }

    let subscribe = Array(#"{"id":7,"op":"subscribe","channel":"chat:room","since":{"epoch":"0123456789abcdef","offset":41}}"#.utf8)
    Benchmark("decode a subscribe command") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(ClientCommand.decode(subscribe)) }
    }

    // A client's connect as the daemon serves it, minus the sockets: the upgrade request parsed and
    // answered, then one frame with connect (HS256 JWT) and subscribe, their replies encoded.
    let token = TokenMinter(secret: "bench-secret").token(user: "bench", expiresIn: 86_400)
    let upgrade = Array((
        "GET / HTTP/1.1\r\nHost: 127.0.0.1:9400\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            + "Sec-WebSocket-Protocol: hybridsync.v1\r\n\r\n"
    ).utf8)
    let commands = Array(#"{"id":1,"op":"connect","token":"\#(token)"}\#n{"id":2,"op":"subscribe","channel":"chat:room"}"#.utf8)
    Benchmark("a client connect: upgrade, connect + subscribe, replies (memory engine, no sockets)") { benchmark, state in
        let (server, transport) = state
        for iteration in benchmark.scaledIterations {
            var parser = HTTPRequestParser(limits: .init())
            parser.append(upgrade)
            guard case .complete(let head) = try parser.next() else { fatalError("the upgrade request did not parse") }
            blackHole(try WebSocketHandshake.accept(head, subprotocol: "hybridsync.v1"))
            let connection = ConnectionID(UInt64(1_000_000 + iteration))
            server.connectionOpened(connection, info: ConnectionInfo(remoteAddress: "127.0.0.1"))
            server.received(commands, from: connection)
            server.endOfTurn()
            server.connectionClosed(connection)
        }
        blackHole(transport.deliveries)
    } setup: {
        serverWithSubscribers(1)
    }

    Benchmark("API publish fanned out to 1,000 subscribers (memory engine, no sockets)") { benchmark, state in
        let (server, transport) = state
        let request = HTTPRequest(
            method: "POST", path: "/api/publish", headers: [("authorization", "Bearer bench")],
            body: Array(#"{"channel":"chat:room","data":{"user":"42","text":"hello"}}"#.utf8)
        )
        let router = BackendAPIRouter(server: server, logger: Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() }))
        for _ in benchmark.scaledIterations {
            router.handle(request) { blackHole($0) }
        }
        blackHole(transport.deliveries)
    } setup: {
        serverWithSubscribers(1000)
    }
}
