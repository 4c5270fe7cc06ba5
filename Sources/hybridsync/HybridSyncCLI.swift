import ArgumentParser
import Foundation
import HybridSyncProtocol
import HybridSyncTesting

/// `hybridsync`: the operator's and developer's command line for a running hybridsyncd.
@main
struct HybridSyncCLI: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hybridsync",
        abstract: "Talk to a running hybridsyncd: publish, mint development tokens, check health.",
        subcommands: [Publish.self, Token.self, Health.self]
    )
}

/// Options shared by the commands that call the backend API.
struct APIOptions: ParsableArguments {
    @Option(help: "Backend API base URL (env HYBRIDSYNC_API_URL).")
    var api: String = ProcessInfo.processInfo.environment["HYBRIDSYNC_API_URL"] ?? "http://127.0.0.1:8081"

    @Option(help: "Backend API key (env HYBRIDSYNC_API_KEY).")
    var key: String = ProcessInfo.processInfo.environment["HYBRIDSYNC_API_KEY"] ?? "dev-api-key"

    var client: BackendAPIClient { BackendAPIClient(baseURL: api, apiKey: key) }
}

extension HybridSyncCLI {
    struct Publish: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Publish JSON data on a channel.")

        @OptionGroup var options: APIOptions
        @Argument(help: "Channel, for example moderation:bans.") var channel: String
        @Argument(help: "JSON data, for example '{\"user\":\"42\",\"banned\":true}'.") var data: String

        func run() async throws {
            let value: JSONValue
            do {
                value = try JSONValue.parse(data)
            } catch {
                throw ValidationError("data is not JSON: \(error)")
            }
            print(try await options.client.publish(channel: channel, data: value).jsonString)
        }
    }

    struct Token: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Mint an HS256 client token (development).")

        @Option(help: "The user id (sub claim).") var user: String
        @Option(help: "Seconds until it expires.") var ttl: Double = 3600
        @Option(help: "HS256 secret (env HYBRIDSYNC_AUTH_TOKEN_SECRET).")
        var secret: String = ProcessInfo.processInfo.environment["HYBRIDSYNC_AUTH_TOKEN_SECRET"] ?? "dev-token-secret-change-me"

        func run() throws {
            print(TokenMinter(secret: secret).token(user: user, expiresIn: ttl))
        }
    }

    struct Health: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the daemon's /health.")
        @OptionGroup var options: APIOptions

        func run() async throws {
            print(try await options.client.health().jsonString)
        }
    }
}
