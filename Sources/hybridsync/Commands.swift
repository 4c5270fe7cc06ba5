import ArgumentParser
import Foundation
import HybridSyncAdmin
import HybridSyncProtocol

extension HybridSyncCLI {
    struct Publish: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Publish JSON data on a channel.")
        @OptionGroup var options: APIOptions
        @Argument(help: "Channel, for example moderation:bans.") var channel: String
        @Argument(help: "JSON data, for example '{\"user\":\"42\",\"banned\":true}'.") var data: String
        @Option(help: "Also set this retained state key to the data.") var stateKey: String?
        @Option(help: "Publish once for this key within the idempotency window.") var idempotencyKey: String?

        func run() async throws {
            let value = try parseJSON(data, "data")
            let answer = try await options.client.publish(channel: channel, data: value, key: stateKey, idempotencyKey: idempotencyKey)
            options.show(answer) { "published on \(channel): offset \($0[text: "offset"]), \($0[text: "subscribers"]) subscriber(s)" }
        }
    }

    struct Broadcast: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Publish the same JSON data on several channels (all or none).")
        @OptionGroup var options: APIOptions
        @Argument(help: "JSON data.") var data: String
        @Argument(help: "Channels.") var channels: [String]

        func run() async throws {
            guard !channels.isEmpty else { throw ValidationError("name at least one channel") }
            let answer = try await options.client.broadcast(channels: channels, data: try parseJSON(data, "data"))
            options.show(answer) { answer in
                (answer["publications"]?.arrayValue ?? []).map { "\($0[text: "channel"]) offset \($0[text: "offset"])" }
                    .joined(separator: "\n")
            }
        }
    }

    struct State: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Read and change a channel's retained state.", subcommands: [Get.self, Set.self, Remove.self]
        )

        struct Get: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Print every key of a channel's state.")
            @OptionGroup var options: APIOptions
            @Argument(help: "Channel, for example moderation:users.") var channel: String

            func run() async throws {
                let answer = try await options.client.state(channel: channel)
                options.show(answer) { answer in
                    guard case .object(let state)? = answer["state"], !state.isEmpty else { return "(no keys in \(channel))" }
                    return state.keys.sorted().map { key in
                        "\(key) = \(state[key]?["value"]?.description ?? "null") (version \(state[key]?[text: "version"] ?? "-"))"
                    }.joined(separator: "\n")
                }
            }
        }

        struct Set: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Set one key to a JSON value.")
            @OptionGroup var options: APIOptions
            @Argument(help: "Channel.") var channel: String
            @Argument(help: "Key.") var key: String
            @Argument(help: "JSON value.") var value: String

            func run() async throws {
                let answer = try await options.client.setState(channel: channel, key: key, value: try parseJSON(value, "value"))
                options.show(answer) { "set \(channel) \(key): version \($0[text: "version"])" }
            }
        }

        struct Remove: AsyncParsableCommand {
            static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove one key.")
            @OptionGroup var options: APIOptions
            @Argument(help: "Channel.") var channel: String
            @Argument(help: "Key.") var key: String

            func run() async throws {
                let answer = try await options.client.removeState(channel: channel, key: key)
                options.show(answer) { answer in
                    answer["removed"]?.boolValue == true ? "removed \(key) from \(channel)" : "\(channel) has no key \(key)"
                }
            }
        }
    }

    struct Ban: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Ban a user: closes their sockets and refuses them until lifted.")
        @OptionGroup var options: APIOptions
        @Argument(help: "The user id.") var user: String
        @Option(help: "Why (shown to the user's micro-apps).") var reason: String
        @Option(name: .customLong("for"), help: "Seconds until the ban lifts itself (default: until unban).") var seconds: Double?

        func run() async throws {
            if let seconds, seconds <= 0 { throw ValidationError("--for must be a positive number of seconds") }
            let until = seconds.map { Date().timeIntervalSince1970 + $0 }
            let answer = try await options.client.ban(user: user, reason: reason, until: until)
            options.show(answer) { "banned \(user) (\($0[text: "sessionsClosed"]) session(s) closed)" }
        }
    }

    struct Unban: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Lift a user's ban.")
        @OptionGroup var options: APIOptions
        @Argument(help: "The user id.") var user: String

        func run() async throws {
            let answer = try await options.client.unban(user: user)
            options.show(answer) { $0["lifted"]?.boolValue == true ? "lifted the ban on \(user)" : "\(user) was not banned" }
        }
    }

    struct Bans: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the bans that hold now.")
        @OptionGroup var options: APIOptions

        func run() async throws {
            let answer = try await options.client.bans()
            options.show(answer) { answer in
                let bans = answer["bans"]?.arrayValue ?? []
                guard !bans.isEmpty else { return "(no bans)" }
                return bans.map { ban in
                    let until = ban["until"]?.doubleValue.map { Date(timeIntervalSince1970: $0).ISO8601Format() } ?? "until lifted"
                    return "\(ban[text: "user"])\t\(ban[text: "reason"])\t\(until)"
                }.joined(separator: "\n")
            }
        }
    }

    struct Sessions: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a user's live sessions on the node that answers.")
        @OptionGroup var options: APIOptions
        @Argument(help: "The user id.") var user: String

        func run() async throws {
            let answer = try await options.client.sessions(of: user)
            options.show(answer) { answer in
                let sessions = answer["sessions"]?.arrayValue ?? []
                guard !sessions.isEmpty else { return "(no sessions of \(user))" }
                return sessions.map { session in
                    let since = session["connectedAt"]?.doubleValue.map { Date(timeIntervalSince1970: $0).ISO8601Format() } ?? "?"
                    let channels = (session["channels"]?.arrayValue ?? []).compactMap(\.stringValue).joined(separator: ",")
                    return "\(session[text: "client"])\t\(session["name"]?.stringValue ?? "-")\t\(session[text: "remoteAddress"])\t\(since)\t\(channels)"
                }.joined(separator: "\n")
            }
        }
    }

    struct Presence: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List who is present on a channel, on every node (a namespace with presence).")
        @OptionGroup var options: APIOptions
        @Argument(help: "Channel, for example room:7.") var channel: String
        @Flag(help: "Only the counts of users and connections.") var stats = false

        func run() async throws {
            if stats {
                let answer = try await options.client.presenceStats(channel: channel)
                return options.show(answer) { "\($0[text: "users"]) user(s), \($0[text: "contexts"]) connection(s) on \(channel)" }
            }
            let answer = try await options.client.presence(channel: channel)
            options.show(answer) { answer in
                let members = answer["members"]?.arrayValue ?? []
                guard !members.isEmpty else { return "(nobody is present on \(channel))" }
                return members.map { member in
                    let info = member["info"].flatMap { $0 == .null ? nil : $0.description } ?? "-"
                    return "\(member[text: "user"])\t\(member[text: "contexts"])\t\(info)"
                }.joined(separator: "\n")
            }
        }
    }

    struct Disconnect: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Close every socket of a user.")
        @OptionGroup var options: APIOptions
        @Argument(help: "The user id.") var user: String
        @Option(help: "Close code: 4000-4499 reconnect, 4500-4999 do not.") var code: UInt16 = 4504
        @Option(help: "Close reason.") var reason: String?

        func run() async throws {
            guard (4000...4999).contains(code) else { throw ValidationError("--code must be 4000-4999") }
            let answer = try await options.client.disconnect(user: user, code: code, reason: reason)
            options.show(answer) { "closed \($0[text: "sessionsClosed"]) session(s) of \(user)" }
        }
    }

    struct History: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the publications still in a channel's history.")
        @OptionGroup var options: APIOptions
        @Argument(help: "Channel.") var channel: String

        func run() async throws {
            let answer = try await options.client.history(channel: channel)
            options.show(answer) { answer in
                let publications = answer["publications"]?.arrayValue ?? []
                guard !publications.isEmpty else { return "(history of \(channel) is empty)" }
                return publications.map { "\($0[text: "offset"])\t\($0["key"]?.stringValue.map { "\($0) " } ?? "")\($0["data"]?.description ?? "null")" }
                    .joined(separator: "\n")
            }
        }
    }

    struct Channel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a channel's subscribers and position.")
        @OptionGroup var options: APIOptions
        @Argument(help: "Channel.") var channel: String

        func run() async throws {
            let answer = try await options.client.channelInfo(channel)
            options.show(answer) { "\(channel): \($0[text: "subscribers"]) subscriber(s), epoch \($0[text: "epoch"]), offset \($0[text: "offset"])" }
        }
    }

    struct Health: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the daemon's /health.")
        @OptionGroup var options: APIOptions

        func run() async throws {
            let answer = try await options.client.health()
            options.show(answer) {
                "\($0[text: "status"]): version \($0[text: "version"]), \($0[text: "connections"]) connection(s), \($0[text: "channels"]) channel(s)"
            }
        }
    }

    struct Token: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Mint an HS256 client token (development).")
        @Option(help: "The user id (sub claim).") var user: String
        @Option(help: "Seconds until it expires.") var ttl: Double = 3600
        @Option(help: "HS256 secret (env HYBRIDSYNC_AUTH_TOKEN_SECRET).")
        var secret: String = ProcessInfo.processInfo.environment["HYBRIDSYNC_AUTH_TOKEN_SECRET"] ?? "dev-token-secret-change-me"

        func run() throws {
            guard ttl > 0 else { throw ValidationError("--ttl must be positive") }
            print(TokenMinter(secret: secret).token(user: user, expiresIn: ttl))
        }
    }
}
