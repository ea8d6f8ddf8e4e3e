import Customers
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Issues wall-clock times in microseconds that strictly increase from one call to the next, so two changes
/// made within the same microsecond still get distinct, ordered `updatedTime`s (a cache's newest-wins rule
/// depends on it). Not thread-safe on its own: it lives inside the sandbox's locked state.
struct SandboxClock: Sendable {
    private(set) var lastIssued: Int64 = .min

    /// The current time, or one microsecond past the previous result when the wall clock has not moved on
    /// (or went backwards).
    mutating func next() -> Int64 {
        let now = Self.wallMicroseconds()
        lastIssued = lastIssued == .min ? now : max(now, lastIssued + 1)
        return lastIssued
    }

    /// Makes every later `next()` exceed `time` (used after seeding).
    mutating func advance(past time: Int64) {
        if lastIssued == .min || lastIssued < time { lastIssued = time }
    }

    /// Microseconds since the Unix epoch from the realtime clock.
    static func wallMicroseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1_000_000 + Int64(now.tv_nsec) / 1_000
    }

    /// Unix seconds from the realtime clock (signature timestamps).
    static func wallSeconds() -> Int64 {
        wallMicroseconds() / 1_000_000
    }
}

/// `2024-05-01T12:00:00.000000Z`: always six fraction digits, so every time the sandbox writes has the same
/// shape and sorts as text in time order.
func sandboxTimeString(_ microseconds: Int64) -> String {
    let text = Timestamp.string(fromMicroseconds: microseconds)
    guard !text.contains(".") else { return text }
    return String(text.dropLast()) + ".000000Z"
}
