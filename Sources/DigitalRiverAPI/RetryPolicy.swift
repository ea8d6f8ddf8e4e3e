import Customers
import Timekeeping

/// Which failures may be repeated for a given call, and how long to wait first. Pure: no clock, no randomness of its
/// own, so every rule is testable without I/O.
struct RetryPolicy: Sendable, Hashable {
    /// How safe it is to send the same request again after an answer was lost.
    enum Replay: Sendable, Hashable {
        /// Repeating cannot do harm: GETs; updates (the same body leaves the same state); creates that carry the
        /// caller's own `id` (a replay of a create DR already applied comes back as a conflict on that id, which the
        /// caller can recognise, rather than as a second customer).
        case always
        /// Repeat only when DR certainly did not act on the request: a create without an `id` would make DR mint a
        /// second customer on replay, so it is retried only after 429 or a connection that never opened.
        case onlyIfNotProcessed
    }

    var maxAttempts: Int
    var initialBackoffSeconds: Double
    var maxBackoffSeconds: Double
    var maxRetryAfterSeconds: Double

    init(maxAttempts: Int, initialBackoffSeconds: Double, maxBackoffSeconds: Double, maxRetryAfterSeconds: Double) {
        self.maxAttempts = max(1, maxAttempts)
        self.initialBackoffSeconds = max(0, initialBackoffSeconds)
        self.maxBackoffSeconds = max(0, maxBackoffSeconds)
        self.maxRetryAfterSeconds = max(0, maxRetryAfterSeconds)
    }

    init(_ configuration: DigitalRiverClientConfiguration) {
        self.init(maxAttempts: configuration.maxAttempts, initialBackoffSeconds: configuration.initialBackoffSeconds,
                  maxBackoffSeconds: configuration.maxBackoffSeconds,
                  maxRetryAfterSeconds: configuration.maxRetryAfterSeconds)
    }

    /// Statuses that say "try again later". 429 is refused before any processing, so it is always safe; the 5xx set is
    /// what gateways and overloaded servers send, but the request may have been applied, so replay must be safe.
    /// 501 and 505 are permanent, and other 4xx would fail identically again.
    func mayRetry(status: Int, replay: Replay) -> Bool {
        switch status {
        case 429: return true
        case 500, 502, 503, 504: return replay == .always
        default: return false
        }
    }

    /// A connection that never opened sent nothing; a lost connection or a timeout may hide a processed request.
    func mayRetry(_ kind: TransportError.Kind, replay: Replay) -> Bool {
        switch kind {
        case .connectionFailed: return true
        case .connectionLost, .timedOut: return replay == .always
        case .cancelled, .responseTooLarge, .other: return false
        }
    }

    /// The largest full-jitter delay after failed attempt `attempt` (1-based): `initial * 2^(attempt-1)`, capped.
    func backoffCeiling(afterAttempt attempt: Int) -> Double {
        RetrySchedule.delay(afterFailures: attempt, first: initialBackoffSeconds, maximum: maxBackoffSeconds)
    }

    /// What to do after failed attempt `attempt`.
    enum Decision: Sendable, Hashable {
        case retry(afterSeconds: Double)
        /// No attempts left.
        case exhausted
        /// DR asked for a longer pause than we are willing to sit out.
        case retryAfterTooLong
    }

    /// `unitRandom` is uniform in 0...1 (the jitter); `retryAfter` is the server's wish in seconds, which wins over
    /// backoff because DR states how long its limit lasts (reference §2, RATE).
    func decide(afterAttempt attempt: Int, retryAfter: Double?, unitRandom: Double) -> Decision {
        guard attempt < maxAttempts else { return .exhausted }
        if let retryAfter {
            guard retryAfter <= maxRetryAfterSeconds else { return .retryAfterTooLong }
            return .retry(afterSeconds: max(0, retryAfter))
        }
        let jitter = min(1, max(0, unitRandom))
        return .retry(afterSeconds: backoffCeiling(afterAttempt: attempt) * jitter)
    }

    /// Seconds to wait according to a `Retry-After` value (RFC 9110 §10.2.3): a non-negative integer, or an
    /// IMF-fixdate such as `Sun, 06 Nov 1994 08:49:37 GMT` (measured against `now`, seconds since the epoch; a past
    /// date means "now"). nil for anything else, so a garbled header falls back to ordinary backoff.
    static func retryAfterSeconds(_ value: String, now: Double) -> Double? {
        let text = value.trimmingASCIIWhitespace()
        if !text.isEmpty, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) {
            // Very long digit strings overflow Int; they mean "a very long time", which the cap turns away anyway.
            return Double(text) ?? Double.greatestFiniteMagnitude
        }
        guard let date = imfFixdateSeconds(text) else { return nil }
        return max(0, date - now)
    }

    /// Parses `Sun, 06 Nov 1994 08:49:37 GMT` to seconds since the epoch.
    static func imfFixdateSeconds(_ text: String) -> Double? {
        let parts = text.split(separator: " ")
        guard parts.count == 6, parts[0].count == 4, parts[0].hasSuffix(","), parts[5] == "GMT",
              parts[1].count == 2, let day = Int(parts[1]), let year = Int(parts[3]), parts[3].count == 4,
              let month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
                  .firstIndex(of: String(parts[2])).map({ $0 + 1 })
        else { return nil }
        let clock = parts[4].split(separator: ":")
        guard clock.count == 3, clock.allSatisfy({ $0.count == 2 }),
              let hour = Int(clock[0]), let minute = Int(clock[1]), let second = Int(clock[2]),
              (1...31).contains(day), hour < 24, minute < 60, second < 61
        else { return nil }
        let days = Int(CivilCalendar.daysFromCivil(year: Int64(year), month: Int64(month), day: Int64(day)))
        return Double(days * 86_400 + hour * 3_600 + minute * 60 + second)
    }
}
