/// Full-jitter exponential backoff: the delay before attempt `n` (0-based) is uniform in
/// `0 ... min(maximum, initial * multiplier^n)`. Spreads reconnect storms after a server restart.
public struct BackoffPolicy: Sendable, Equatable {
    /// The first wait before reconnecting.
    public var initial: Duration
    /// The longest wait, however many attempts failed.
    public var maximum: Duration
    /// How much each failed attempt multiplies the wait by.
    public var multiplier: Double

    /// A ceiling of 0.5 s for the first attempt, doubling up to 20 s by default (docs/CLIENT.md).
    public init(initial: Duration = .milliseconds(500), maximum: Duration = .seconds(20), multiplier: Double = 2) {
        self.initial = initial
        self.maximum = maximum
        self.multiplier = multiplier
    }

    /// The upper bound of the delay before attempt `attempt`.
    public func ceiling(attempt: Int) -> Duration {
        let initialSeconds = Self.seconds(initial)
        let capped = min(Self.seconds(maximum), initialSeconds * pow(multiplier, Double(max(0, attempt))))
        return .milliseconds(Int64((capped * 1000).rounded()))
    }

    /// A jittered delay before attempt `attempt`, drawn from `generator`.
    public func delay(attempt: Int, using generator: inout some RandomNumberGenerator) -> Duration {
        let ceilingMilliseconds = Int64(Self.seconds(ceiling(attempt: attempt)) * 1000)
        return .milliseconds(Int64.random(in: 0...max(0, ceilingMilliseconds), using: &generator))
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    private func pow(_ base: Double, _ exponent: Double) -> Double {
        var result = 1.0
        for _ in 0..<Int(min(exponent, 64)) { result *= base }
        return result
    }
}
