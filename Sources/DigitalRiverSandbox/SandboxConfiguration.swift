import Foundation
import Sockets

/// Failure injection for the sandbox's API routes (never `/healthz`), changeable at runtime with
/// `DigitalRiverSandbox.setFailures(_:)` so a test can flip it mid-run.
///
/// Applied per request in this order: sleep `latencyMilliseconds`; then, each with its own independent draw,
/// drop the connection unanswered (`dropConnectionRate`), answer 429 (`rateLimitRate`), answer 500
/// (`serverErrorRate`). A rate of 1 always fires, 0 never does.
public struct SandboxFailures: Sendable, Hashable {
    /// Added before every API request is handled, in milliseconds. Default 0.
    public var latencyMilliseconds: Int = 0
    /// Share of requests answered `500` with a Digital River error body (`internal_server_error`). Default 0.
    public var serverErrorRate: Double = 0
    /// Share of requests answered `429` with `Retry-After: retryAfterSeconds` (`too_many_requests`). Default 0.
    public var rateLimitRate: Double = 0
    /// The `Retry-After` value, in whole seconds, of injected 429s. Default 1.
    public var retryAfterSeconds: Int = 1
    /// Share of requests whose connection is closed without any answer. Default 0.
    public var dropConnectionRate: Double = 0

    public init() {}

    /// True when no failure of any kind would be injected.
    public var isNone: Bool {
        latencyMilliseconds <= 0 && serverErrorRate <= 0 && rateLimitRate <= 0 && dropConnectionRate <= 0
    }
}

/// Everything the sandbox needs; defaults give an open (no API key), test-mode sandbox without webhooks.
///
/// `description` redacts the webhook secret and the API key, so the configuration can be logged whole.
public struct SandboxConfiguration: Sendable, CustomStringConvertible {
    /// Where the API listens; port 0 picks a free port (see `DigitalRiverSandbox.start()`).
    public var listen: SocketAddress
    /// When set, every API request must carry `Authorization: Bearer <apiKey>`; otherwise 401. Default nil (open).
    public var apiKey: String?
    /// Where `customer.*` events are POSTed; nil disables webhooks (events are then discarded). Default nil.
    public var webhookURL: String?
    /// The signing token for `DigitalRiver-Signature`; nil sends webhooks unsigned (signing is opt-in at Digital
    /// River too). Never logged. Default nil.
    public var webhookSecret: String?
    /// Synthetic customers created at start-up, without webhooks. Default 0.
    public var seed: Int = 0
    /// Seed of the generator behind the synthetic customers: the same value gives the same customers. Default 42.
    public var seedRandom: UInt64 = 42
    /// The instant (µs since the epoch) the synthetic customers' "past year" ends at; nil means the start of the
    /// current UTC day, so two sandboxes started on the same day hold identical data. Default nil.
    public var seedReferenceTime: Int64?
    /// Value of `liveMode` on customers and events. Default false (test mode).
    public var liveMode: Bool = false
    /// Initial failure injection; see `SandboxFailures`.
    public var failures = SandboxFailures()
    /// Delivery attempts per event before it is abandoned and counted. Default 8.
    public var webhookMaxAttempts: Int = 8
    /// Wait before the first retry, in seconds; doubles on each further retry. Default 0.5.
    public var webhookInitialBackoffSeconds: Double = 0.5
    /// Upper bound of the wait between retries, in seconds. Default 60.
    public var webhookMaxBackoffSeconds: Double = 60
    /// How long the receiver has to answer one delivery, in seconds; Digital River allows 3 s. Default 3.
    public var webhookTimeoutSeconds: Double = 3
    /// Deliveries in flight at once. Default 8.
    public var webhookConcurrency: Int = 8
    /// Optional token bucket over all API requests: this many per second (burst of the same size), excess gets 429
    /// with `Retry-After`. 25 emulates test mode, 250 live mode. Default nil (unlimited).
    public var rateLimitPerSecond: Int?
    /// Event-loop threads of the API listener. Default 1: the sandbox is a test double, not a load target.
    public var eventLoopCount: Int = 1

    public init(listen: SocketAddress) {
        self.listen = listen
    }

    /// Parses `listen` ("127.0.0.1:8090", "[::1]:0", ":8090", "localhost:8090"), for callers without `Sockets`.
    ///
    /// - Throws: `SandboxConfigurationError` with field `listen`.
    public init(listen text: String) throws(SandboxConfigurationError) {
        do {
            self.init(listen: try SocketAddress(parsing: text))
        } catch {
            throw SandboxConfigurationError(field: "listen", reason: error.reason)
        }
    }

