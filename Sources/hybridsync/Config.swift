import ArgumentParser
import Foundation

extension HybridSyncCLI {
    struct Config: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check or print a hybridsyncd configuration.", subcommands: [Check.self, Print.self]
        )

        struct Check: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Validate a configuration file as hybridsyncd would start with it.",
                discussion: """
                    Runs `hybridsyncd --config FILE --check-config` (the hybridsyncd next to this program, else on \
                    PATH): unknown keys, values of the wrong type or out of range, and development secrets on a \
                    public address are reported with the file and line. Exit 0 valid, 1 invalid.
                    """
            )
            @Argument(help: "The YAML file.") var file: String = "Config/hybridsyncd.yaml"

            func run() async throws {
                guard FileManager.default.fileExists(atPath: file) else { throw ValidationError("no file at \(file)") }
                let daemon = try Self.daemonBinary()
                let process = Process()
                process.executableURL = URL(fileURLWithPath: daemon)
                process.arguments = ["--config", file, "--check-config"]
                // Only the file is checked: settings from this shell's environment would blur the answer.
                process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("HYBRIDSYNC_") }
                let errors = Pipe()
                process.standardError = errors
                process.standardOutput = FileHandle.nullDevice
                try process.run()
                let log = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                process.waitUntilExit()
                if process.terminationStatus == 0 {
                    print("\(file): valid")
                    return
                }
                let problem = log.components(separatedBy: "cannot run: ").last?.trimmingCharacters(in: .whitespacesAndNewlines) ?? log
                HybridSyncCLI.report("\(file) is not valid:")
                for part in problem.components(separatedBy: "; ") { FileHandle.standardError.write(Data("  \(part)\n".utf8)) }
                throw ExitCode(1)
            }

            static func daemonBinary() throws -> String {
                let here = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
                let candidates = [here.appendingPathComponent("hybridsyncd").path]
                    + (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map { "\($0)/hybridsyncd" }
                guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
                    throw ValidationError("hybridsyncd not found next to hybridsync or on PATH")
                }
                return found
            }
        }

        struct Print: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Print the effective configuration of a file: every key with its value or default, secrets redacted."
            )
            @Argument(help: "The YAML file.") var file: String = "Config/hybridsyncd.yaml"

            func run() async throws {
                guard FileManager.default.fileExists(atPath: file) else { throw ValidationError("no file at \(file)") }
                let process = Process()
                process.executableURL = URL(fileURLWithPath: try Check.daemonBinary())
                process.arguments = ["--config", file, "--print-config"]
                process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("HYBRIDSYNC_") }
                let (output, errors) = (Pipe(), Pipe())
                process.standardOutput = output
                process.standardError = errors
                try process.run()
                let printed = output.fileHandleForReading.readDataToEndOfFile()
                let log = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                process.waitUntilExit()
                guard process.terminationStatus == 0 else {
                    HybridSyncCLI.report("\(file) is not valid: \(log.components(separatedBy: "cannot run: ").last ?? log)")
                    throw ExitCode(1)
                }
                FileHandle.standardOutput.write(printed)
            }
        }
    }
}
