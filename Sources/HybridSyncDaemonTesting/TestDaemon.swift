@_exported public import HybridSyncTesting
public import Foundation
public import HybridSyncClient
public import HybridSyncProtocol
import HybridSyncCrypto
import Synchronization

/// Starts a real `hybridsyncd` on 127.0.0.1 with ephemeral ports, for integration tests of your
/// own micro-apps and backends.
///
/// ```swift
/// let daemon = try await TestDaemon.start()
/// let runtime = ClientRuntime(url: daemon.webSocketURL) { daemon.tokens.token(user: "7") }
/// try await daemon.api.publish(channel: "moderation:bans", data: ["user": "42"])
/// _ = try await daemon.stop()
/// ```
///
/// The binary is `HYBRIDSYNCD_PATH`, else `hybridsyncd` next to the running test executable
/// (SwiftPM's build folder), else `hybridsyncd` on `PATH`.
public final class TestDaemon: TestServer, Sendable {
    /// The public WebSocket URL, for example `ws://127.0.0.1:40123/`.
    public let webSocketURL: String
    /// The backend API base URL, for example `http://127.0.0.1:40124`.
    public let apiURL: String
    /// A client for the backend API, holding this daemon's API key.
    public let api: BackendAPIClient
    /// Mints client tokens this daemon accepts.
    public let tokens: TokenMinter
    /// The daemon's log (stderr), in a temporary directory (``makeTemporaryDirectory(_:)``) with its
    /// configuration and database: removed when the test process exits, unless
    /// `KEEP_HYBRIDSYNC_TEST_FILES=1` is set.
    public let logFile: URL
    private let process: Process
    private let exitStatus: ExitStatus
    private let launch: Launch

    /// What is needed to start the same daemon again.
    private struct Launch: Sendable {
        let configFile: URL
        let arguments: [String]
        let apiKey: String
        let secret: String
        let openFileLimit: Int?
    }
    private let exited: AsyncStream<Int32>

    /// Where the daemon keeps its streams.
    public enum Engine: Sendable {
        /// In memory: a restart forgets everything.
        case memory
        /// The durable default: a SQLite file in the daemon's temporary directory, kept by
        /// ``restart(timeout:)``. `synchronous` is `normal` or `full` (docs/CONFIGURATION.md).
        case sqlite(synchronous: String = "normal")
        /// Shared with other nodes: the Redis at `address` (a ``TestRedis``'s), keys under `prefix`.
        case redis(address: String, prefix: String = "hybridsync")
    }