    public var description: String {
        var parts = ["listen: \(listen)", "apiKey: \(apiKey == nil ? "none" : "redacted")",
                     "webhookURL: \(webhookURL.map(redactingUserInfo) ?? "none")",
                     "webhookSecret: \(webhookSecret == nil ? "none" : "redacted")",
                     "seed: \(seed)", "seedRandom: \(seedRandom)", "liveMode: \(liveMode)",
                     "webhookMaxAttempts: \(webhookMaxAttempts)", "webhookInitialBackoffSeconds: \(webhookInitialBackoffSeconds)"]
        if let rateLimitPerSecond { parts.append("rateLimitPerSecond: \(rateLimitPerSecond)") }
        if !failures.isNone { parts.append("failures: \(failures)") }
        return "SandboxConfiguration(\(parts.joined(separator: ", ")))"
    }
}

/// `scheme://user:pass@host/…` → `scheme://redacted@host/…`, so a URL with basic-auth credentials can be logged.
func redactingUserInfo(_ url: String) -> String {
    guard let schemeEnd = url.range(of: "://") else { return url }
    let rest = url[schemeEnd.upperBound...]
    let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? rest.endIndex
    guard let at = rest[..<authorityEnd].lastIndex(of: "@") else { return url }
    return String(url[..<schemeEnd.upperBound]) + "redacted@" + String(rest[rest.index(after: at)...])
}

/// Why a `SandboxConfiguration` was refused; `field` names the offending setting.
public struct SandboxConfigurationError: Error, Sendable, Hashable, CustomStringConvertible {
    public let field: String
    public let reason: String

    public init(field: String, reason: String) {
        self.field = field
        self.reason = reason
    }

    public var description: String { "\(field): \(reason)" }
}

extension SandboxConfiguration {
    /// Most synthetic customers one sandbox makes (each costs about 3 KB of memory: 100,000 take ~280 MB RSS).
    public static let maxSeed = 1_000_000

    /// Checks every setting; returns the webhook delivery settings (nil when webhooks are off).
    ///
    /// - Throws: `SandboxConfigurationError` naming the first invalid field: a rate outside 0…1, a negative count or
    ///   duration, a webhook URL that is not absolute http(s), an empty secret or API key.
    func validated() throws(SandboxConfigurationError) -> WebhookDispatcher.Settings? {
        func check(_ ok: Bool, _ field: String, _ reason: String) throws(SandboxConfigurationError) {
            if !ok { throw SandboxConfigurationError(field: field, reason: reason) }
        }
        try check(seed >= 0 && seed <= Self.maxSeed, "seed", "must be from 0 to \(Self.maxSeed)")
        try check(apiKey.map { !$0.isEmpty } ?? true, "apiKey", "must not be empty when set")
        try check(webhookSecret.map { !$0.isEmpty } ?? true, "webhookSecret", "must not be empty when set")
        for (field, rate) in [("serverErrorRate", failures.serverErrorRate), ("rateLimitRate", failures.rateLimitRate),
                              ("dropConnectionRate", failures.dropConnectionRate)] {
            try check(rate >= 0 && rate <= 1, field, "must be between 0 and 1")
        }
        try check(failures.latencyMilliseconds >= 0, "latencyMilliseconds", "must not be negative")
        try check(failures.retryAfterSeconds >= 0, "retryAfterSeconds", "must not be negative")
        try check(rateLimitPerSecond.map { $0 > 0 } ?? true, "rateLimitPerSecond", "must be positive when set")
        try check(webhookMaxAttempts >= 1, "webhookMaxAttempts", "must be at least 1")
        try check(webhookInitialBackoffSeconds >= 0 && webhookMaxBackoffSeconds >= 0, "webhookInitialBackoffSeconds",
                  "backoff must not be negative")
        try check(webhookTimeoutSeconds > 0, "webhookTimeoutSeconds", "must be positive")
        try check(webhookConcurrency >= 1, "webhookConcurrency", "must be at least 1")
        try check(eventLoopCount >= 1, "eventLoopCount", "must be at least 1")
        guard let webhookURL else { return nil }
        guard let url = URL(string: webhookURL), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
              url.host != nil else {
            throw SandboxConfigurationError(field: "webhookURL", reason: "must be an absolute http or https URL")
        }
        return WebhookDispatcher.Settings(url: url, secret: webhookSecret, maxAttempts: webhookMaxAttempts,
                                          initialBackoffSeconds: webhookInitialBackoffSeconds,
                                          maxBackoffSeconds: webhookMaxBackoffSeconds, timeoutSeconds: webhookTimeoutSeconds,
                                          concurrency: webhookConcurrency)
    }

    /// Throws the first problem `DigitalRiverSandbox.start()` would refuse, for callers that want to fail early.
    ///
    /// - Throws: `SandboxConfigurationError`.
    public func validate() throws(SandboxConfigurationError) {
        _ = try validated()
    }
}
