import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

extension URLSession {
    /// `data(for:)` made safe to cancel on Linux. swift-corelibs-foundation (Swift 6.3.x) has two
    /// bugs there: `data(for:)` cancels the transfer from inside the task's cancellation handler,
    /// which holds the task's status lock while it waits for the session's work queue, while the work
    /// queue waits for that lock to resume the request (swift-corelibs-foundation issue 5412: once
    /// hit, every later request of the process waits forever); and `URLSessionTask.cancel()` on a
    /// transfer that has just completed stops the process ("a task that in not in the registry").
    /// So a cancelled caller is answered at once with `CancellationError`, and its transfer is never
    /// cancelled: it ends by itself (its answer, or the request's timeout) and is dropped.
    func cancellableData(for request: URLRequest) async throws -> (Data, URLResponse) {
        let transfer = Transfer()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                guard transfer.wait(continuation) else { return }
                dataTask(with: request) { data, response, error in
                    if let data, let response {
                        transfer.finish(.success((data, response)))
                    } else {
                        transfer.finish(.failure(error ?? URLError(.badServerResponse)))
                    }
                }.resume()
            }
        } onCancel: {
            transfer.finish(.failure(CancellationError()))
        }
    }
}

/// The caller of one transfer, answered once: by the transfer or by the caller's cancellation,
/// whichever comes first (the cancellation may come before the caller waits).
private final class Transfer: @unchecked Sendable {
    private let lock = NSLock()
    private var waiter: CheckedContinuation<(Data, URLResponse), any Error>?
    private var early: Result<(Data, URLResponse), any Error>?
    private var answered = false

    /// False (and the caller answered) when the answer is in already.
    func wait(_ continuation: CheckedContinuation<(Data, URLResponse), any Error>) -> Bool {
        lock.lock()
        guard let early else {
            waiter = continuation
            lock.unlock()
            return true
        }
        lock.unlock()
        continuation.resume(with: early)
        return false
    }

    func finish(_ result: Result<(Data, URLResponse), any Error>) {
        lock.lock()
        guard !answered else { return lock.unlock() }
        answered = true
        let waiter = waiter
        if waiter == nil { early = result }
        self.waiter = nil
        lock.unlock()
        waiter?.resume(with: result)
    }
}
