import Foundation

/// A value behind a pthread mutex (Foundation's `NSLock`).
///
/// Used where one side of the lock is a plain thread (the lws service thread) rather than Swift
/// concurrency: ThreadSanitizer understands pthread mutexes, while the standard library's `Mutex`
/// is invisible to it there and every access it protects is reported as a race.
final class PThreadLock<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) { self.value = value }

    func withLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
