import HybridSyncClient

// Drives Autobahn|Testsuite's fuzzingserver through the SDK's WebSocketTransport, for the client
// conformance run of `make check-long` (scripts/autobahn_client.sh):
//
//     hybridsync-autobahn-client ws://127.0.0.1:9001 AGENT
//
// It reads the number of cases, runs each one as an echo client (every text message is sent
// back; the transport is text-only, so binary cases are left out by the script), then asks the
// server to write its reports.
let arguments = CommandLine.arguments
guard arguments.count == 3 else { fatalError("usage: hybridsync-autobahn-client WS_BASE_URL AGENT") }
var configuration = WebSocketTransport.Configuration()
configuration.subprotocol = nil  // the fuzzingserver speaks no subprotocol
configuration.maxFrameBytes = 64 * 1024 * 1024
let transport = WebSocketTransport(configuration: configuration)
let base = arguments[1].hasSuffix("/") ? String(arguments[1].dropLast()) : arguments[1]
let agent = arguments[2]

/// Opens `path`, echoes every text message until the server closes; returns the messages.
func session(_ path: String, echo: Bool) async -> [[UInt8]] {
    guard let connection = try? await transport.connect(to: base + path) else { return [] }
    var received: [[UInt8]] = []
    for await event in connection.events {
        guard case .frame(let message) = event else { break }
        received.append(message)
        if echo { connection.send(message) }
    }
    return received
}

let count = Int(String(decoding: await session("/getCaseCount", echo: false).first ?? [], as: UTF8.self)) ?? 0
for number in 1...max(count, 1) where count > 0 {
    _ = await session("/runCase?case=\(number)&agent=\(agent)", echo: true)
    if number % 50 == 0 { print("autobahn client: \(number)/\(count) cases") }
}
_ = await session("/updateReports?agent=\(agent)", echo: false)
print("autobahn client: ran \(count) cases")
