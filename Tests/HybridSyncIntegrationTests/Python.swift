import Foundation
import HybridSyncDaemonTesting

/// Runs a script from Tests/Interop (or another folder of Tests/) with python3 and talks to it line by line.
final class PythonScript: @unchecked Sendable {
    private let process = Process()
    private let input = Pipe()
    private let output = Pipe()
    private var buffer = Data()

    init(_ name: String, _ arguments: [String], in folder: String = "Interop") throws {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("\(folder)/\(name)")
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script.path] + arguments
        process.standardInput = input
        process.standardOutput = output
        process.standardError = output
        try process.run()
    }

    deinit {
        if process.isRunning { process.terminate() }
    }

    /// The next line the script prints (stderr included), waiting at most `timeout`.
    func readLine(within timeout: Duration = .seconds(30)) async throws -> String? {
        try await withTimeout(timeout, "a line from the Python script") { [self] in
            while true {
                if let newline = buffer.firstIndex(of: 0x0A) {
                    let line = String(decoding: buffer[..<newline], as: UTF8.self)
                    buffer.removeSubrange(...newline)
                    return line
                }
                let handle = output.fileHandleForReading
                let chunk = await offThePool { handle.availableData }
                if chunk.isEmpty { return buffer.isEmpty ? nil : String(decoding: buffer, as: UTF8.self) }
                buffer.append(chunk)
            }
        }
    }

    func writeLine(_ line: String) {
        input.fileHandleForWriting.write(Data((line + "\n").utf8))
    }
}

