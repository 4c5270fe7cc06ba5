import Foundation

/// Wall-clock time in seconds since 1970, as JWT `exp`/`nbf` use. Injected so tests can move time.
public protocol WallClock: Sendable {
    /// Seconds since 1970.
    func now() -> Double
}

/// The system's real time.
public struct SystemWallClock: WallClock {
    /// The system's clock.
    public init() {}
    /// Seconds since 1970, from the system.
    public func now() -> Double { Date().timeIntervalSince1970 }
}
