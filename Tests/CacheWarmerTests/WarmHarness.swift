import CacheWarmer
@testable import CustomerCacheApp
import Customers
import DigitalRiverAPI
import DigitalRiverSandbox
import Foundation
import HTTPTestClient
import JSON
import Logging
import Sockets

/// A real service on 127.0.0.1 port 0 with a temporary data directory, on the wall clock (the sandbox signs its
/// webhooks with wall time). Adapted from CustomerCacheAppTests' LiveService.
final class TestService {
    let service: CustomerCacheService
    let webhook: SocketAddress
    let rpc: SocketAddress
    let dataDirectory: String
    private let running: RunningServices
    private var stopped = false

    static let secret = "whsec_warm_tests"
    static let apiKey = "sk_test_warm"

    /// - Parameters:
    ///   - upstreamURL: a sandbox's base URL to read through to (customer.get misses); nil: cache-only.
    ///   - tokens: `CUSTOMER_CACHE_RPC_TOKENS` (e.g. `warm s3cret cache.load,cache.checkpoint`); nil: no RPC auth.
    init(upstreamURL: String? = nil, tokens: String? = nil, settings: [String: String] = [:]) throws {
        let directory = NSTemporaryDirectory() + "cc-warm-tests-" + UUID().uuidString
        dataDirectory = directory
        var flags = ["webhook-listen": "127.0.0.1:0", "rpc-listen": "127.0.0.1:0", "data-dir": directory, "event-loops": "2"]
        var environment = [AppConfiguration.webhookSecretsEnvironmentName: Self.secret]
        if let upstreamURL {
            flags["upstream-url"] = upstreamURL
            environment[AppConfiguration.apiKeyEnvironmentName] = Self.apiKey
        }
        if let tokens { environment[CallerTokens.environmentName] = tokens }
        for (key, value) in settings { flags[key] = value }
        let configuration = try AppConfiguration(sources: ConfigurationSources(flags: flags, environment: environment, fileContents: nil),
                                                 environment: environment)
        var logger = Logger(label: "service")
        logger.logLevel = .critical
        service = CustomerCacheService(configuration: configuration, logger: logger)
        (webhook, rpc) = try service.start()
        running = RunningServices(service.services, logger: logger)
    }

    var rpcURL: String { "http://\(rpc)" }
    var webhookURL: String { "http://\(webhook)/webhooks/digitalriver" }
    var store: CustomerStore? { service.storeHolder.current }

    /// The stored body of a customer as text ("" when absent), for PII assertions.
    func storedText(_ id: String) -> String {
        String(decoding: store?.record(for: id)?.body ?? [], as: UTF8.self)
    }

    /// One JSON-RPC call over a raw socket; the whole response object.
    func call(_ method: String, _ params: String, token: String? = nil) throws -> JSONValue {
        let client = try RawClient(rpc)
        var headers = [("Content-Type", "application/json")]
        if let token { headers.append(("Authorization", "Bearer \(token)")) }
        let body = Array(#"{"jsonrpc":"2.0","method":"\#(method)","params":\#(params),"id":1}"#.utf8)
        guard let response = client.exchange(method: "POST", path: "/rpc", headers: headers, body: body) else {
            throw WarmSetupError("no RPC answer")
        }
        return try JSONValue.parse(response.body)
    }

    func stop() {
        guard !stopped else { return }
        stopped = true
        running.stopAndWait()
        try? FileManager.default.removeItem(atPath: dataDirectory)
    }

    deinit { stop() }
}

/// A started sandbox on port 0.
func startSandbox(seed: Int, webhookURL: String? = nil, failures: SandboxFailures = SandboxFailures()) throws -> DigitalRiverSandbox {
    var configuration = SandboxConfiguration(listen: try SocketAddress(parsing: "127.0.0.1:0"))
    configuration.seed = seed
    configuration.webhookURL = webhookURL
    configuration.webhookSecret = webhookURL == nil ? nil : TestService.secret
    configuration.failures = failures
    configuration.webhookInitialBackoffSeconds = 0.05
    var logger = Logger(label: "sandbox")
    logger.logLevel = .critical
    let sandbox = DigitalRiverSandbox(configuration: configuration, logger: logger)
    try sandbox.start()
    return sandbox
}

/// A list-source configuration against `sandbox` and `service`, unpaced unless told otherwise.
func listConfiguration(sandbox: DigitalRiverSandbox, service: TestService, since: String? = nil) throws -> WarmConfiguration {
    var configuration = WarmConfiguration(source: .list(since: since, sinceArgument: since), rpcURL: service.rpcURL)
    let key = try require(DigitalRiverAPIKey(TestService.apiKey))
    var upstream = DigitalRiverClientConfiguration(apiKey: key)
    upstream.baseURL = sandbox.baseURL
    upstream.initialBackoffSeconds = 0.05
    configuration.upstream = upstream
    configuration.requestsPerSecond = 0
    configuration.retryDelaySeconds = 0.05
    return configuration
}

/// Runs one job to its end, with its logs captured.
func warm(_ configuration: WarmConfiguration, logs: LogCapture = LogCapture()) async throws -> WarmReport {
    let logger = Logger(label: "warm") { _ in logs }
    let job = try WarmJob(configuration: configuration, logger: logger)
    return await job.run()
}

/// `#require` for the harness (outside a test body).
func require<T>(_ value: T?, _ message: String = "missing value") throws -> T {
    guard let value else { throw WarmSetupError(message) }
    return value
}

/// The requests the sandbox counted on its list route.
func listRequests(_ sandbox: DigitalRiverSandbox) -> Int { sandbox.requestCounts["GET /customers"] ?? 0 }

/// The requests the sandbox counted on its retrieve route.
func retrieveRequests(_ sandbox: DigitalRiverSandbox) -> Int { sandbox.requestCounts["GET /customers/{id}"] ?? 0 }

/// Stops a sandbox and waits for its event loops to exit: they hold the server `unowned`, so releasing a sandbox
/// whose loops still run would trap.
func stop(_ sandbox: DigitalRiverSandbox) {
    sandbox.shutdown()
    sandbox.waitUntilStopped()
}
