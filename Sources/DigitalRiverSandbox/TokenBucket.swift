/// Digital River's per-key request rate limit (reference §2: 25/s test, 250/s live) as a token bucket holding at
/// most `rate` tokens and refilled at `rate` per second. Not thread-safe; the sandbox keeps it behind a lock.
struct TokenBucket: Sendable {
    let rate: Int
    private var tokens: Double
    private var lastRefill: Int64

    /// `now` in microseconds on any monotonic clock.
    init(rate: Int, now: Int64) {
        self.rate = max(1, rate)
        tokens = Double(self.rate)
        lastRefill = now
    }

    /// Takes a token; when none is left, answers the whole seconds until one will be (at least 1) for `Retry-After`.
    mutating func take(now: Int64) -> Int? {
        let elapsed = Double(max(0, now - lastRefill)) / 1_000_000
        tokens = min(Double(rate), tokens + elapsed * Double(rate))
        lastRefill = now
        if tokens >= 1 {
            tokens -= 1
            return nil
        }
        let wait = (1 - tokens) / Double(rate)
        return max(1, Int(wait.rounded(.up)))
    }
}
