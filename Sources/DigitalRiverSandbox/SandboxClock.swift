import Customers
import Timekeeping

/// Issues wall-clock times, in microseconds but on whole milliseconds (Digital River's documented resolution), that
/// strictly increase from one call to the next, so two changes made within the same millisecond still get distinct,
/// ordered `updatedTime`s (a cache's newest-wins rule depends on it). Not thread-safe on its own: it lives inside
/// the sandbox's locked state.
struct SandboxClock: Sendable {
    private(set) var lastIssued: Int64 = .min

    /// The current millisecond, or one millisecond past the previous result when the wall clock has not moved on
    /// (or went backwards).
    mutating func next() -> Int64 {
        let now = millisecondAligned(Self.wallMicroseconds())
        lastIssued = lastIssued == .min ? now : max(now, lastIssued + 1_000)
        return lastIssued
    }

    /// Makes every later `next()` exceed `time` (used after seeding).
    mutating func advance(past time: Int64) {
        if lastIssued == .min || lastIssued < time { lastIssued = millisecondAligned(time) }
    }

    /// Microseconds since the Unix epoch (the package's one wall clock).
    static func wallMicroseconds() -> Int64 {
        SystemClock.wallMicroseconds()
    }

    /// Unix seconds from the realtime clock (signature timestamps).
    static func wallSeconds() -> Int64 {
        wallMicroseconds() / 1_000_000
    }
}

/// `2024-05-01T12:00:00.123Z`: always three fraction digits (Digital River's documented objects show milliseconds,
/// e.g. `2022-10-12T14:58:11.632Z`), so every time the sandbox writes has one shape and sorts as text in time order.
/// Sub-millisecond digits are truncated; the sandbox only issues whole milliseconds.
func sandboxTimeString(_ microseconds: Int64) -> String {
    let text = Timestamp.string(fromMicroseconds: millisecondAligned(microseconds))
    guard let dot = text.firstIndex(of: ".") else { return String(text.dropLast()) + ".000Z" }
    let fraction = text[text.index(after: dot)...].dropLast()
    return String(text[..<dot]) + "." + String(fraction.prefix(3)) + "Z"
}

/// Rounds a microsecond time down to its millisecond.
func millisecondAligned(_ microseconds: Int64) -> Int64 {
    microseconds - ((microseconds % 1_000) + 1_000) % 1_000
}
