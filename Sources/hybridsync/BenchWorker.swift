import Foundation

/// A `hybridsync bench avalanche-worker` child process: its `ready` line and its samples (the
/// wall-clock nanoseconds at which each of its clients held the new value). Closing its standard
/// input ends it.
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

    var isReady: Bool { state.withLock { $0.ready } }
    var samples: [Int64] { state.withLock { $0.samples } }

    func stop() {
        try? input.fileHandleForWriting.close()
    }
}
