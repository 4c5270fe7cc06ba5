import Foundation

/// A `hybridsync bench worker` child process: its `ready` line and its samples (the wall-clock
/// nanoseconds at which each of its clients saw what the scenario waits for). Closing its
/// standard input ends it.
final class BenchWorker: Sendable {
    private struct State {
        var ready = false
        var samples: [Int64] = []
    }

    private let process = Process()
    private let input = Pipe()
    private let state = Locked(State())

    init(arguments: [String]) throws {
        let output = Pipe()
        process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        process.arguments = arguments
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let reader = output.fileHandleForReading
        Thread.detachNewThread { [state] in
            var buffer = Data()
            while true {
                let chunk = reader.availableData
                if chunk.isEmpty { return }
                buffer.append(chunk)
                while let newline = buffer.firstIndex(of: 0x0A) {
                    let line = String(decoding: buffer[..<newline], as: UTF8.self)
                    buffer.removeSubrange(...newline)
                    let words = line.split(separator: " ")
                    state.withLock { state in
                        if line == "ready" { state.ready = true }
                        if words.first == "sample", words.count == 3, let time = Int64(words[2]) { state.samples.append(time) }
                    }
                }
            }
        }
    }

    /// `processes` workers sharing `options.clients` for `scenario`; returns once every one is ready.
    static func start(
        _ options: HybridSyncCLI.BenchOptions, processes: Int, scenario: String, _ extra: [String]
    ) async throws -> [BenchWorker] {
        let share = options.clients / processes
        var workers: [BenchWorker] = []
        for index in 0..<processes {
            let count = index == processes - 1 ? options.clients - share * (processes - 1) : share
            workers.append(try BenchWorker(arguments: [
                "bench", "worker", "--scenario", scenario, "--clients", String(count), "--url=\(options.url)", "--secret=\(options.secret)",
                "--source-addresses", String(options.sourceAddresses),
            ] + (options.allowSelfSigned ? ["--allow-self-signed"] : []) + extra))
        }
        do {
            try await BenchClients.eventually(seconds: 600, "the bench workers did not connect their clients") {
                workers.allSatisfy(\.isReady)
            }
        } catch {
            for worker in workers { worker.stop() }
            throw error
        }
        return workers
    }

    /// Every worker's samples once there are `expected` or `timeout` passed, with a progress line.
    static func collect(_ workers: [BenchWorker], expected: Int, timeout: Duration, _ line: (Int) -> String) async -> [Int64] {
        await BenchClients.waitForCount(expected, timeout: timeout, line) { workers.reduce(0) { $0 + $1.samples.count } }
        return workers.flatMap(\.samples)
    }

    var isReady: Bool { state.withLock { $0.ready } }
    var samples: [Int64] { state.withLock { $0.samples } }

    func stop() {
        try? input.fileHandleForWriting.close()
    }
}
