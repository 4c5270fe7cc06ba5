import Foundation
import HybridSyncDaemonTesting
import Testing

/// Runs the built `hybridsyncd` until it exits (it must, refusing its configuration).
private func refusedStart(_ arguments: [String], environment: [String: String] = [:]) async throws -> (status: Int32, log: String) {
    let run = try await runBuiltExecutable("hybridsyncd", arguments, environment: environment)
    return (run.status, run.errors)
}

@Suite("Unknown configuration keys are refused (real daemon)")
struct ConfigurationKeyTests {
    private let base = ["--engine-kind", "memory", "--server-port", "0", "--api-port", "0", "--api-key", "k", "--auth-token-secret", "s"]

    @Test("a misspelt flag, environment variable or file key stops the daemon, naming it (and the file's line)")
    func unknownKeys() async throws {
        let flag = try await refusedStart(base + ["--server-prot", "9000"])
        #expect(flag.status != 0)
        #expect(flag.log.contains("unknown configuration keys"))
        #expect(flag.log.contains("flag --server-prot"))

        let wrongType = try await refusedStart(base + ["--limits-max-message-bytes", "lots"])
        #expect(wrongType.status != 0)
        #expect(wrongType.log.contains("limits.maxMessageBytes: expected int"), "a bad value is never replaced by the default")

        let variable = try await refusedStart(base, environment: ["HYBRIDSYNC_LIMITS_MAX_MESAGE_BYTES": "10"])
        #expect(variable.status != 0)
        #expect(variable.log.contains("environment variable HYBRIDSYNC_LIMITS_MAX_MESAGE_BYTES"))

        let file = FileManager.default.temporaryDirectory.appendingPathComponent("hybridsync-\(UUID().uuidString).yaml")
        try "server:\n  port: 0\nnamespaces:\n  chat:\n    histroySize: 5\n".write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let typo = try await refusedStart(base + ["--config", file.path])
        #expect(typo.status != 0)
        #expect(typo.log.contains("\(file.path):5: namespaces.chat.histroySize"), "\(typo.log)")
    }

    @Test("the development secrets are refused on a non-loopback address, and accepted on loopback")
    func developmentSecretsStayLocal() async throws {
        let development = ["--engine-kind", "memory", "--server-port", "0", "--api-port", "0",
                           "--api-key", "dev-api-key", "--auth-token-secret", "s"]
        let exposed = try await refusedStart(development + ["--server-host", "0.0.0.0"])
        #expect(exposed.status != 0)
        #expect(exposed.log.contains("server.host is 0.0.0.0 but api.key or auth.tokenSecret is the public development value"))
        let api = try await refusedStart(["--engine-kind", "memory", "--server-port", "0", "--api-port", "0", "--api-key", "k",
                                          "--auth-token-secret", "dev-token-secret-change-me", "--api-host", "0.0.0.0"])
        #expect(api.log.contains("api.host is 0.0.0.0"))
    }

    @Test("every key of the production example is known: it fails only for what the example leaves to the host (its TLS files)")
    func productionExampleKeysAreKnown() async throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let example = try await refusedStart(["--config", root.appendingPathComponent("Config/production.example.yaml").path,
                                              "--engine-kind", "memory", "--server-port", "0", "--api-port", "0", "--api-host", "127.0.0.1"],
                                             environment: ["HYBRIDSYNC_API_KEY": "k", "HYBRIDSYNC_AUTH_TOKEN_SECRET": "s"])
        #expect(!example.log.contains("unknown configuration keys"), "\(example.log)")
        #expect(example.log.contains("tls.crt"), "it gets as far as loading the certificate: \(example.log)")
    }

    @Test("every key of the shipped development file is known: the daemon starts on it")
    func shippedFileIsClean() async throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try #require(builtExecutable(named: "hybridsyncd")))
        process.arguments = ["--config", root.appendingPathComponent("Config/hybridsyncd.yaml").path,
                             "--engine-kind", "memory", "--server-port", "0", "--api-port", "0"]
        process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("HYBRIDSYNC_") }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let handle = output.fileHandleForReading
        let first = try await withTimeout(.seconds(30), "the ready line") {
            await offThePool { String(decoding: handle.availableData, as: UTF8.self) }
        }
        process.terminate()
        await offThePool { process.waitUntilExit() }
        #expect(first.hasPrefix("hybridsyncd ready"), "\(first)")
    }
}

extension ConfigurationKeyTests {
    @Test("engine.redis.* follows the usual mapping (flags, HYBRIDSYNC_ENGINE_*), and a bad address stops the daemon saying what is expected")
    func redisEngineKeys() async throws {
        let secrets = ["--api-key", "k", "--auth-token-secret", "s"]
        let flags = try await runBuiltExecutable("hybridsyncd", ["--print-config", "--engine-kind", "redis", "--engine-redis-address", "127.0.0.1:6380"] + secrets)
        #expect(flags.status == 0, "\(flags.errors)")
        #expect(flags.output.contains("engine.kind: redis"))
        #expect(flags.output.contains("engine.redis.address: 127.0.0.1:6380"))
        #expect(flags.output.contains("engine.redis.prefix: hybridsync"))

        let environment = try await runBuiltExecutable("hybridsyncd", ["--print-config"] + secrets, environment: [
            "HYBRIDSYNC_ENGINE_KIND": "redis", "HYBRIDSYNC_ENGINE_REDIS_PREFIX": "blue", "HYBRIDSYNC_ENGINE_REDIS_HISTORY_SIZE": "5000",
        ])
        #expect(environment.status == 0, "\(environment.errors)")
        #expect(environment.output.contains("engine.redis.prefix: blue"))
        #expect(environment.output.contains("engine.redis.historySize: 5000"))

        let bad = try await refusedStart(["--engine-kind", "redis", "--engine-redis-address", "redis.internal"] + secrets)
        #expect(bad.status != 0)
        #expect(bad.log.contains("engine.redis.address must be host:port (for example 127.0.0.1:6379), got 'redis.internal'"), "\(bad.log)")
    }
}
