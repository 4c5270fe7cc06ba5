// docs/TESTING.md's real-daemon Swift blocks, verbatim. They compile (the suites run the same calls).
import HybridSyncClient
import HybridSyncDaemonTesting

func againstARealDaemon() async throws {
let daemon = try await TestDaemon.start()            // hybridsyncd on 127.0.0.1, ephemeral ports
let runtime = daemon.runtime(user: "7")
try await runtime.start()
try await daemon.api.publish(channel: "moderation:bans", data: ["user": "42", "banned": true])
try await daemon.api.ban(user: "42", reason: "spam")
let status = try await daemon.stop()                 // SIGTERM; 0 on a clean exit
_ = status
}

func severalNodes() async throws {
let redis = try TestRedis()                          // redis-server on 127.0.0.1, a free port
let nodeA = try await TestDaemon.start(engine: .redis(address: redis.address))
let nodeB = try await TestDaemon.start(engine: .redis(address: redis.address), nodeOf: nodeA)
try await nodeB.api.publish(channel: "moderation:bans", data: ["user": "42"])  // reaches A's clients
redis.kill()                                         // SIGKILL; acknowledged writes are on disk
try redis.restart(keepingData: false)                // or true: the same data, the same port
}
