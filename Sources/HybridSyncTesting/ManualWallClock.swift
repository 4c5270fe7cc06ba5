public import HybridSyncServer
import NIOConcurrencyHelpers

/// A wall clock that moves only when a test says so.
public final class ManualWallClock: WallClock {
    private let seconds: NIOLockedValueBox<Double>

    /// Starts at `start` seconds since 1970 (default: 2026-01-01).
    public init(start: Double = 1_767_225_600) { seconds = NIOLockedValueBox(start) }

    /// Seconds since 1970 as the test has set them.
    public func now() -> Double { seconds.withLockedValue { $0 } }

    /// Moves time forward by `interval` seconds.
    public func advance(by interval: Double) { seconds.withLockedValue { $0 += interval } }
}
