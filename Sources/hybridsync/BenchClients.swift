import Foundation
import HybridSyncAdmin
import HybridSyncClient

/// The bench's client runtimes and what they measured: one sample per (client, message).
final class BenchClients: Sendable {
    private struct Samples {
        var seen: Set<Int64> = []
        var milliseconds: [Double] = []
        var duplicated = 0
    }

    private let runtimes: [ClientRuntime]
    private let samples = Locked(Samples())
    private let tasks = Locked<[Task<Void, Never>]>([])
    /// Clients started and observing.
    private let ready = Locked(0)
    private let serverPid: Int32?
    private let serverKilobytesBefore: Int?
    /// The daemon's RSS once every client is connected.
    private let serverKilobytesConnected = Locked<Int?>(nil)
    /// This process's RSS before the runtimes were made, and once every one observes.
    private let ownKilobytesBefore: Int?
    private let ownKilobytesConnected = Locked<Int?>(nil)
    /// How long connecting and subscribing every client took, and the daemon's CPU seconds meanwhile.
    private let connecting = Locked<(seconds: Double, serverCPU: Double?)>((0, nil))

    private init(runtimes: [ClientRuntime], serverPid: Int32?, before: Int?, ownBefore: Int?) {
        self.runtimes = runtimes
        self.serverPid = serverPid
        self.serverKilobytesBefore = before
        self.ownKilobytesBefore = ownBefore
    }

