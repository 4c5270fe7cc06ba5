import ArgumentParser
import Foundation
import HybridSyncAdmin
import HybridSyncClient

extension HybridSyncCLI {
    /// `hybridsync bench`: load scenarios over the real protocol, measured at the clients.
    struct Bench: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Measure a running hybridsyncd with real client runtimes (loopback or your own network).",
            discussion: """
                Every client is a ClientRuntime (one WebSocket each) in this process (restart-avalanche: --processes), so times include the bench's own \
                work; the open-file limit bounds the clients of one process (--processes beyond it), the ephemeral ports \
                those of one source address (--source-addresses). See docs/PERFORMANCE.md.
                """,
            subcommands: [Fanout.self, BanStorm.self, RestartAvalanche.self, Worker.self]
        )
    }

    /// What every scenario needs: where the daemon is, how to mint tokens, how many clients.
    struct BenchOptions: ParsableArguments {
        @OptionGroup var api: APIOptions
        @Option(help: "WebSocket URL (env HYBRIDSYNC_URL).")
        var url: String = ProcessInfo.processInfo.environment["HYBRIDSYNC_URL"] ?? "ws://127.0.0.1:8080/"
        @Option(help: "HS256 secret to mint client tokens (env HYBRIDSYNC_AUTH_TOKEN_SECRET).")
        var secret: String = ProcessInfo.processInfo.environment["HYBRIDSYNC_AUTH_TOKEN_SECRET"] ?? "dev-token-secret-change-me"
        @Option(help: "Client runtimes (client contexts) to connect.") var clients = 1000
        @Option(help: "The daemon's process id, to report its memory per connection and CPU per delivery (read from /proc).")
        var serverPid: Int32?
        @Flag(help: "Accept a self-signed certificate for a wss:// --url (a test daemon; never in production).")
        var allowSelfSigned = false
        @Option(help: """
            Connect from 127.0.0.1 … 127.0.0.K in turn (each source address has its own ~28,000 ephemeral ports \
            toward the server's port; needs a loopback URL).
            """)
        var sourceAddresses = 1
        func validate() throws {
            guard clients >= 1 else { throw ValidationError("--clients must be at least 1") }
            guard (1...254).contains(sourceAddresses) else { throw ValidationError("--source-addresses must be 1 to 254") }
        }

        /// The local address client `index` connects from (nil: the system's choice).
        func sourceAddress(of index: Int) -> String? {
            sourceAddresses > 1 ? "127.0.0.\(1 + index % sourceAddresses)" : nil
        }
    }

    struct Fanout: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "N clients observe one channel; the API publishes M messages at R per second: deliveries/s, latency, lost, duplicated."
        )
        @OptionGroup var options: BenchOptions
        @Option(help: "Channel the clients observe.") var channel = "chat:bench"
        @Option(help: "Messages to publish.") var messages = 100
        @Option(help: "Messages per second.") var rate = 10.0

        func run() async throws {
            let channel = channel
            let clients = try await BenchClients.connect(options, subscribe: { try await $0.observe(channel) }) { event, index, clients in
                guard case .publication(let publication) = event, case .object(let body) = publication.data,
                      case .int(let n)? = body["n"], case .int(let sent)? = body["t"] else { return }
                clients.record(index, Int(n), milliseconds: Double(BenchClients.nanoseconds() - sent) / 1e6)
            }
            let started = ContinuousClock.now
            let cpuBefore = options.serverPid.flatMap(BenchClients.cpuSeconds)
            let ownCPUBefore = BenchClients.cpuSeconds(getpid())
            for n in 0..<messages {
                try await Task.sleep(until: started + .seconds(Double(n) / rate))
                _ = try await options.api.client.publish(channel: channel, data: ["n": .int(Int64(n)), "t": .int(BenchClients.nanoseconds())])
            }
            let expected = options.clients * messages
            await clients.waitForSamples(expected, timeout: .seconds(30)) { "delivered \($0)/\(expected)" }
            let elapsed = ContinuousClock.now - started
            let cpuAfter = options.serverPid.flatMap(BenchClients.cpuSeconds)
            let ownCPUAfter = BenchClients.cpuSeconds(getpid())
            let report = clients.report(expected: expected)
            print("fanout: \(options.clients) clients, \(messages) messages at \(rate)/s on \(channel)")
            clients.printConnecting()
            print("  deliveries: \(report.received)/\(expected) (lost \(report.lost), duplicated \(report.duplicated)), "
                + String(format: "%.0f deliveries/s", Double(report.received) / elapsed.seconds))
            print("  latency: \(report.percentiles)")
            if let cpuBefore, let cpuAfter, report.received > 0 {
                let seconds = cpuAfter - cpuBefore
                print(String(format: "  server CPU: %.2f s while publishing and delivering (%.0f %% of one core), %.2f µs per delivery",
                             seconds, 100 * seconds / elapsed.seconds, seconds * 1e6 / Double(report.received)))
            }
            if let ownCPUBefore, let ownCPUAfter, report.received > 0 {
                let seconds = ownCPUAfter - ownCPUBefore
                print("  client CPU (this process): "
                    + String(format: "%.2f s, %.2f µs per received publication", seconds, seconds * 1e6 / Double(report.received)))
            }
            clients.printMemory()
            await clients.close()
        }
    }

    struct BanStorm: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "N client contexts observe moderation:users; one ban through the API: time until every observer has it (p50/p99)."
        )
        @OptionGroup var options: BenchOptions
        @Option(help: "The user to ban (lifted again at the end).") var user = "bench-banned-user"
        @Option(help: "Bench processes to spread the clients over (each with its own event loops and open-file limit).")
        var processes = 1

        func run() async throws {
            guard processes >= 1, processes <= options.clients else { throw ValidationError("--processes must be 1 to --clients") }
            if processes > 1 { return try await runOverWorkers() }
            let user = user
            let banAt = Locked<Int64>(0)
            let clients = try await BenchClients.connect(options, subscribe: { try await $0.observe("moderation:users") }) { event, index, clients in
                guard case .publication(let publication) = event, publication.key == user, !publication.removed else { return }
                clients.record(index, 0, milliseconds: Double(BenchClients.nanoseconds() - banAt.withLock { $0 }) / 1e6)
            }
            banAt.withLock { $0 = BenchClients.nanoseconds() }
            try await options.api.client.ban(user: user, reason: "hybridsync bench ban-storm")
            await clients.waitForSamples(options.clients, timeout: .seconds(60)) { "observed the ban: \($0)/\(options.clients)" }
            let report = clients.report(expected: options.clients)
            print("ban storm: \(options.clients) client contexts on moderation:users, one ban")
            print("  observed by \(report.received)/\(options.clients) (never: \(report.lost))")
            print("  time from the API call to each observer: \(report.percentiles)")
            clients.printMemory()
            _ = try? await options.api.client.unban(user: user)
            await clients.close()
        }

        private func runOverWorkers() async throws {
            let before = options.serverPid.flatMap(BenchClients.residentKilobytes)
            let workers = try await BenchWorker.start(options, processes: processes, scenario: "ban-storm", ["--user=\(user)"])
            defer { for worker in workers { worker.stop() } }
            let connected = options.serverPid.flatMap(BenchClients.residentKilobytes)
            let banAt = BenchClients.nanoseconds()
            try await options.api.client.ban(user: user, reason: "hybridsync bench ban-storm")
            let samples = await BenchWorker.collect(workers, expected: options.clients, timeout: .seconds(60)) {
                "observed the ban: \($0)/\(options.clients)"
            }
            let report = BenchClients.Report(milliseconds: samples.map { Double($0 - banAt) / 1e6 }, expected: options.clients, duplicated: 0)
            print("ban storm: \(options.clients) client contexts on moderation:users in \(processes) processes, one ban")
            print("  observed by \(report.received)/\(options.clients) (never: \(report.lost))")
            print("  time from the API call to each observer: \(report.percentiles)")
            if let before, let connected {
                print("  server RSS: \(before) kB before, \(connected) kB with \(options.clients) clients (\(Int(Double(connected - before) * 1024 / Double(options.clients))) B per connection)")
            }
            _ = try? await options.api.client.unban(user: user)
        }
    }

    struct RestartAvalanche: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "N clients observe a state key; kill -9 the daemon and restart it: time until every client has reconnected and holds the new value."
        )
        @OptionGroup var options: BenchOptions
        @Option(help: "The command that starts the daemon again (run with /bin/sh -c, in the background).") var restart: String
        @Option(help: "Seconds to wait for every client after the restart.") var timeout = 120.0
        @Option(help: "Channel of the state key.") var channel = "app:bench-avalanche"
        @Option(help: "Bench processes to spread the clients over (each with its own event loops and open-file limit).")
        var processes = 1

        func run() async throws {
            guard let pid = options.serverPid else { throw ValidationError("--server-pid is needed: the daemon to kill") }
            guard processes >= 1, processes <= options.clients else { throw ValidationError("--processes must be 1 to --clients") }
            _ = try await options.api.client.setState(channel: channel, key: "generation", value: 1)
            if processes > 1 { return try await runOverWorkers(pid) }
            let channel = channel
            let killedAt = Locked<Int64>(0)
            let key = StateKey<Int64>(channel: channel, key: "generation", default: 0)
            let clients = try await BenchClients.connect(options, subscribe: { try await $0.observe(key) }) { value, index, clients in
                guard value == 2 else { return }
                clients.record(index, 0, milliseconds: Double(BenchClients.nanoseconds() - killedAt.withLock { $0 }) / 1e6)
            }
            killedAt.withLock { $0 = BenchClients.nanoseconds() }
            try await killAndRestart(pid)
            await clients.waitForSamples(options.clients, timeout: .seconds(timeout)) { "re-synced: \($0)/\(options.clients)" }
            printReport(clients.report(expected: options.clients))
            await clients.close()
        }

        /// Kills the daemon, waits until every thread of it is gone (its ports are free then),
        /// restarts it, and sets the new value once it answers.
        private func killAndRestart(_ pid: Int32) async throws {
            let started = ContinuousClock.now
            kill(pid, SIGKILL)
            try await BenchClients.eventually(seconds: 10, "the killed daemon did not exit") { !BenchClients.isRunning(pid) }
            let gone = ContinuousClock.now - started
            let starter = Process()
            starter.executableURL = URL(fileURLWithPath: "/bin/sh")
            starter.arguments = ["-c", restart]
            try starter.run()
            try await BenchClients.eventually(seconds: 30, "the restarted daemon did not answer") {
                (try? await options.api.client.health()) != nil
            }
            print("  the killed daemon was gone after \(gone); the new one answered after \(ContinuousClock.now - started)")
            _ = try await options.api.client.setState(channel: channel, key: "generation", value: 2)
        }

        private func printReport(_ report: BenchClients.Report) {
            print("restart avalanche: \(options.clients) clients in \(processes) process(es), kill -9 and `\(restart)`")
            print("  reconnected and holding the new value: \(report.received)/\(options.clients) (never within \(Int(timeout)) s: \(report.lost))")
            print("  time from the kill to each client's new value: \(report.percentiles)")
        }

        /// The clients in `processes` worker processes (`bench worker`), each with its share.
        private func runOverWorkers(_ pid: Int32) async throws {
            let workers = try await BenchWorker.start(options, processes: processes, scenario: "restart-avalanche", ["--channel=\(channel)"])
            defer { for worker in workers { worker.stop() } }
            let killedAt = BenchClients.nanoseconds()
            try await killAndRestart(pid)
            let samples = await BenchWorker.collect(workers, expected: options.clients, timeout: .seconds(timeout)) {
                "re-synced: \($0)/\(options.clients)"
            }
            printReport(BenchClients.Report(milliseconds: samples.map { Double($0 - killedAt) / 1e6 }, expected: options.clients, duplicated: 0))
        }
    }

    /// One process's share of a multi-process scenario (`ban-storm` or `restart-avalanche` with
    /// `--processes`): prints `ready` once its clients observe, then `sample <client> <time>` when a
    /// client sees what the scenario waits for; ends when its standard input closes.
    struct Worker: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Internal: one process of a scenario run with --processes.", shouldDisplay: false)
        @OptionGroup var options: BenchOptions
        @Option var scenario: String
        @Option var channel = "app:bench-avalanche"
        @Option var user = "bench-banned-user"

        func run() async throws {
            let out = Locked(FileHandle.standardOutput)
            let sample: @Sendable (Int) -> Void = { index in
                let line = "sample \(index) \(BenchClients.nanoseconds())\n"
                out.withLock { $0.write(Data(line.utf8)) }
            }
            let clients: BenchClients
            switch scenario {
            case "restart-avalanche":
                let key = StateKey<Int64>(channel: channel, key: "generation", default: 0)
                clients = try await BenchClients.connect(options, subscribe: { try await $0.observe(key) }) { value, index, _ in
                    if value == 2 { sample(index) }
                }
            case "ban-storm":
                let user = user
                clients = try await BenchClients.connect(options, subscribe: { try await $0.observe("moderation:users") }) { event, index, _ in
                    if case .publication(let publication) = event, publication.key == user, !publication.removed { sample(index) }
                }
            default:
                throw ValidationError("--scenario must be ban-storm or restart-avalanche")
            }
            out.withLock { $0.write(Data("ready\n".utf8)) }
            // Until the parent closes our standard input (it finished, or died).
            await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
                Thread.detachNewThread {
                    _ = FileHandle.standardInput.readDataToEndOfFile()
                    done.resume()
                }
            }
            await clients.close()
        }
    }
}
