import ArgumentParser
import CustomerCacheApp
import DigitalRiverSandbox
import Foundation
import Logging
import ServiceLifecycle
import WebhookSignature

/// `customer-cache serve`: runs both listeners until SIGTERM or SIGINT, then drains and exits 0.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the webhook receiver and the internal JSON-RPC API.",
        discussion: """
            Each option can also come from CUSTOMER_CACHE_<NAME> (e.g. CUSTOMER_CACHE_RPC_LISTEN) or a --config file \
            of 'key = value' lines; flags win. Secrets never come from flags: CUSTOMER_CACHE_WEBHOOK_SECRETS or \
            --webhook-secrets-file, DR_API_KEY or --api-key-file, CUSTOMER_CACHE_RPC_TOKENS or --rpc-tokens-file.
            """
    )

    @Option(name: .customLong("config"), help: "Optional config file of 'key = value' lines (or CUSTOMER_CACHE_CONFIG).")
    var configFile: String?
    @Flag(name: .customLong("sandbox"), help: "Run an in-process Digital River emulator as the upstream (demos; never the default).")
    var sandbox = false
    @Option(name: .customLong("webhook-listen"), help: "Webhook listener HOST:PORT ([v6]:PORT for IPv6; port 0 picks one) (default 127.0.0.1:8080).")
    var webhookListen: String?
    @Option(name: .customLong("rpc-listen"), help: "Internal JSON-RPC and metrics listener HOST:PORT (default 127.0.0.1:8081).")
    var rpcListen: String?
    @Option(name: .customLong("data-dir"), help: "Directory of the SQLite store (default ./data).")
    var dataDir: String?
    @Option(name: .customLong("database-url"), help: "postgres:// URL of a PostgreSQL store shared by replicas (no password in it); unset: SQLite in data-dir.")
    var databaseURL: String?
    @Option(name: .customLong("database-password-file"), help: "File with the PostgreSQL password (else CUSTOMER_CACHE_DATABASE_PASSWORD or PGPASSWORD).")
    var databasePasswordFile: String?
    @Option(name: .customLong("event-loops"), help: "Event-loop threads of the webhook listener (default: cores).")
    var eventLoops: String?
    @Option(name: .customLong("rpc-event-loops"), help: "Event-loop threads of the RPC listener (default: half the cores, at least 1).")
    var rpcEventLoops: String?
    @Option(name: .customLong("max-connections"), help: "Open connections per listener; at the cap the longest-idle one is closed for a new one, else 503 (default 4096).")
    var maxConnections: String?
    @Option(name: .customLong("max-output-buffer-bytes"), help: "Unsent response bytes per connection before its requests stop being read (default 262144).")
    var maxOutputBufferBytes: String?
    @Option(name: .customLong("max-request-line-bytes"), help: "Longest request line; longer gets 414 (default 8192).")
    var maxRequestLineBytes: String?
    @Option(name: .customLong("max-header-bytes"), help: "Largest header section; larger gets 431 (default 16384).")
    var maxHeaderBytes: String?
    @Option(name: .customLong("max-header-count"), help: "Most header fields; more gets 431 (default 100).")
    var maxHeaderCount: String?
    @Option(name: .customLong("max-body-bytes"), help: "Largest request body; larger gets 413 (default 1048576).")
    var maxBodyBytes: String?
    @Option(name: .customLong("header-timeout-ms"), help: "Time to receive a request head, from accept for the first (slowloris); 408 (default 10000).")
    var headerTimeoutMs: String?
    @Option(name: .customLong("body-timeout-ms"), help: "Time to receive a request body; 408 (default 30000).")
    var bodyTimeoutMs: String?
    @Option(name: .customLong("idle-timeout-ms"), help: "Idle keep-alive connection lifetime (default 60000).")
    var idleTimeoutMs: String?
    @Option(name: .customLong("write-timeout-ms"), help: "Time a response may wait for a slow reader (default 30000).")
    var writeTimeoutMs: String?
    @Option(name: .customLong("shutdown-grace-ms"), help: "Time in-flight requests get on SIGTERM/SIGINT (default 10000).")
    var shutdownGraceMs: String?
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical (default info).")
    var logLevel: String?
    @Option(name: .customLong("webhook-path"), help: "Path of the webhook endpoint (default /webhooks/digitalriver).")
    var webhookPath: String?
    @Option(name: .customLong("webhook-secrets-file"), help: "File with the signing secrets (else CUSTOMER_CACHE_WEBHOOK_SECRETS).")
    var webhookSecretsFile: String?
    @Option(name: .customLong("signature-tolerance-seconds"), help: "Accepted signature timestamp skew, both directions (default 300).")
    var signatureToleranceSeconds: String?
    @Option(name: .customLong("live-mode"), help: "true for live (production) events, false for test mode (default false).")
    var liveMode: String?
    @Option(name: .customLong("dedup-retention-hours"), help: "How long processed event ids are remembered (default 168).")
    var dedupRetentionHours: String?
    @Option(name: .customLong("max-cached-customers"), help: "Most customers kept in memory (0: all); beyond it the least used are evicted and read from the store (default 0).")
    var maxCachedCustomers: String?
    @Option(name: .customLong("rpc-tokens-file"), help: "File of 'caller token [methods]' lines (else CUSTOMER_CACHE_RPC_TOKENS); unset: no RPC auth.")
    var rpcTokensFile: String?
    @Option(name: .customLong("upstream-url"), help: "Digital River API base URL (default https://api.digitalriver.com).")
    var upstreamUrl: String?
    @Option(name: .customLong("api-key-file"), help: "File with the Digital River secret API key (else DR_API_KEY); unset: upstream disabled.")
    var apiKeyFile: String?
    @Option(name: .customLong("sandbox-seed"), help: "Synthetic customers the --sandbox emulator starts with (cust-000001…) (default 1000).")
    var sandboxSeed: String?
    @Option(name: .customLong("upstream-timeout-ms"), help: "Deadline of one Digital River request (default 10000).")
    var upstreamTimeoutMs: String?
    @Option(name: .customLong("upstream-max-concurrency"), help: "Digital River requests in flight at once (default 16).")
    var upstreamMaxConcurrency: String?
    @Option(name: .customLong("upstream-updated-filter"), help: "updatedTime filter encoding: bracketed (updatedTime[gte]=) or plain (default bracketed).")
    var upstreamUpdatedFilter: String?
    @Option(name: .customLong("negative-cache-seconds"), help: "How long 'not found upstream' is remembered (0: never) (default 60).")
    var negativeCacheSeconds: String?
    @Option(name: .customLong("forget-retry-seconds"), help: "Interval between retries of queued forgets (default 30).")
    var forgetRetrySeconds: String?
    @Option(name: .customLong("rpc-max-batch"), help: "Most calls in one JSON-RPC batch (default 100).")
    var rpcMaxBatch: String?
    @Option(name: .customLong("rpc-max-depth"), help: "Deepest JSON nesting in a JSON-RPC body (default 32).")
    var rpcMaxDepth: String?
    @Option(name: .customLong("rpc-max-string-bytes"), help: "Longest JSON string in a JSON-RPC body (default 65536).")
    var rpcMaxStringBytes: String?
    @Option(name: .customLong("trusted-proxies"), help: "Comma-separated CIDRs whose client-address header is believed.")
    var trustedProxies: String?
    @Option(name: .customLong("client-address-header"), help: "The one header trusted proxies set: X-Forwarded-For (default), Forwarded or X-Real-IP.")
    var clientAddressHeader: String?
    @Option(name: .customLong("webhook-allowed-sources"), help: "Comma-separated CIDRs allowed to deliver webhooks (unset: any).")
    var webhookAllowedSources: String?

    func run() async throws {
        var flags: [String: String] = [:]
        flags["webhook-listen"] = webhookListen
        flags["rpc-listen"] = rpcListen
        flags["data-dir"] = dataDir
        flags["database-url"] = databaseURL
        flags["database-password-file"] = databasePasswordFile
        flags["event-loops"] = eventLoops
        flags["rpc-event-loops"] = rpcEventLoops
        flags["max-connections"] = maxConnections
        flags["max-output-buffer-bytes"] = maxOutputBufferBytes
        flags["max-request-line-bytes"] = maxRequestLineBytes
        flags["max-header-bytes"] = maxHeaderBytes
        flags["max-header-count"] = maxHeaderCount
        flags["max-body-bytes"] = maxBodyBytes
        flags["header-timeout-ms"] = headerTimeoutMs
        flags["body-timeout-ms"] = bodyTimeoutMs
        flags["idle-timeout-ms"] = idleTimeoutMs
        flags["write-timeout-ms"] = writeTimeoutMs
        flags["shutdown-grace-ms"] = shutdownGraceMs
        flags["log-level"] = logLevel
        flags["webhook-path"] = webhookPath
        flags["webhook-secrets-file"] = webhookSecretsFile
        flags["signature-tolerance-seconds"] = signatureToleranceSeconds
        flags["live-mode"] = liveMode
        flags["dedup-retention-hours"] = dedupRetentionHours
        flags["max-cached-customers"] = maxCachedCustomers
        flags["rpc-tokens-file"] = rpcTokensFile
        flags["upstream-url"] = upstreamUrl
        flags["api-key-file"] = apiKeyFile
        flags["sandbox-seed"] = sandboxSeed
        flags["upstream-timeout-ms"] = upstreamTimeoutMs
        flags["upstream-max-concurrency"] = upstreamMaxConcurrency
        flags["upstream-updated-filter"] = upstreamUpdatedFilter
        flags["negative-cache-seconds"] = negativeCacheSeconds
        flags["forget-retry-seconds"] = forgetRetrySeconds
        flags["rpc-max-batch"] = rpcMaxBatch
        flags["rpc-max-depth"] = rpcMaxDepth
        flags["rpc-max-string-bytes"] = rpcMaxStringBytes
        flags["trusted-proxies"] = trustedProxies
        flags["client-address-header"] = clientAddressHeader
        flags["webhook-allowed-sources"] = webhookAllowedSources
        if sandbox { flags["sandbox"] = "true" }
        let environment = ProcessInfo.processInfo.environment
        let configPath = configFile ?? environment[AppConfiguration.configFileEnvironmentName]
        var fileContents: String?
        if let configPath {
            guard let text = try? String(contentsOfFile: configPath, encoding: .utf8) else {
                throw ValidationError("cannot read config file \(configPath)")
            }
            fileContents = text
        }
        var configuration: AppConfiguration
        do {
            configuration = try AppConfiguration(sources: ConfigurationSources(flags: flags, environment: environment, fileContents: fileContents),
                                                 environment: environment)
        } catch {
            throw ValidationError(error.description)
        }

        ProcessSetup.bootstrapLogging(level: Logger.Level(rawValue: configuration.logLevel) ?? .info)
        let logger = Logger(label: "customer-cache")
        // Trapped before anything binds, so a signal during start-up (the store may take seconds to load) still drains.
        let signals = await ProcessSetup.terminationSignals()
        let emulator = configuration.sandbox ? try Self.startEmulator(for: &configuration, logger: logger) : nil
        let service = CustomerCacheService(configuration: configuration, logger: logger)
        // swift-metrics' API (any library's Counter, Timer, …) records into the registry /metrics renders.
        service.metrics.bootstrapMetricsSystem()
        do {
            let (webhook, _) = try service.start()
            if let emulator {
                try Self.pointEmulator(emulator, host: webhook.host, port: webhook.port, path: configuration.webhookPath, logger: logger)
            }
        } catch {
            emulator?.shutdown()
            emulator?.waitUntilStopped()
            logger.critical("could not start", metadata: ["error": "\(error)"])
            throw ExitCode(1)
        }
        // Started first, stopped last: the emulator answers the app's upstream calls until the app has drained.
        let services = (emulator.map { [EmulatorService(sandbox: $0)] } ?? []) + service.services
        var group = ServiceGroupConfiguration(services: services, logger: logger)
        // Past the drain (shutdown-grace-ms) and the store's close, whatever still runs is cancelled.
        group.maximumGracefulShutdownDuration = .milliseconds(configuration.timeouts.shutdownGraceMilliseconds) + .seconds(20)
        let serviceGroup = ServiceGroup(configuration: group)
        do {
            try await ProcessSetup.run(serviceGroup, stoppingOn: signals, logger: logger, "shutdown requested")
        } catch {
            logger.critical("stopped on a failure", metadata: ["error": "\(error)"])
            throw ExitCode(1)
        }
    }

    /// `--sandbox`: the Digital River emulator on a loopback port becomes the upstream, by URL and API key like any
    /// other Digital River; it signs its webhooks with the first configured secret, or one made up for this process.
    /// Logged loudly; never the default.
    static func startEmulator(for configuration: inout AppConfiguration, logger: Logger) throws -> DigitalRiverSandbox {
        let apiKey = randomToken(prefix: "sandbox_sk_")
        let secret = configuration.webhookSecrets.first?.secretForSigning ?? randomToken(prefix: "sandbox_whsec_")
        if configuration.webhookSecrets.isEmpty { configuration.webhookSecrets = [SigningSecret(secret)] }
        var sandboxConfiguration = try SandboxConfiguration(listen: "127.0.0.1:0")
        sandboxConfiguration.apiKey = apiKey
        sandboxConfiguration.webhookSecret = secret
        sandboxConfiguration.seed = configuration.sandboxSeed
        sandboxConfiguration.liveMode = configuration.liveMode
        let emulator = DigitalRiverSandbox(configuration: sandboxConfiguration, logger: logger)
        do {
            try emulator.start()
        } catch {
            logger.critical("could not start the sandbox emulator", metadata: ["error": "\(error)"])
            throw ExitCode(1)
        }
        configuration.upstreamURL = emulator.baseURL
        configuration.upstreamAPIKey = apiKey
        return emulator
    }

    /// The emulator delivers its webhooks to our webhook listener, now that it is bound.
    static func pointEmulator(_ emulator: DigitalRiverSandbox, host bound: String, port: UInt16, path: String, logger: Logger) throws {
        let host = bound == "0.0.0.0" ? "127.0.0.1" : bound == "::" ? "::1" : bound
        let hostPart = host.contains(":") ? "[\(host)]" : host
        let webhookURL = "http://\(hostPart):\(port)\(path)"
        try emulator.deliverWebhooks(to: webhookURL)
        logger.warning("SANDBOX MODE: the upstream is an in-process Digital River emulator, not Digital River",
                       metadata: ["sandbox_url": "\(emulator.baseURL)", "seeded_customers": "\(emulator.customerCount)",
                                  "webhook_url": "\(webhookURL)"])
    }

    static func randomToken(prefix: String) -> String {
        var generator = SystemRandomNumberGenerator()
        return prefix + (0..<24).map { _ in String(UInt8.random(in: 0...15, using: &generator), radix: 16) }.joined()
    }
}
