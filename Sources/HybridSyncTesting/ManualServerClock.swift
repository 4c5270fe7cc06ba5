public import HybridSyncServer
import NIOConcurrencyHelpers

/// A server clock that moves only when a test says so: both time bases together, the wall
/// clock from `start`, the monotonic one from 0.
public final class ManualServerClock: ServerClock {
    private let time: NIOLockedValueBox<(wall: Double, monotonic: Double)>

    /// Starts at `start` seconds since 1970 (default: 2026-01-01).
    public init(start: Double = 1_767_225_600) { time = NIOLockedValueBox((start, 0)) }

    /// Seconds since 1970 as the test has set them.
    public func now() -> Double { time.withLockedValue { $0.wall } }

    /// Seconds the test has advanced the clock.
    public func monotonic() -> Double { time.withLockedValue { $0.monotonic } }

    /// Moves time forward by `interval` seconds (both time bases).
    public func advance(by interval: Double) {
        time.withLockedValue {
            $0.wall += interval
            $0.monotonic += interval
        }
    }

    /// Steps the wall clock alone by `interval` seconds, either way, as NTP or an operator steps
    /// the system time: no time passes, and no timing rule may notice.
    public func stepWallClock(by interval: Double) {
        time.withLockedValue { $0.wall += interval }
    }
}
