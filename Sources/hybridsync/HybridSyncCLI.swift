import ArgumentParser
import Foundation
import HybridSyncAdmin
import HybridSyncClient
import HybridSyncProtocol

/// `hybridsync`: the operator's and developer's command line for a running hybridsyncd.
///
/// Exit codes: 0 done, 1 the API refused (the message has its `error.code`), 2 usage error,
/// 3 the API could not be reached.
@main
struct HybridSyncCLI: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hybridsync",
        abstract: "Talk to a running hybridsyncd through its backend API, and mint development tokens.",
        discussion: "Exit codes: 0 done, 1 the API refused, 2 usage error, 3 the API could not be reached.",
        subcommands: [
            Publish.self, Broadcast.self, State.self, Ban.self, Unban.self, Bans.self, Disconnect.self,
            History.self, Channel.self, Tail.self, Health.self, Token.self, Config.self,
        ]
    )

    /// Runs the command and maps every failure to a documented exit code.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asynchronous = command as? any AsyncParsableCommand {
                try await asynchronous.run()
            } else {
                try command.run()
            }
        } catch let code as ExitCode {
            Foundation.exit(code.rawValue)
        } catch let failure as BackendAPIClient.Failure {
            report("the API refused: \(failure)")
            Foundation.exit(1)
        } catch let unreachable as BackendAPIClient.Unreachable {
            report("\(unreachable) (is hybridsyncd running? --api or HYBRIDSYNC_API_URL)")
            Foundation.exit(3)
        } catch let error as ClientRuntimeError {
            report("\(error)")
            switch error.code {
            case .invalidURL, .invalidChannel: Foundation.exit(2)
            case .timeout, .connectionLost, .notConnected: Foundation.exit(3)
            default: Foundation.exit(1)
            }
        } catch {
            if exitCode(for: error) == .success {
                print(fullMessage(for: error))
                Foundation.exit(0)
            }
            report(fullMessage(for: error))
            Foundation.exit(2)
        }
    }

    static func report(_ message: String) {
        FileHandle.standardError.write(Data("hybridsync: \(message)\n".utf8))
    }
}

/// Options shared by the commands that call the backend API.
struct APIOptions: ParsableArguments {
    @Option(help: "Backend API base URL (env HYBRIDSYNC_API_URL).")
    var api: String = ProcessInfo.processInfo.environment["HYBRIDSYNC_API_URL"] ?? "http://127.0.0.1:8081"

    @Option(help: "Backend API key (env HYBRIDSYNC_API_KEY).")
    var key: String = ProcessInfo.processInfo.environment["HYBRIDSYNC_API_KEY"] ?? "dev-api-key"

    @Flag(help: "Print the API's JSON answer instead of a summary.")
    var json = false

    var client: BackendAPIClient { BackendAPIClient(baseURL: api, apiKey: key) }

    /// Prints the answer: its JSON with `--json`, else `summary`.
    func show(_ answer: JSONValue, _ summary: (JSONValue) -> String) {
        print(json ? answer.description : summary(answer))
    }
}

/// Reads a JSON argument, or fails with a usage error that says why.
func parseJSON(_ text: String, _ what: String) throws -> JSONValue {
    do { return try JSONValue.parse(text) } catch { throw ValidationError("\(what) is not JSON: \(error)") }
}

extension JSONValue {
    /// An integer member as text ("-" when absent).
    subscript(text member: String) -> String {
        if let number = self[member]?.intValue { return "\(number)" }
        return self[member]?.stringValue ?? "-"
    }
}
