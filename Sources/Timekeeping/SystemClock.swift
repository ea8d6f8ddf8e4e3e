#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The package's one clock: wall time for what leaves the process (timestamps, signatures, `Retry-After` dates) and
/// monotonic time for intervals (timeouts, pacing), which wall-clock steps cannot move. Components take the readings
/// they need as closures whose defaults are these, so tests inject their own.
public enum SystemClock {
    /// Microseconds since the Unix epoch (CLOCK_REALTIME).
    @Sendable public static func wallMicroseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1_000_000 + Int64(now.tv_nsec) / 1_000
    }

    /// Seconds since the Unix epoch, with a fraction.
    @Sendable public static func wallSeconds() -> Double {
        Double(wallMicroseconds()) / 1_000_000
    }

    /// Nanoseconds on the monotonic clock (CLOCK_MONOTONIC; its origin is arbitrary).
    @Sendable public static func monotonicNanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }

    /// Milliseconds on the monotonic clock.
    @inline(__always) public static func monotonicMilliseconds() -> Int {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return now.tv_sec * 1000 + now.tv_nsec / 1_000_000
    }

    /// Seconds on the monotonic clock, with a fraction.
    @Sendable public static func monotonicSeconds() -> Double {
        Double(monotonicNanoseconds()) / 1_000_000_000
    }
}
