public import Foundation
import Glibc
import Synchronization

/// The directories ``makeTemporaryDirectory(_:)`` handed out, removed when the process exits.
private let directoriesToRemove = Mutex<[URL]>([])
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
    directoriesToRemove.withLock { $0.append(directory) }
    return directory
}

private func removeTemporaryDirectories() {
    guard ProcessInfo.processInfo.environment[keepTestFilesVariable] != "1" else { return }
    for directory in directoriesToRemove.withLock({ $0 }) {
        try? FileManager.default.removeItem(at: directory)
    }
}
