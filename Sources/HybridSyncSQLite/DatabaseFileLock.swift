#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Exclusive ownership of one SQLite database by one daemon: an advisory `flock` on `<path>.lock`,
/// held for the broker's lifetime and released by the kernel when the process ends in any way
/// (`kill -9` included), so a stale lock file never keeps a restarted daemon out.
///
/// Why a lock of our own: SQLite's locks only serialise single transactions. Two daemons on one
/// file would each keep their own image of the streams in memory and overwrite each other's
/// acknowledged writes. Why a separate file: a `flock` on the database itself would share the file
/// with SQLite's POSIX locks, which closing any other descriptor of the file releases.
///
/// The holder writes `pid <n> host <name> since <ISO 8601 time>` into the file, so the one refused
/// can say who holds it.
final class DatabaseFileLock {
    let path: String
    private let descriptor: Int32

    /// Takes the lock for `databasePath`, or throws saying who holds it.
    init(databasePath: String) throws(DatabaseFileLockError) {
        path = databasePath + ".lock"
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw DatabaseFileLockError(lockPath: path, holder: nil, reason: String(cString: strerror(errno)))
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let reason = errno == EWOULDBLOCK ? nil : String(cString: strerror(errno))
            let holder = Self.readHolder(descriptor)
            close(descriptor)
            throw DatabaseFileLockError(lockPath: path, holder: holder, reason: reason)
        }
        self.descriptor = descriptor
        let stamp = ISO8601DateFormatter().string(from: Date())
        var name = [CChar](repeating: 0, count: 256)
        _ = gethostname(&name, name.count - 1)
        let holder = "pid \(getpid()) host \(String(cString: name)) since \(stamp)\n"
        _ = ftruncate(descriptor, 0)
        _ = holder.withCString { pwrite(descriptor, $0, strlen($0), 0) }
    }

    deinit {
        // The file stays: removing it would let a third daemon lock a new inode while a second
        // still waits on the old one.
        close(descriptor)
    }

    private static func readHolder(_ descriptor: Int32) -> String? {
        var buffer = [UInt8](repeating: 0, count: 256)
        let count = pread(descriptor, &buffer, buffer.count, 0)
        guard count > 0 else { return nil }
        let text = String(decoding: buffer[..<count], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? nil : text
    }
}

/// The database is held by another daemon (or its lock file cannot be opened).
struct DatabaseFileLockError: Error, CustomStringConvertible {
    /// The lock file.
    let lockPath: String
    /// What the holder wrote into the lock file (`pid … host … since …`), when readable.
    let holder: String?
    /// Set when the lock could not be tried at all (permissions, a read-only disk).
    let reason: String?

    var description: String {
        if let reason { return "cannot lock '\(lockPath)': \(reason)" }
        return "'\(lockPath)' is held by another hybridsyncd (\(holder ?? "holder unknown"))"
    }
}
