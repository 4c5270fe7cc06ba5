import ArgumentParser
import Foundation
import HybridSyncAdmin
import HybridSyncClient
import HybridSyncProtocol
import Yams

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
            Publish.self, Broadcast.self, State.self, Ban.self, Unban.self, Bans.self, Sessions.self, Presence.self, Disconnect.self,
            History.self, Channel.self, Tail.self, Health.self, Token.self, Config.self, Bench.self,
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

/// Options shared by the commands that call the backend API. Each value comes from its flag, else
/// the environment, else the daemon's configuration file, else the development default.
struct APIOptions: ParsableArguments {
    @Option(help: "Backend API base URL (env HYBRIDSYNC_API_URL; default from --config, else http://127.0.0.1:8081).")
    var api: String?

    @Option(help: "Backend API key (env HYBRIDSYNC_API_KEY; default from --config, else dev-api-key).")
    var key: String?

    @Option(help: "A hybridsyncd configuration file to take api.host, api.port and api.key from (env HYBRIDSYNC_CONFIG).")
    var config: String?

    @Flag(help: "Print the API's JSON answer instead of a summary.")
    var json = false

    var client: BackendAPIClient {
        get throws {
            let environment = ProcessInfo.processInfo.environment
            let file = try (config ?? environment["HYBRIDSYNC_CONFIG"]).map(DaemonFile.init)
            let url = api ?? environment["HYBRIDSYNC_API_URL"] ?? file?.apiURL ?? "http://127.0.0.1:8081"
            let key = key ?? environment["HYBRIDSYNC_API_KEY"] ?? file?.apiKey ?? "dev-api-key"
            return BackendAPIClient(baseURL: url, apiKey: key)
        }
    }

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

/// The API address and key from a hybridsyncd YAML file.
struct DaemonFile {
    let apiURL: String?
    let apiKey: String?

    init(_ path: String) throws {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw ValidationError("cannot read \(path)") }
        guard let root = try? Yams.load(yaml: text) as? [String: Any] else { throw ValidationError("\(path) is not a YAML mapping") }
        let api = root["api"] as? [String: Any]
        let host = (api?["host"] as? String).map { ["0.0.0.0", "::", ""].contains($0) ? "127.0.0.1" : $0 } ?? "127.0.0.1"
        apiURL = (api?["port"] as? Int).map { "http://\(host.contains(":") ? "[\(host)]" : host):\($0)" }
        apiKey = api?["key"] as? String
    }
}
