/// Bounded concurrency and a circuit breaker for calls to one backend, pure on the caller's clock.
///
/// - At most `maxConcurrent` calls are in flight; one more is refused at once (not queued: a
///   queue would only move the wait into the client's timeout).
/// - After `failureThreshold` failures in a row the circuit **opens** for `openSeconds`: every call
///   is refused at once, so a dead backend costs nothing per command. Then one call is let through
///   (half-open): its success closes the circuit, its failure opens it again.
struct HookGate: Sendable {
    /// Why a call was not let through.
    enum Refusal: Equatable, Sendable {
        case tooManyInFlight(Int)
        case circuitOpen(until: Double)
    }

    let maxConcurrent: Int
    let failureThreshold: Int
    let openSeconds: Double
    private(set) var inFlight = 0
    private var failuresInARow = 0
    private var openUntil: Double?
    private var probing = false

    init(maxConcurrent: Int, failureThreshold: Int, openSeconds: Double) {
        self.maxConcurrent = maxConcurrent
        self.failureThreshold = failureThreshold
        self.openSeconds = openSeconds
    }

    /// Lets a call through at `now`, or says why not.
    mutating func admit(now: Double) -> Refusal? {
        if let until = openUntil, now < until || probing { return .circuitOpen(until: until) }
        guard inFlight < maxConcurrent else { return .tooManyInFlight(maxConcurrent) }
        if openUntil != nil { probing = true }  // half-open: this one call decides
        inFlight += 1
        return nil
    }

    /// An admitted call ended at `now`: `succeeded` false for a timeout, an error or a bad answer.
    mutating func finished(succeeded: Bool, now: Double) {
        inFlight -= 1
        if succeeded {
            failuresInARow = 0
            openUntil = nil
            probing = false
            return
        }
        failuresInARow += 1
        if probing || failuresInARow >= failureThreshold {
            openUntil = now + openSeconds
            probing = false
        }
    }

    /// Whether the circuit is open at `now`.
    func isOpen(now: Double) -> Bool { openUntil.map { now < $0 } ?? false }
}
