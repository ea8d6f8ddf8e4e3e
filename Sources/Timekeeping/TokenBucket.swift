/// The package's one token bucket: at most `capacity` tokens, refilled at `rate` per second, read against a
/// monotonic time in seconds the caller passes (so it has no clock and no lock of its own, and tests drive it).
/// The warm job's pacer reserves from it, going into debt that later callers wait out; the emulator's rate limit
/// takes from it or refuses.
public struct TokenBucket: Sendable {
    /// Tokens added per second; more than 0.
    public let rate: Double
    /// Most tokens saved up, and the bucket's starting fill.
    public let capacity: Double
    public private(set) var tokens: Double
    private var last: Double

    public init(rate: Double, capacity: Double, now: Double) {
        precondition(rate > 0, "a token bucket needs a positive rate")
        self.rate = rate
        self.capacity = max(1, capacity)
        tokens = self.capacity
        last = now
    }

    private mutating func refill(_ now: Double) {
        tokens = min(capacity, tokens + max(0, now - last) * rate)
        last = max(last, now)
    }

    /// Takes `count` tokens whether or not they are there yet, and answers the seconds until the debt is paid
    /// (0 when they were there).
    public mutating func reserve(_ count: Double, now: Double) -> Double {
        refill(now)
        tokens -= count
        return tokens >= 0 ? 0 : -tokens / rate
    }

    /// Takes one token if there is one (nil); otherwise takes nothing and answers the seconds until one will be there.
    public mutating func take(now: Double) -> Double? {
        refill(now)
        guard tokens < 1 else {
            tokens -= 1
            return nil
        }
        return (1 - tokens) / rate
    }
}
