import Synchronization
import Timekeeping

/// A token bucket that spaces requests to Digital River: at most `requestsPerSecond` on average, with bursts of at
/// most `burst` requests.
///
/// Digital River allows 25 requests/s per key in test mode and 250/s live (reference §2) and answers 429 beyond that;
/// pacing ourselves keeps the job from eating the budget that checkout and the service's own read-throughs share.
///
/// Callers reserve tokens and then sleep out their own deficit, so concurrent callers queue in arrival order without
/// a lock held across the sleep. A rate of 0 turns pacing off (the local sandbox benchmark only).
public final class RequestPacer: Sendable {
    /// Tokens per second; 0 means unlimited.
    public let requestsPerSecond: Double
    /// Most tokens that can be saved up (and so spent at once).
    public let burst: Double
    private let bucket: Mutex<TokenBucket?>
    private let sleep: @Sendable (Double) async -> Void
    private let now: @Sendable () -> Double

    /// - Parameters:
    ///   - requestsPerSecond: average rate; 0 or less disables pacing.
    ///   - burst: bucket size, at least 1. The bucket starts full.
    ///   - sleep / now: injectable for tests; default `Task.sleep` and the monotonic clock in seconds.
    public init(requestsPerSecond: Double, burst: Int = 1,
                sleep: @escaping @Sendable (Double) async -> Void = RequestPacer.taskSleep,
                now: @escaping @Sendable () -> Double = SystemClock.monotonicSeconds) {
        self.requestsPerSecond = max(0, requestsPerSecond)
        self.burst = Double(max(1, burst))
        self.sleep = sleep
        self.now = now
        bucket = Mutex(requestsPerSecond > 0 ? TokenBucket(rate: requestsPerSecond, capacity: Double(max(1, burst)), now: now()) : nil)
    }

    /// True when pacing is off.
    public var isUnlimited: Bool { requestsPerSecond <= 0 }

    /// Takes `count` tokens, waiting until they have accrued. A request for more than `burst` tokens is allowed; it
    /// simply waits longer (the bucket goes into debt, which later callers wait out too).
    public func acquire(_ count: Int = 1) async {
        guard !isUnlimited, count > 0 else { return }
        let current = now()
        let wait = bucket.withLock { $0?.reserve(Double(count), now: current) ?? 0 }
        if wait > 0 { await sleep(wait) }
    }

    /// `Task.sleep`, returning early (without throwing) when the task is cancelled.
    @Sendable public static func taskSleep(_ seconds: Double) async {
        let bounded = min(max(0, seconds), 86_400)
        try? await Task.sleep(nanoseconds: UInt64(bounded * 1_000_000_000))
    }
}
