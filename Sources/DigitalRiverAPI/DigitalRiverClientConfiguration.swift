/// How `listCustomers(updatedSince:)` puts the lower bound on the wire.
///
/// Reference §7.12: DR documents `updatedTime` as either a date-time or a map of `eq/gt/gte/lt/lte`, but never shows
/// how the map is encoded. Both candidates are offered so the choice can be tested against DR's test environment
/// without a code change.
public enum UpdatedTimeFilterStyle: String, Sendable, Hashable, CaseIterable {
    /// `updatedTime%5Bgte%5D=<T>` (that is, `updatedTime[gte]=<T>` percent-encoded, as PHP's and Guzzle's query
    /// builders send maps): customers updated at or after T. The default, because it is the only encoding whose
    /// meaning is unambiguously "since".
    case bracketed
    /// `updatedTime=<T>`: DR documents a plain date-time here, which most likely means *exactly* T rather than "since
    /// T"; offered only to find out what DR does with it.
    case plain
}

/// How to reach Digital River and how hard to try: timeouts, retries, backoff and concurrency.
///
/// Retries cover 429, 500/502/503/504, connection failures and timeouts (POSTs only where replaying is safe; see
/// `DigitalRiverClient`). The wait before retry `n` (1-based) is a uniformly random delay in
/// `0 ... min(maxBackoffSeconds, initialBackoffSeconds * 2^(n-1))` ("full jitter", so many clients that failed
/// together do not retry together), unless the response carried `Retry-After`, which wins.
public struct DigitalRiverClientConfiguration: Sendable, CustomStringConvertible {
    /// Scheme, host and optional port (and path prefix) of the API, without a trailing slash.
    /// Default `https://api.digitalriver.com`.
    public var baseURL: String = "https://api.digitalriver.com"
    /// The secret key; it decides test mode vs live mode.
    public var apiKey: DigitalRiverAPIKey
    /// How long establishing a connection may take, in seconds. Default 5. Handed to transports that can bound the
    /// connect phase on its own; `URLSessionTransport` cannot on Linux (see there), where
    /// `requestTimeoutSeconds` bounds connect and exchange together.
    public var connectTimeoutSeconds: Double = 5
    /// Deadline of one attempt, from sending until the whole response is read, in seconds. Default 10.
    public var requestTimeoutSeconds: Double = 10
    /// Attempts per call, the first included (4 = one try plus up to three retries). Default 4; at least 1.
    public var maxAttempts: Int = 4
    /// Upper bound of the first retry's random delay, in seconds; doubles per retry. Default 0.2.
    public var initialBackoffSeconds: Double = 0.2
    /// Cap of the exponential growth, in seconds. Default 10.
    public var maxBackoffSeconds: Double = 10
    /// Longest `Retry-After` the client will sit out, in seconds. Default 60. A longer one ends the call at once with
    /// `.rateLimited` (or `.unavailable`) carrying `retryAfterSeconds`: waiting less than DR asked would only earn
    /// another 429, and waiting longer would hold the caller (often an RPC client) past any sensible deadline.
    public var maxRetryAfterSeconds: Double = 60
    /// Requests in flight to DR at once, across all callers of this client. Default 16; at least 1. DR allows
    /// 250 req/s live and 25 req/s test per key (reference §2), so this bounds our share of that budget.
    /// A call waiting out a backoff holds no slot.
    public var maxConcurrentRequests: Int = 16
    /// See `UpdatedTimeFilterStyle`. Default `.bracketed`.
    public var updatedTimeFilterStyle: UpdatedTimeFilterStyle = .bracketed

    public init(apiKey: DigitalRiverAPIKey) {
        self.apiKey = apiKey
    }

    /// Every field but the key, which prints as `<redacted>`.
    public var description: String {
        "DigitalRiverClientConfiguration(baseURL: \(baseURL), apiKey: \(apiKey), connectTimeoutSeconds: "
            + "\(connectTimeoutSeconds), requestTimeoutSeconds: \(requestTimeoutSeconds), maxAttempts: \(maxAttempts), "
            + "initialBackoffSeconds: \(initialBackoffSeconds), maxBackoffSeconds: \(maxBackoffSeconds), "
            + "maxRetryAfterSeconds: \(maxRetryAfterSeconds), maxConcurrentRequests: \(maxConcurrentRequests), "
            + "updatedTimeFilterStyle: \(updatedTimeFilterStyle.rawValue))"
    }
}
