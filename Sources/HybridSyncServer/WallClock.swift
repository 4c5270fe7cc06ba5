import Foundation

/// Wall-clock time in seconds since 1970, as JWT `exp`/`nbf` use. Injected so tests can move time.
public protocol WallClock: Sendable {
    func now() -> Double
}

/// The system's real time.
public struct SystemWallClock: WallClock {
    public init() {}
    public func now() -> Double { Date().timeIntervalSince1970 }
}