    /// Starts `options.clients` runtimes (200 connecting at a time, with a progress line), each with
    /// one micro-app whose `subscribe` stream is read by `handle`; returns once every one observes.
    static func connect<Events: AsyncSequence & Sendable>(
        _ options: HybridSyncCLI.BenchOptions,
        subscribe: @escaping @Sendable (MicroApp) async throws -> Events,
        handle: @escaping @Sendable (Events.Element, Int, BenchClients) -> Void
    ) async throws -> BenchClients where Events.Element: Sendable {
        let limit = raiseOpenFileLimit()
        guard options.clients + 64 <= limit else {
            throw HybridSyncCLI.BenchFailure(description: "--clients \(options.clients) needs more sockets than this process's "
                + "open-file limit (\(limit)) allows: spread them with --processes (ban-storm, restart-avalanche)")
        }
        let (secret, url) = (options.secret, options.url)
        let ownBefore = residentKilobytes(getpid())
        // One transport per source address (a transport holds its TLS context; connections share it).
        let transports = (0..<options.sourceAddresses).map { index in
            var configuration: WebSocketTransport.Configuration = options.allowSelfSigned ? .allowingSelfSignedCertificates() : .init()
            configuration.sourceAddress = options.sourceAddress(of: index)
            return WebSocketTransport(configuration: configuration)
        }
        let runtimes = (0..<options.clients).map { index in
            ClientRuntime(url: url, transport: transports[index % options.sourceAddresses]) {
                TokenMinter(secret: secret).token(user: "bench-\(index)")
            }
        }
        let clients = BenchClients(runtimes: runtimes, serverPid: options.serverPid, before: options.serverPid.flatMap(residentKilobytes),
                                   ownBefore: ownBefore)
        let started = ContinuousClock.now
        let cpuBefore = options.serverPid.flatMap(cpuSeconds)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, runtime) in runtimes.enumerated() {
                if index >= 200 { try await group.next() }
                group.addTask {
                    try await runtime.start()
                    let app = await runtime.mount("bench")
                    let events = try await subscribe(app)
                    let task = Task {
                        do {
                            for try await event in events { handle(event, index, clients) }
                        } catch {}
                        _ = app
                    }
                    clients.tasks.withLock { $0.append(task) }
                    let count = clients.ready.withLock { count in
                        count += 1
                        return count
                    }
                    if count % 500 == 0 || count == runtimes.count { progress("connected and observing: \(count)/\(runtimes.count)") }
                }
            }
            try await group.waitForAll()
        }
        progress(nil)
        let cpuAfter = options.serverPid.flatMap(cpuSeconds)
        clients.connecting.withLock {
            $0 = ((ContinuousClock.now - started).seconds, cpuBefore.flatMap { before in cpuAfter.map { $0 - before } })
        }
        clients.serverKilobytesConnected.withLock { $0 = options.serverPid.flatMap(residentKilobytes) }
        clients.ownKilobytesConnected.withLock { $0 = residentKilobytes(getpid()) }
        return clients
    }

    /// Records that client `index` got message `n` after `milliseconds`.
    func record(_ index: Int, _ n: Int, milliseconds: Double) {
        samples.withLock { samples in
            if samples.seen.insert(Int64(index) << 32 | Int64(n)).inserted {
                samples.milliseconds.append(milliseconds)
            } else {
                samples.duplicated += 1
            }
        }
    }

    /// Waits until `count` samples arrived or `timeout` passed, with a progress line.
    func waitForSamples(_ count: Int, timeout: Duration, _ line: (Int) -> String) async {
        await Self.waitForCount(count, timeout: timeout, line) { samples.withLock { $0.milliseconds.count } }
    }

    /// Re-reads `current` every 100 ms, with a progress line, until it reaches `expected` or
    /// `timeout` passed.
    static func waitForCount(_ expected: Int, timeout: Duration, _ line: (Int) -> String, current: () -> Int) async {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let count = current()
            progress(line(count))
            if count >= expected { break }
            try? await Task.sleep(for: .milliseconds(100))
        }
        progress(nil)
    }

    struct Report {
        let received: Int
        let lost: Int
        let duplicated: Int
        let percentiles: String

        init(milliseconds: [Double], expected: Int, duplicated: Int) {
            let sorted = milliseconds.sorted()
            func at(_ fraction: Double) -> String {
                sorted.isEmpty ? "-" : String(format: "%.1f", sorted[min(sorted.count - 1, Int(Double(sorted.count) * fraction))])
            }
            received = sorted.count
            lost = max(0, expected - sorted.count)
            self.duplicated = duplicated
            percentiles = "p50 \(at(0.5)) ms, p90 \(at(0.9)) ms, p99 \(at(0.99)) ms, max \(sorted.last.map { String(format: "%.1f", $0) } ?? "-") ms"
        }
    }

    func report(expected: Int) -> Report {
        samples.withLock { Report(milliseconds: $0.milliseconds, expected: expected, duplicated: $0.duplicated) }
    }

    /// How long connecting took, with the daemon's CPU per connection when its pid was given.
    func printConnecting() {
        let (seconds, serverCPU) = connecting.withLock { $0 }
        var line = String(format: "  connected and subscribed: %d clients in %.2f s", runtimes.count, seconds)
        if let serverCPU {
            line += String(format: " (server CPU %.2f s, %.0f µs per client)", serverCPU, serverCPU * 1e6 / Double(runtimes.count))
        }
        print(line)
    }

    /// This process's memory per connected, observing runtime; and the daemon's per connection,
    /// when its pid was given.
    func printMemory() {
        if let before = ownKilobytesBefore, let connected = ownKilobytesConnected.withLock({ $0 }) {
            let perRuntime = Double(connected - before) * 1024 / Double(runtimes.count)
            print("  client RSS: \(before) kB before, \(connected) kB with \(runtimes.count) runtimes (\(Int(perRuntime)) B per runtime)")
        }
        guard let before = serverKilobytesBefore, let connected = serverKilobytesConnected.withLock({ $0 }) else { return }
        let perConnection = Double(connected - before) * 1024 / Double(runtimes.count)
        print("  server RSS: \(before) kB before, \(connected) kB with \(runtimes.count) clients (\(Int(perConnection)) B per connection)")
    }

    func close() async {
        for task in tasks.withLock({ $0 }) { task.cancel() }
        for runtime in runtimes { await runtime.close() }
    }

    // MARK: Helpers

    static func nanoseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
    }

    /// VmRSS of `pid`, in kB (nil when /proc does not have it).
    static func residentKilobytes(_ pid: Int32) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return nil }
        return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
    }

    /// User plus system CPU time `pid` has used so far, in seconds (nil when /proc does not have it).
    static func cpuSeconds(_ pid: Int32) -> Double? {
        // /proc/PID/stat: after the ")" that ends the command name, utime and stime are the 12th
        // and 13th fields, in clock ticks.
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// Raises the soft open-file limit to the hard one; returns the limit now in force.
    static func raiseOpenFileLimit() -> Int {
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        limit.rlim_cur = limit.rlim_max
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        return Int(clamping: limit.rlim_cur)
    }

    /// Polls `condition` every 100 ms for at most `seconds`; then fails with `failure`.
    static func eventually(seconds: Double, _ failure: String, _ condition: () async -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            if await condition() { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw HybridSyncCLI.BenchFailure(description: "\(failure) within \(Int(seconds)) s")
    }

    /// Whether `pid` still runs (a zombie does not: it only waits to be reaped).
    /// Whether any thread of `pid` still runs. A killed multi-threaded process shows its main thread
    /// as a zombie while the others still close its sockets (the file table goes with the last one),
    /// so every thread is checked, not only the main one.
    static func isRunning(_ pid: Int32) -> Bool {
        guard kill(pid, 0) == 0 else { return false }
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        return tasks.contains { task in
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return false }
            let state = stat[close...].dropFirst(2).first
            return state != "Z" && state != "X"
        }
    }

    /// One progress line on standard error, rewritten in place (nil ends it).
    static func progress(_ line: String?) {
        let text = line.map { "\r\u{1B}[K\($0)" } ?? "\r\u{1B}[K"
        FileHandle.standardError.write(Data(text.utf8))
    }
}

extension HybridSyncCLI {
    struct BenchFailure: Error, CustomStringConvertible {
        let description: String
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

/// A value behind an `NSLock` (a pthread mutex, which ThreadSanitizer understands; the standard
/// library's `Mutex` is invisible to it on Linux).
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) { self.value = value }

    func withLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
