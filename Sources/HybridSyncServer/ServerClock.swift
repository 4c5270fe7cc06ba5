import Foundation

/// The server's two time bases, injected together so a test moves both at once.
///
/// Every timing rule runs on ``monotonic()``: the connect timeout, ping/pong, token expiry once a
/// session holds a token, the command and API rate buckets, the tick. Wall-clock time,
/// ``now()``, is only for what the world dates: JWT `exp`/`nbf`, a ban's `until`, the timestamps
/// the storage engine keeps (history TTL, idempotency windows) and the ones the API shows. A
/// wall-clock step (NTP, an operator) then never fires or holds back a timeout.
public protocol ServerClock: Sendable {
    /// Seconds since 1970.
    func now() -> Double
    /// Seconds on a clock that only moves forward, at the rate of real time, whatever the system
    /// time does; its origin is arbitrary.
    func monotonic() -> Double
}

extension ServerClock {
    /// The wall-clock time of the monotonic instant `instant`, as seen now.
    func wallTime(ofMonotonic instant: Double) -> Double {
        now() - (monotonic() - instant)
    }

    /// The monotonic instant at which the wall clock will show `wallTime`, as seen now.
    func monotonic(atWallTime wallTime: Double) -> Double {
        monotonic() + (wallTime - now())
    }
}

/// The system's clocks: `Date` for the wall, `ContinuousClock` for the monotonic one.
public struct SystemClock: ServerClock {
    private let origin = ContinuousClock.now

    /// The system's clocks.
    public init() {}

    /// Seconds since 1970, from the system.
    public func now() -> Double { Date().timeIntervalSince1970 }

    /// Seconds since this clock was made, on `ContinuousClock`.
    public func monotonic() -> Double {
        let elapsed = (ContinuousClock.now - origin).components
        return Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18
    }
}
