import Foundation
import HTTP1
import JSON
import Logging
import Sockets

/// An in-memory **emulator** of Digital River's Customers API (reference §1–§3) that also delivers signed
/// `customer.*` webhooks (§4–§6), for demos, tests and benchmarks. It is not Digital River: behaviour the reference
/// leaves open is decided here and marked where it is (duplicate ids answer 409, list order is oldest first, the
/// wire form of time-range filters is accepted in both candidate encodings, …).
///
/// Routes: `POST /customers` (201), `GET /customers/{id}`, `POST /customers/{id}` (update), `DELETE /customers/{id}`
/// (204), `GET /customers` (paged list with filters), and `GET /healthz`, which no failure injection touches.
/// Errors use Digital River's body `{"type": …, "errors": [{"code", "parameter", "message"}]}`.
///
/// Logs carry ids, event types and statuses, never bodies, emails, the API key or the webhook secret.
public final class DigitalRiverSandbox: Sendable {
    public let configuration: SandboxConfiguration
    private let core: SandboxCore
    private let server: HTTPServer
    private let logger: Logger
    private let configurationError: SandboxConfigurationError?

    /// Builds the sandbox and creates `configuration.seed` synthetic customers (no webhooks); nothing listens before
    /// `start()`. A configuration that `validated()` would refuse makes `start()` throw.
    public init(configuration: SandboxConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        var problem: SandboxConfigurationError?
        var webhook: WebhookDispatcher.Settings?
        do {
            webhook = try configuration.validated()
        } catch {
            problem = error
        }
        configurationError = problem
        core = SandboxCore(configuration: configuration, webhook: webhook, logger: logger)
        var router = HTTPRouter()
        core.addRoutes(to: &router)
        let http = HTTPServerConfiguration(address: configuration.listen, name: "sandbox", eventLoopCount: configuration.eventLoopCount)
        server = HTTPServer(configuration: http, router: router, logger: logger)
    }

    /// Binds the listener and serves; returns the bound address (with the real port when 0 was asked for).
    ///
    /// - Throws: `SandboxConfigurationError` for an invalid configuration; `SocketError` when binding fails.
    @discardableResult
    public func start() throws -> SocketAddress {
        if let configurationError { throw configurationError }
        let address = try server.start()
        logger.notice("Digital River sandbox (an emulator, not Digital River) is listening", metadata: [
            "address": "\(address)", "customers": "\(customerCount)", "live_mode": "\(configuration.liveMode)",
            "webhooks": "\(configuration.webhookURL == nil ? "off" : configuration.webhookSecret == nil ? "unsigned" : "signed")",
            "api_key": "\(configuration.apiKey == nil ? "not required" : "required")",
        ])
        return address
    }

    /// Starts delivering webhooks to `url`, for a sandbox started before its receiver has bound a port (`serve
    /// --sandbox` starts the emulator first, so the app knows its upstream URL when it starts). Changes made before
    /// this call sent no event. Signed with `configuration.webhookSecret`, like a URL given in the configuration.
    ///
    /// - Throws: `SandboxConfigurationError` for a URL that is not absolute http(s), or when a webhook URL is
    ///   already set.
    public func deliverWebhooks(to url: String) throws(SandboxConfigurationError) {
        var configuration = configuration
        configuration.webhookURL = url
        guard let settings = try configuration.validated() else { return }
        guard core.deliverWebhooks(settings) else {
            throw SandboxConfigurationError(field: "webhookURL", reason: "is already set")
        }
    }

    /// Stops accepting requests (in-flight ones finish within the server's grace period) and stops webhook delivery:
    /// queued events and scheduled retries are dropped. Returns at once; see `waitUntilStopped`.
    public func shutdown() {
        server.shutdown()
        core.dispatcher?.shutdown()
    }

    /// Blocks until the listener has stopped.
    public func waitUntilStopped() {
        server.waitUntilStopped()
    }

    /// `http://HOST:PORT` of the listener, with a wildcard host replaced by loopback; the configured address before
    /// `start()`.
    public var baseURL: String {
        let address = server.localAddress ?? configuration.listen
        switch (address.isIPv6, address.host) {
        case (false, "0.0.0.0"): return "http://127.0.0.1:\(address.port)"
        case (true, "::"): return "http://[::1]:\(address.port)"
        case (true, let host): return "http://[\(host)]:\(address.port)"
        case (false, let host): return "http://\(host):\(address.port)"
        }
    }

    // MARK: Failure injection

    /// Replaces the failure injection for every later request.
    public func setFailures(_ failures: SandboxFailures) {
        core.failures.withLock { $0 = failures }
    }

    /// The failure injection in force.
    public var failures: SandboxFailures { core.failures.withLock { $0 } }

    // MARK: Customers from code

    public var customerCount: Int { core.directory.withLock { $0.count } }

    /// The stored customer exactly as the API would return it, or nil.
    public func customer(id: String) -> JSONObject? {
        core.directory.withLock { $0.records[id]?.object }
    }

    /// Every customer id in list order (oldest `createdTime` first, then id).
    public var customerIDs: [String] { core.directory.withLock { $0.order.map(\.id) } }

    /// Creates a customer exactly as `POST /customers` would, `customer.created` webhook included.
    ///
    /// - Throws: `SandboxError` 400 for an invalid body, 409 `already_exists` for a taken id.
    @discardableResult
    public func create(_ body: JSONObject) throws(SandboxError) -> JSONObject {
        try core.create(body)
    }

    /// Updates a customer exactly as `POST /customers/{id}` would; emits `customer.updated` unless nothing changed.
    ///
    /// - Throws: `SandboxError` 404 for an unknown id, 400 for an invalid body.
    @discardableResult
    public func update(id: String, _ body: JSONObject) throws(SandboxError) -> JSONObject {
        try core.update(id: id, body)
    }

    /// Deletes a customer exactly as `DELETE /customers/{id}` would, `customer.deleted` webhook included.
    ///
    /// - Throws: `SandboxError` 404 for an unknown id.
    public func delete(id: String) throws(SandboxError) {
        try core.delete(id: id)
    }

    // MARK: Observation

    /// Webhook delivery counts; all zero when webhooks are off.
    public var webhookStatistics: WebhookStatistics { core.dispatcher?.statistics ?? WebhookStatistics() }

    /// `webhookStatistics` as a tuple.
    public var webhookStats: (delivered: Int, failedAttempts: Int, pending: Int) {
        let statistics = webhookStatistics
        return (statistics.delivered, statistics.failedAttempts, statistics.pending)
    }

    /// Waits until no event is queued, in flight or waiting for a retry; false when `timeoutSeconds` ran out first.
    public func waitForWebhookQueueToDrain(timeoutSeconds: Double) async -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(Int(timeoutSeconds * 1000))
        while webhookStatistics.pending > 0 {
            guard ContinuousClock.now < deadline else { return false }
            try? await Task.sleep(nanoseconds: 5_000_000)
        }
        return true
    }

    /// API requests received per route template (`"POST /customers"`, `"GET /customers/{id}"`, …), counted on
    /// arrival, so requests answered by failure injection, a 401 or a 429 count too. `/healthz` is not counted.
    public var requestCounts: [String: Int] { core.counts.withLock { $0 } }
}
