import ArgumentParser
import Foundation
import HybridSyncAdmin
import HybridSyncClient

extension HybridSyncCLI {
    struct Tail: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Follow a channel live through a real client connection (reconnects and recovers by itself).",
            discussion: "Prints one line per publication: offset, key (if any), data. After a gap it could not recover it prints what history still holds."
        )
        @Option(help: "WebSocket URL (env HYBRIDSYNC_URL).")
        var url: String = ProcessInfo.processInfo.environment["HYBRIDSYNC_URL"] ?? "ws://127.0.0.1:8080/"
        @Option(help: "A client token; without it one is minted with --secret for --user.") var token: String?
        @Option(help: "The user id of the minted token.") var user = "hybridsync-tail"
        @Option(help: "HS256 secret to mint the token (env HYBRIDSYNC_AUTH_TOKEN_SECRET).")
        var secret: String = ProcessInfo.processInfo.environment["HYBRIDSYNC_AUTH_TOKEN_SECRET"] ?? "dev-token-secret-change-me"
        @Option(help: "Stop after this many publications (default: until interrupted).") var count: Int?
        @Argument(help: "Channel, for example moderation:bans.") var channel: String

        func run() async throws {
            if let count, count < 1 { throw ValidationError("--count must be at least 1") }
            let (token, user, secret) = (token, user, secret)
            let runtime = ClientRuntime(url: url) { token ?? TokenMinter(secret: secret).token(user: user) }
            try await withClientRuntime(runtime) { runtime in
                let app = await runtime.mount("tail")
                var printed = 0
                for try await event in try await app.observe(channel) {
                    switch event {
                    case .publication(let publication):
                        print(Self.line(publication))
                        printed += 1
                    case .resynced(let gap):
                        print("-- could not recover after offset \(gap.from.offset) (now \(gap.to.epoch)/\(gap.to.offset)); history holds:")
                        let backfill = try await app.backfill(channel, after: gap.from)
                        for publication in backfill.publications { print(Self.line(publication)) }
                        print(backfill.complete ? "-- nothing was lost" : "-- some publications are gone")
                    }
                    FileHandle.standardOutput.synchronizeFile()
                    if let count, printed >= count { break }
                }
                _ = app
            }
        }

        static func line(_ publication: Publication) -> String {
            "\(publication.offset)\t\(publication.key.map { "\($0)\t" } ?? "")\(publication.removed ? "(removed)" : publication.data.description)"
        }
    }
}
