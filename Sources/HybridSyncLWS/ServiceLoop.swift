import CLibEV
import CLibWebSockets
import Foundation
import Synchronization

/// One lws context serviced by one dedicated thread (Debian's lws is built with LWS_MAX_SMP=1).
///
/// Work from other threads goes through ``execute(_:)``: it is queued under a lock and the service
/// thread is woken with `lws_cancel_service`, the only lws call that is safe from another thread.
/// The owner drains the queue from `LWS_CALLBACK_EVENT_WAIT_CANCELLED` by calling ``drain()``.
final class ServiceLoop: @unchecked Sendable {
    private struct Shared {
        var jobs: [@Sendable () -> Void] = []
        /// Set (under the lock) before the context is destroyed, so nobody wakes a dead context.
        var stopped = false
    }

    private let shared = PThreadLock(Shared())
    private let stopRequested = Atomic<Bool>(false)
    private let finished = DispatchSemaphore(value: 0)
    private let name: String
    private let isServiceThread = PThreadLock<pthread_t?>(nil)
    /// Written once before the thread starts; read-only afterwards.
    private var context: OpaquePointer?
    /// Runs on the service thread after the context is destroyed (frees what lws borrowed).
    private var onExit: () -> Void = {}
    /// Runs on the service thread after every turn of the event loop; true: more work is due now.
    private var afterTurn: (_ serviceSeconds: Double) -> Bool = { _ in false }
    /// The libev loop lws runs on, if ``makeEventLoop()`` made one: epoll, so a turn costs what is
    /// ready. Without it lws 4.1 polls every socket on every turn (4 ms at 9,000 sockets here).
    private var eventLoop: UnsafeMutableRawPointer?

    /// `name` is the thread's, in `ps -L`, `top -H` and profiles: at most 15 bytes (Linux's limit).
    init(name: String) {
        precondition(name.utf8.count <= 15, "a thread name has at most 15 bytes")
        self.name = name
    }

    /// A libev loop for the context about to be created (lws's `foreign_loops`, with
    /// `LWS_SERVER_OPTION_LIBEV`); the loop runs it from then on. Nil when libev cannot make one.
    func makeEventLoop() -> UnsafeMutableRawPointer? {
        eventLoop = hs_ev_loop_new()
        return eventLoop
    }

    /// Whether the event loop waits with epoll (false: lws's own poll of every socket).
    var usesEpoll: Bool { eventLoop.map { hs_ev_uses_epoll($0) != 0 } ?? false }

    /// Destroys `context` (once its thread has stopped, or after a failed start; nil: none was
    /// made) and the event loop made for it.
    func destroy(_ context: OpaquePointer?) {
        if let context { lws_context_destroy(context) }
        if let eventLoop { hs_ev_loop_destroy(eventLoop) }
        eventLoop = nil
    }

    /// Starts servicing `context` on a new thread; `afterTurn` runs on it after each turn of the
    /// event loop (one poll and the callbacks it caused) with the seconds that turn took, and returns
    /// whether work is left for now (then the next poll does not wait); `onExit` runs after the
    /// context is destroyed.
    func start(context: OpaquePointer, afterTurn: @escaping (_ serviceSeconds: Double) -> Bool = { _ in false }, onExit: @escaping () -> Void) {
        self.context = context
        self.afterTurn = afterTurn
        self.onExit = onExit
        Thread { [self] in run() }.start()
    }

    /// Runs `work` on the service thread, soon. Dropped if the loop has stopped.
    func execute(_ work: @escaping @Sendable () -> Void) {
        shared.withLock { state in
            guard !state.stopped, let context else { return }
            state.jobs.append(work)
            lws_cancel_service(context)
        }
    }

    /// Whether work was queued with ``execute(_:)`` that has not run yet (service thread: someone waits).
    var hasQueuedWork: Bool { shared.withLock { !$0.jobs.isEmpty } }

    /// Whether the caller runs on this loop's service thread (for confinement assertions).
    var isCurrentThread: Bool { isServiceThread.withLock { $0.map { pthread_equal($0, pthread_self()) != 0 } ?? false } }

    /// Runs the queued jobs. Call on the service thread only; safe to call more than once per wake-up.
    func drain() {
        let jobs = shared.withLock { state in
            let jobs = state.jobs
            state.jobs.removeAll()
            return jobs
        }
        for job in jobs { job() }
    }

    /// Asks the loop to end, waits until the thread has destroyed the context. Blocks the caller,
    /// unless the caller is the service thread itself (then the loop ends when the callback returns).
    func stopAndWait() {
        if isServiceThread.withLock({ $0 == pthread_self() }) {
            stopRequested.store(true, ordering: .sequentiallyConsistent)
            return
        }
        let alreadyStopped = shared.withLock { state in
            if state.stopped { return true }
            stopRequested.store(true, ordering: .sequentiallyConsistent)
            if let context { lws_cancel_service(context) }
            return false
        }
        if !alreadyStopped { finished.wait() }
    }

    /// `CLOCK_MONOTONIC` in seconds.
    static func monotonicSeconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }

    private func run() {
        guard let context else { return }
        isServiceThread.withLock { $0 = pthread_self() }
        Thread.current.name = name  // set from the thread itself: only then does it reach the OS
        var workLeft = false
        while !stopRequested.load(ordering: .sequentiallyConsistent) {
            let start = Self.monotonicSeconds()
            if let eventLoop {
                hs_ev_run_once(eventLoop, workLeft ? 1 : 0)
            } else if lws_service(context, workLeft ? -1 : 0) < 0 {  // -1: poll without waiting (lws 4.1)
                break
            }
            workLeft = afterTurn(Self.monotonicSeconds() - start)
        }
        shared.withLock { $0.stopped = true }
        drain()
        destroy(context)
        onExit()
        onExit = {}  // they capture the loop's owner: keeping them would be a reference cycle
        afterTurn = { _ in false }
        finished.signal()
    }
}

/// A C string that lives as long as its owner, for lws fields that keep the pointer.
final class CStringBox {
    let pointer: UnsafeMutablePointer<CChar>
    init(_ string: String) { pointer = strdup(string)! }
    deinit { free(pointer) }
}
