public import Foundation
import Glibc

/// A `redis-server` of its own for a test, on 127.0.0.1 and a free port, with its data (by default
/// an append-only file, fsync on every write, so a `kill -9` loses nothing Redis acknowledged) and
/// log in a directory from ``makeTemporaryDirectory(_:)``, removed when the test process exits.
/// Stopped when the value is released. Needs `redis-server` on `PATH` (`make test` installs
/// Debian's `redis-server`).
public final class TestRedis: @unchecked Sendable {
    /// The port it listens on.
    public let port: Int
    /// Where its data lives.
    public let directory: URL
    private let lock = NSLock()
    /// The shell that runs redis-server and kills it (SIGKILL) when its standard input closes:
    /// when ``kill()`` closes `lifeline`, or when this process ends in any way, so no Redis
    /// outlives its test run.
    private var process: Process?
    private var lifeline: FileHandle?
    private let durable: Bool

    /// `127.0.0.1:<port>`, for `engine.redis.address`.
    public var address: String { "127.0.0.1:\(port)" }

    /// Why Redis could not be started.
    public struct Failure: Error, CustomStringConvertible {
        /// What went wrong, with Redis's last log lines when it did not start.
        public let description: String
    }

    /// Starts a Redis and waits (up to 10 s) until it accepts connections. With `durable: false` it
    /// keeps nothing on disk (no append-only file: faster, for tests that never kill it).
    public init(durable: Bool = true) throws {
        self.durable = durable
        port = try Self.freePort()
        directory = try makeTemporaryDirectory("hybridsync-redis")
        try launch()
    }

    deinit {
        kill()
    }

    /// Kills Redis with SIGKILL (no shutdown: what it acknowledged is in its append-only file) and
    /// waits until it is gone. Also how it stops when released (a SIGTERM shutdown takes Redis
    /// more than a second).
    public func kill() {
        lock.lock()
        let (running, line) = (process, lifeline)
        (process, lifeline) = (nil, nil)
        lock.unlock()
        try? line?.close()
        if let running { Self.waitForExit(running) }
    }

    /// Polls the process table: `Process.waitUntilExit()` spins a run loop and `isRunning` waits
    /// for Foundation to reap the child, either of which can hang off the main thread.
    @discardableResult
    private static func waitForExit(_ process: Process, seconds: Double = 10) -> Bool {
        let pid = process.processIdentifier
        for _ in 0..<Int(seconds * 500) {
            if !isAlive(pid) { return true }
            usleep(2_000)
        }
        return !isAlive(pid)
    }

    /// Whether `pid` runs (a zombie has exited: only its parent's reaping is left).
    private static func isAlive(_ pid: Int32) -> Bool {
        guard Glibc.kill(pid, 0) == 0 else { return false }
        // A plain read: Foundation's file reading sizes its buffer by stat, which is 0 for /proc.
        let fd = open("/proc/\(pid)/stat", O_RDONLY)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 512)
        let count = read(fd, &buffer, buffer.count)
        guard count > 0, let paren = buffer[..<count].lastIndex(of: UInt8(ascii: ")")), paren + 2 < count else { return false }
        return buffer[paren + 2] != UInt8(ascii: "Z")
    }

    /// Starts Redis again on the same port; with `keepingData: false` its files are removed first
    /// (a Redis that comes back empty).
    public func restart(keepingData: Bool = true) throws {
        kill()
        if !keepingData {
            for file in (try? FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)) ?? []
            where file.lastPathComponent != "redis.log" {
                try? FileManager.default.removeItem(at: file)
            }
        }
        try launch()
    }

    private func launch() throws {
        // Debian installs it in /usr/bin, which a minimal PATH may lack.
        guard let binary = executableOnPath("redis-server") ?? ["/usr/bin/redis-server"].first(where: FileManager.default.isExecutableFile(atPath:)) else {
            throw Failure(description: "redis-server is not on PATH: install Debian's redis-server (make test does)")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        let script = #"redis-server="$1"; shift; "$redis-server" "$@" & r=$!; cat >/dev/null; kill -9 $r; wait $r"#
            .replacingOccurrences(of: "redis-server", with: "binary")
        process.arguments = ["-c", script, "sh", binary,
            "--port", "\(port)", "--bind", "127.0.0.1", "--dir", directory.path, "--save", "",
            "--appendonly", durable ? "yes" : "no", "--appendfsync", "always", "--daemonize", "no", "--protected-mode", "no",
            "--logfile", directory.appendingPathComponent("redis.log").path,
        ]
        let pipe = Pipe()
        // Only the shell may hold the read end, and no other child the write end.
        _ = fcntl(pipe.fileHandleForWriting.fileDescriptor, F_SETFD, FD_CLOEXEC)
        _ = fcntl(pipe.fileHandleForReading.fileDescriptor, F_SETFD, FD_CLOEXEC)
        process.standardInput = pipe
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        try? pipe.fileHandleForReading.close()
        lock.lock()
        self.process = process
        lifeline = pipe.fileHandleForWriting
        lock.unlock()
        for _ in 0..<1000 {
            if Self.accepts(port: port) { return }
            guard process.isRunning else { break }
            usleep(10_000)
        }
        let log = (try? String(contentsOf: directory.appendingPathComponent("redis.log"), encoding: .utf8)) ?? ""
        throw Failure(description: "redis-server did not start on port \(port): \(log.suffix(500))")
    }

    /// A port the kernel just handed out on 127.0.0.1 (free a moment ago).
    private static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket() failed: errno \(errno)") }
        defer { close(fd) }
        var address = loopback(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw Failure(description: "bind() failed: errno \(errno)") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    private static func accepts(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = loopback(port: port)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }

    private static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        return address
    }
}
