import Foundation

/// Runs a blocking call (a pipe read, a process wait) on a thread of its own: blocking one of the
/// few shared cooperative threads would stall every other task of the test process.
public func offThePool<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        Thread.detachNewThread { continuation.resume(returning: body()) }
    }
}

/// An executable of this package as SwiftPM built it, next to the running test executable (a few
/// levels up for nested test bundles); nil when it is not there.
public func builtExecutable(named name: String) -> String? {
    var directory = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
    for _ in 0..<4 {
        let candidate = directory.appendingPathComponent(name).path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        directory = directory.deletingLastPathComponent()
    }
    return nil
}

/// `name` in a directory of `PATH`, if it is there.
func executableOnPath(_ name: String) -> String? {
    (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":")
        .map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
}

/// The executable was not built (run `swift build` first).
public struct MissingExecutable: Error, Sendable, CustomStringConvertible {
    /// The executable's name.
    public let name: String
    /// What to do.
    public var description: String { "no \(name) built next to the test executable: run swift build first" }
}

/// What one run of an executable printed and returned.
public struct ExecutableRun: Sendable {
    /// The exit status.
    public let status: Int32
    /// Its standard output, as bytes (a signature, say).
    public let outputBytes: [UInt8]
    /// Its standard error.
    public let errors: String
    /// Its standard output, as text.
    public var output: String { String(decoding: outputBytes, as: UTF8.self) }
}

/// Runs the built executable `name` with `arguments` until it exits (at most `timeout`), without
/// this process's `HYBRIDSYNC_*` variables and with `environment` added.
public func runBuiltExecutable(
    _ name: String, _ arguments: [String], environment extra: [String: String] = [:], timeout: Duration = .seconds(30)
) async throws -> ExecutableRun {
    guard let binary = builtExecutable(named: name) else {
        throw MissingExecutable(name: name)
    }
    let environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("HYBRIDSYNC_") }.merging(extra) { $1 }
    return try await runProcess(binary, arguments, environment: environment, timeout: timeout)
}

/// Runs `command` (a path, or a name looked up on `PATH`, such as `openssl`) with `arguments` until
/// it exits (at most `timeout`, then it is stopped), reading what it prints off the cooperative
/// pool: a test may wait on a slow tool without stalling the other tests of the process.
public func runProcess(
    _ command: String, _ arguments: [String], environment: [String: String]? = nil, timeout: Duration = .seconds(30)
) async throws -> ExecutableRun {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: command.contains("/") ? command : "/usr/bin/env")
    process.arguments = command.contains("/") ? arguments : [command] + arguments
    if let environment { process.environment = environment }
    let (output, errors) = (Pipe(), Pipe())
    process.standardOutput = output
    process.standardError = errors
    try process.run()
    let (out, err) = (output.fileHandleForReading, errors.fileHandleForReading)
    do {
        return try await withTimeout(timeout, "\(command) \(arguments.joined(separator: " "))") {
            // Both pipes at once: a tool that fills one while the other is read would wait forever.
            async let failed = offThePool { String(decoding: err.readDataToEndOfFile(), as: UTF8.self) }
            let printed = await offThePool { Array(out.readDataToEndOfFile()) }
            let errors = await failed
            await offThePool { process.waitUntilExit() }
            return ExecutableRun(status: process.terminationStatus, outputBytes: printed, errors: errors)
        }
    } catch {
        process.terminate()  // out of time: its reads end when it does
        throw error
    }
}