    /// Why the daemon could not be started or stopped.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        /// What went wrong, for the test's failure message.
        public let description: String
    }

    private init(process: Process, ws: String, api: String, launch: Launch, logFile: URL,
                 exitStatus: ExitStatus, exited: AsyncStream<Int32>) {
        let apiKey = launch.apiKey
        let secret = launch.secret
        self.launch = launch
        self.process = process
        self.webSocketURL = ws
        self.apiURL = api
        self.api = BackendAPIClient(baseURL: api, apiKey: apiKey)
        self.tokens = TokenMinter(secret: secret)
        self.logFile = logFile
        self.exitStatus = exitStatus
        self.exited = exited
    }

    deinit {
        if process.isRunning { process.terminate() }
    }

    /// The SDK's WebSocket transport (SwiftNIO), as an app connects.
    public var clientTransport: any ClientTransport { WebSocketTransport() }

    /// The daemon reads the system clock.
    public func now() -> Double { Date().timeIntervalSince1970 }

    /// Waits `seconds` of real time (the daemon runs its timed work by itself).
    public func passTime(_ seconds: Double) async throws {
        try await Task.sleep(for: .seconds(seconds))
    }

    /// Changes the daemon's configuration file (a new `log.level`, and `extraYAML` appended: top-level
    /// keys the generated file does not have, such as `namespaces` or `limits`), sends SIGHUP and
    /// waits until the daemon logged the outcome. Returns that log line.
    @discardableResult
    public func reload(logLevel: String? = nil, extraYAML: String = "", timeout: Duration = .seconds(10)) async throws -> String {
        var text = try String(contentsOf: launch.configFile, encoding: .utf8)
        if let logLevel {
            text = text.split(separator: "\n", omittingEmptySubsequences: false)
                .map { $0.hasPrefix("log:") ? "log: {level: \(logLevel)}" : String($0) }.joined(separator: "\n")
        }
        try (text + "\n" + extraYAML).write(to: launch.configFile, atomically: true, encoding: .utf8)
        let read: @Sendable () -> [String] = { [logFile] in
            ((try? String(contentsOf: logFile, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init).filter { $0.contains("SIGHUP: ") }
        }
        let before = read().count
        Foundation.kill(process.processIdentifier, SIGHUP)
        try await eventually(timeout, "the daemon's reload") { read().count > before }
        return read()[before]
    }

    /// Stops the daemon's process (SIGSTOP) without closing its sockets: every connection turns
    /// half-open (nothing arrives, nothing is refused) until ``resumeProcess()``.
    public func pauseProcess() { Foundation.kill(process.processIdentifier, SIGSTOP) }

    /// Continues a daemon stopped by ``pauseProcess()``.
    public func resumeProcess() { Foundation.kill(process.processIdentifier, SIGCONT) }

    /// Starts the daemon and waits (up to `timeout`) until it listens. `arguments` are extra
    /// configuration flags such as `["--limits-max-message-bytes", "4096"]`.
    /// `openFileLimit` runs it under that RLIMIT_NOFILE (soft and hard), to test fd exhaustion.
    /// With `nodeOf`, it uses that daemon's API key and token secret: another node of the same
    /// cluster (give both the same ``Engine/redis(address:prefix:)``).
    public static func start(
        arguments: [String] = [], engine: Engine = .sqlite(), logLevel: String = "info", openFileLimit: Int? = nil,
        nodeOf other: TestDaemon? = nil, timeout: Duration = .seconds(30)
    ) async throws -> TestDaemon {
        let directory = try makeTemporaryDirectory("hybridsyncd")
        let apiKey = other?.launch.apiKey ?? Base64URL.encode(CryptoPrimitives.randomBytes(18))
        let secret = other?.launch.secret ?? Base64URL.encode(CryptoPrimitives.randomBytes(32))
        let configFile = directory.appendingPathComponent("hybridsyncd.yaml")
        try """
            server: {host: 127.0.0.1, port: 0}
            api: {host: 127.0.0.1, port: 0, key: "\(apiKey)"}
            auth: {tokenSecret: "\(secret)"}
            shutdown: {graceSeconds: 3}
            log: {level: \(logLevel)}
            \(engine.yaml(directory: directory))
            """.write(to: configFile, atomically: true, encoding: .utf8)
        let launch = Launch(configFile: configFile, arguments: arguments, apiKey: apiKey, secret: secret, openFileLimit: openFileLimit)
        return try await run(launch, timeout: timeout)
    }

    /// Stops this daemon (SIGTERM; after ``kill()`` it is already gone) and starts a new one on the
    /// same ports, API key, token secret and engine data, as a deploy or a crash-restart would. With
    /// the memory engine its streams start over (new epochs); with SQLite they are kept.
    public func restart(timeout: Duration = .seconds(30)) async throws -> TestDaemon {
        try await stop()
        let ports = ["--server-port", String(webSocketPort), "--api-port", String(apiPort)]
        let again = Launch(configFile: launch.configFile, arguments: launch.arguments + ports, apiKey: launch.apiKey,
                           secret: launch.secret, openFileLimit: launch.openFileLimit)
        return try await Self.run(again, timeout: timeout)
    }

    private static func run(_ launch: Launch, timeout: Duration) async throws -> TestDaemon {
        let binary = try locateBinary()
        let logFile = launch.configFile.deletingLastPathComponent()
            .appendingPathComponent("hybridsyncd-\(UUID().uuidString.prefix(8)).log")
        _ = FileManager.default.createFile(atPath: logFile.path, contents: nil)

        let process = Process()
        let daemonArguments = ["--config", launch.configFile.path] + launch.arguments
        if let limit = launch.openFileLimit {
            // The shell sets the limit and execs the daemon: same process id, lower limit.
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", "ulimit -n \(limit) && exec \"$0\" \"$@\"", binary] + daemonArguments
        } else {
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = daemonArguments
        }
        var environment = ProcessInfo.processInfo.environment
        for key in environment.keys where key.hasPrefix("HYBRIDSYNC_") { environment[key] = nil }
        process.environment = environment
        let stdout = Pipe()
        process.standardOutput = stdout
        process.standardError = try FileHandle(forWritingTo: logFile)
        let exitStatus = ExitStatus()
        let (exited, exitContinuation) = AsyncStream.makeStream(of: Int32.self, bufferingPolicy: .bufferingNewest(1))
        process.terminationHandler = { finished in
            exitStatus.value.withLock { $0 = finished.terminationStatus }
            exitContinuation.yield(finished.terminationStatus)
            exitContinuation.finish()
        }
        try process.run()

        let reader = stdout.fileHandleForReading
        // The read blocks: it runs on a thread of its own, never on the shared cooperative pool (a few
        // daemons starting at once would otherwise starve every other task of the test process).
        let ready = try? await withTimeout(timeout, "hybridsyncd ready line") {
            await offThePool { readReadyLine(reader).map { [$0.0, $0.1] } }
        }
        guard let ready = ready ?? nil else {
            process.terminate()
            let log = (try? String(contentsOf: logFile, encoding: .utf8)) ?? ""
            throw Failure(description: "hybridsyncd did not become ready within \(timeout); log:\n\(log.suffix(4000))")
        }
        return TestDaemon(process: process, ws: ready[0], api: ready[1], launch: launch, logFile: logFile,
                          exitStatus: exitStatus, exited: exited)
    }

    /// Sends SIGTERM and waits (up to `timeout`) for the exit status.
    @discardableResult
    public func stop(timeout: Duration = .seconds(15)) async throws -> Int32 {
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGTERM) }
        return try await waitForExit(timeout: timeout)
    }

    /// Kills the daemon at once (SIGKILL), as a crash would.
    public func kill() {
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
    }

    /// The port of ``webSocketURL`` (for raw-socket probes).
    public var webSocketPort: Int { URL(string: webSocketURL)?.port ?? 0 }

    /// The port of ``apiURL``.
    public var apiPort: Int { URL(string: apiURL)?.port ?? 0 }

    /// The daemon's process id.
    public var processIdentifier: Int32 { process.processIdentifier }

    /// Waits for the process to exit and returns its status.
    public func waitForExit(timeout: Duration) async throws -> Int32 {
        if let status = exitStatus.value.withLock({ $0 }) { return status }
        let exited = self.exited
        let status = try? await withTimeout(timeout, "hybridsyncd exit") { await exited.first { _ in true } }
        guard let status = status ?? nil ?? exitStatus.value.withLock({ $0 }) else {
            throw Failure(description: "hybridsyncd did not exit within \(timeout)")
        }
        return status
    }

    private static func readReadyLine(_ handle: FileHandle) -> (String, String)? {
        var buffer = Data()
        while true {
            let chunk = handle.availableData
            if chunk.isEmpty { return nil }  // EOF: the daemon exited
            buffer.append(chunk)
            let text = String(decoding: buffer, as: UTF8.self)
            for line in text.split(separator: "\n") where line.hasPrefix("hybridsyncd ready ") {
                var ws: String?
                var api: String?
                for field in line.split(separator: " ") {
                    if field.hasPrefix("ws=") { ws = String(field.dropFirst(3)) }
                    if field.hasPrefix("api=") { api = String(field.dropFirst(4)) }
                }
                if let ws, let api { return (ws, api) }
            }
        }
    }

    private static func locateBinary() throws -> String {
        let fileManager = FileManager.default
        if let path = ProcessInfo.processInfo.environment["HYBRIDSYNCD_PATH"], fileManager.isExecutableFile(atPath: path) {
            return path
        }
        if let built = builtExecutable(named: "hybridsyncd") ?? executableOnPath("hybridsyncd") { return built }
        throw Failure(description: "hybridsyncd not found: build it (swift build --product hybridsyncd) or set HYBRIDSYNCD_PATH")
    }
}

extension TestDaemon.Engine {
    /// The `engine:` section of the daemon's configuration file.
    func yaml(directory: URL) -> String {
        switch self {
        case .memory:
            "engine: {kind: memory}"
        case .sqlite(let synchronous):
            "engine: {kind: sqlite, sqlite: {path: \"\(directory.appendingPathComponent("hybridsync.db").path)\", synchronous: \(synchronous)}}"
        case .redis(let address, let prefix):
            "engine: {kind: redis, redis: {address: \"\(address)\", prefix: \"\(prefix)\"}}"
        }
    }
}

/// The exit status, written by the process's termination handler.
private final class ExitStatus: Sendable {
    let value = Mutex<Int32?>(nil)
}
