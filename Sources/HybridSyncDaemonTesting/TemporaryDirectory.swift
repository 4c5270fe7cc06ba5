public import Foundation
import Glibc

/// The directories ``makeTemporaryDirectory(_:)`` handed out, removed when the process exits
/// (guarded by an `NSLock`: ThreadSanitizer does not see the standard library's `Mutex` on Linux).
nonisolated(unsafe) private var directoriesToRemove: [URL] = []
private let directoriesLock = NSLock()
private let removalAtExit: Void = { atexit { removeTemporaryDirectories() } }()

/// Set to `1` to keep every temporary directory of a test run (a daemon's log and database, a
/// Redis's log) for reading after a failure.
private let keepTestFilesVariable = "KEEP_HYBRIDSYNC_TEST_FILES"

/// A new directory under the system's temporary directory, named `<prefix>-<UUID>`, that is
/// removed with everything in it when the process exits normally (`exit` or the end of `main`, as
/// `swift test` ends). ``TestDaemon`` and ``TestRedis`` keep their files in one, so a test run
/// leaves nothing behind; set `KEEP_HYBRIDSYNC_TEST_FILES=1` to keep them.
public func makeTemporaryDirectory(_ prefix: String) throws -> URL {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    _ = removalAtExit
    directoriesLock.withLock { directoriesToRemove.append(directory) }
    return directory
}

private func removeTemporaryDirectories() {
    guard ProcessInfo.processInfo.environment[keepTestFilesVariable] != "1" else { return }
    for directory in directoriesLock.withLock({ directoriesToRemove }) {
        try? FileManager.default.removeItem(at: directory)
    }
}
