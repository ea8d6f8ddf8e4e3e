import ArgumentParser
import CustomerCacheApp
import DigitalRiverSandbox
import Foundation
import Logging
import ServiceLifecycle

/// `customer-cache sandbox`: runs an in-memory emulator of Digital River's Customers API that sends signed
/// `customer.*` webhooks, for demos, tests and benchmarks. Stops on SIGTERM or SIGINT and exits 0.
///
/// Secrets never come from argv (where `ps` shows them): the webhook secret is read from `--webhook-secret-file` or
/// `SANDBOX_WEBHOOK_SECRET`, the API key from `--api-key-file` or `DR_API_KEY`; the file and the variable together are an error.
struct SandboxCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sandbox",
        abstract: "Run an in-memory EMULATOR of Digital River's Customers API with signed customer.* webhooks.",
        discussion: """
        For demos, tests and benchmarks only: this is not Digital River, its data is synthetic and lives in memory.

        Routes: POST /customers, GET|POST|DELETE /customers/{id}, GET /customers (limit, startingAfter, endingBefore, \
        ids, email, requestToBeForgotten, createdTime/updatedTime exact or [gt|gte|lt|lte|eq]), GET /healthz.

        The webhook secret comes from --webhook-secret-file or SANDBOX_WEBHOOK_SECRET, the API key from \
        --api-key-file or DR_API_KEY; neither is accepted on the command line.
        """
    )

    @Option(help: "HOST:PORT to listen on; port 0 picks a free one.")
    var listen = "127.0.0.1:8090"
    @Option(name: .customLong("webhook-url"), help: "Where customer.* events are POSTed (default: webhooks off).")
    var webhookURL: String?
    @Option(name: .customLong("webhook-secret-file"),
            help: "File holding the webhook signing secret (else \(AppConfiguration.sandboxWebhookSecret.environmentName)).")
    var webhookSecretFile: String?
    @Option(help: "Synthetic customers created at start-up, without webhooks (0…\(SandboxConfiguration.maxSeed)).")
    var seed = 0
    @Option(name: .customLong("seed-random"), help: "Generator seed: the same value gives the same customers.")
    var seedRandom: UInt64 = 42
    @Option(name: .customLong("api-key-file"),
            help: "File holding the API key to require as Bearer token (else \(AppConfiguration.apiKeySecret.environmentName); none: open).")
    var apiKeyFile: String?
    @Option(name: .customLong("latency-ms"), help: "Delay added to every API request, in milliseconds.")
    var latencyMilliseconds = 0
    @Option(name: .customLong("error-rate"), help: "Share (0…1) of API requests answered 500.")
    var errorRate = 0.0
    @Option(name: .customLong("rate-limit-rate"), help: "Share (0…1) of API requests answered 429.")
    var rateLimitRate = 0.0
    @Option(name: .customLong("retry-after"), help: "Retry-After seconds of injected 429s.")
    var retryAfter = 1
    @Option(name: .customLong("drop-rate"), help: "Share (0…1) of API requests whose connection is closed unanswered.")
    var dropRate = 0.0
    @Option(name: .customLong("rate-limit-per-second"), help: "Token bucket over all API requests (25 = DR test mode, 250 = live).")
    var rateLimitPerSecond: Int?
    @Flag(name: .customLong("live-mode"), help: "Mark customers and events liveMode: true (default: test mode).")
    var liveMode = false
    @Option(name: .customLong("webhook-max-attempts"), help: "Delivery attempts per event before it is abandoned.")
    var webhookMaxAttempts = 8
    @Option(name: .customLong("webhook-initial-backoff"), help: "Seconds before the first retry; doubles per retry.")
    var webhookInitialBackoff = 0.5
    @Option(name: .customLong("log-level"), help: "trace|debug|info|notice|warning|error|critical.")
    var logLevel = "info"

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level: unknown level \(logLevel)") }
        do {
            try makeConfiguration(environment: [:], readFiles: false).validate()
        } catch let error as SandboxConfigurationError {
            throw ValidationError(Self.describe(error))
        }
    }

    /// The error in terms of command-line options rather than configuration fields.
    static func describe(_ error: SandboxConfigurationError) -> String {
        let options = ["listen": "--listen", "seed": "--seed", "serverErrorRate": "--error-rate", "rateLimitRate": "--rate-limit-rate",
                       "dropConnectionRate": "--drop-rate", "latencyMilliseconds": "--latency-ms", "retryAfterSeconds": "--retry-after",
                       "rateLimitPerSecond": "--rate-limit-per-second", "webhookMaxAttempts": "--webhook-max-attempts",
                       "webhookInitialBackoffSeconds": "--webhook-initial-backoff", "webhookURL": "--webhook-url",
                       "webhookSecret": "--webhook-secret-file / SANDBOX_WEBHOOK_SECRET", "apiKey": "--api-key-file / DR_API_KEY"]
        return "\(options[error.field] ?? error.field): \(error.reason)"
    }

    /// The sandbox configuration from the options, with secrets read from files or `environment`.
    func makeConfiguration(environment: [String: String], readFiles: Bool = true) throws -> SandboxConfiguration {
        var configuration = try SandboxConfiguration(listen: listen)
        configuration.webhookURL = webhookURL
        configuration.seed = seed
        configuration.seedRandom = seedRandom
        configuration.liveMode = liveMode
        configuration.failures.latencyMilliseconds = latencyMilliseconds
        configuration.failures.serverErrorRate = errorRate
        configuration.failures.rateLimitRate = rateLimitRate
        configuration.failures.retryAfterSeconds = retryAfter
        configuration.failures.dropConnectionRate = dropRate
        configuration.rateLimitPerSecond = rateLimitPerSecond
        configuration.webhookMaxAttempts = webhookMaxAttempts
        configuration.webhookInitialBackoffSeconds = webhookInitialBackoff
        if readFiles {
            configuration.webhookSecret = try ProcessSetup.secret(AppConfiguration.sandboxWebhookSecret, path: webhookSecretFile, environment: environment)
            configuration.apiKey = try ProcessSetup.secret(AppConfiguration.apiKeySecret, path: apiKeyFile, environment: environment)
        }
        return configuration
    }

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        try ProcessSetup.refuseUnknownVariables(in: environment)
        let configuration: SandboxConfiguration
        do {
            configuration = try makeConfiguration(environment: environment)
            try configuration.validate()
        } catch let error as SandboxConfigurationError {
            throw ValidationError(Self.describe(error))
        }

        ProcessSetup.bootstrapLogging(level: Logger.Level(rawValue: logLevel) ?? .info)
        let logger = Logger(label: "customer-cache-sandbox")
        let signals = await ProcessSetup.terminationSignals()
        let sandbox = DigitalRiverSandbox(configuration: configuration, logger: logger)
        let address: String
        do {
            address = "\(try sandbox.start())"
        } catch {
            logger.critical("could not start the sandbox", metadata: ["error": "\(error)"])
            throw ExitCode(1)
        }
        logger.warning("""
            ******** DIGITAL RIVER SANDBOX: THIS IS AN EMULATOR, NOT DIGITAL RIVER. ********
            In-memory, synthetic data for demos, tests and benchmarks; everything is lost on exit.
            """, metadata: ["address": "\(address)", "base_url": "\(sandbox.baseURL)", "customers": "\(sandbox.customerCount)"])
        if configuration.webhookURL != nil, configuration.webhookSecret == nil {
            logger.warning("no webhook secret (--webhook-secret-file or SANDBOX_WEBHOOK_SECRET): webhooks are sent unsigned")
        }

        let group = ServiceGroup(services: [EmulatorService(sandbox: sandbox)], logger: logger)
        try await ProcessSetup.run(group, stoppingOn: signals, logger: logger, "stopping the sandbox")
        let statistics = sandbox.webhookStatistics
        logger.info("sandbox stopped", metadata: [
            "webhooks_delivered": "\(statistics.delivered)", "webhook_failed_attempts": "\(statistics.failedAttempts)",
            "webhooks_abandoned": "\(statistics.abandoned)",
        ])
    }
}
