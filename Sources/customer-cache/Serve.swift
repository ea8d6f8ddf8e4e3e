import ArgumentParser
import CustomerCacheApp
import Foundation
import Logging

/// `customer-cache serve`: runs both listeners until SIGTERM or SIGINT, then drains and exits 0.
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the webhook receiver and the internal JSON-RPC API.",
        discussion: "Each option can also come from CUSTOMER_CACHE_<NAME> (e.g. CUSTOMER_CACHE_RPC_LISTEN) or a --config file of 'key = value' lines; flags win."
    )

    @Option(name: .customLong("webhook-listen"), help: "Webhook listener HOST:PORT (default 127.0.0.1:8080).")
    var webhookListen: String?
    @Option(name: .customLong("rpc-listen"), help: "Internal JSON-RPC listener HOST:PORT (default 127.0.0.1:8081).")
    var rpcListen: String?
    @Option(name: .customLong("data-dir"), help: "Directory of the SQLite store (default ./data).")
    var dataDir: String?
    @Option(name: .customLong("config"), help: "Optional config file of 'key = value' lines.")
    var configFile: String?
    @Option(name: .customLong("log-level"), help: "trace|debug|info|notice|warning|error|critical (default info).")
    var logLevel: String?
    @Option(name: .customLong("event-loops"), help: "Event-loop threads per listener (default: cores).")
    var eventLoops: String?
    @Option(name: .customLong("max-body-bytes"), help: "Largest request body in bytes (default 1048576).")
    var maxBodyBytes: String?
    @Option(name: .customLong("max-connections"), help: "Open connections per listener (default 4096).")
    var maxConnections: String?
    @Option(name: .customLong("shutdown-grace-ms"), help: "Time in-flight requests get on shutdown (default 10000).")
    var shutdownGraceMs: String?
    @Option(name: .customLong("webhook-path"), help: "Path of the webhook endpoint (default /webhooks/digitalriver).")
    var webhookPath: String?
    @Option(name: .customLong("webhook-secrets-file"), help: "File holding the signing secrets, comma-separated, newest first (or set CUSTOMER_CACHE_WEBHOOK_SECRETS).")
    var webhookSecretsFile: String?
    @Option(name: .customLong("signature-tolerance-seconds"), help: "Accepted signature timestamp skew (default 300).")
    var signatureToleranceSeconds: String?
    @Option(name: .customLong("live-mode"), help: "true to mirror live-mode customers, false for test mode (default false).")
    var liveMode: String?
    @Option(name: .customLong("dedup-retention-hours"), help: "How long processed event ids are remembered (default 168).")
    var dedupRetentionHours: String?

    func run() throws {
        var flags: [String: String] = [:]
        flags["webhook-listen"] = webhookListen
        flags["rpc-listen"] = rpcListen
        flags["data-dir"] = dataDir
        flags["log-level"] = logLevel
        flags["event-loops"] = eventLoops
        flags["max-body-bytes"] = maxBodyBytes
        flags["max-connections"] = maxConnections
        flags["shutdown-grace-ms"] = shutdownGraceMs
        flags["webhook-path"] = webhookPath
        flags["webhook-secrets-file"] = webhookSecretsFile
        flags["signature-tolerance-seconds"] = signatureToleranceSeconds
        flags["live-mode"] = liveMode
        flags["dedup-retention-hours"] = dedupRetentionHours
        let environment = ProcessInfo.processInfo.environment
        let configPath = configFile ?? environment["CUSTOMER_CACHE_CONFIG"]
        var fileContents: String?
        if let configPath {
            guard let text = try? String(contentsOfFile: configPath, encoding: .utf8) else {
                throw ValidationError("cannot read config file \(configPath)")
            }
            fileContents = text
        }
        let configuration: AppConfiguration
        do {
            configuration = try AppConfiguration(sources: ConfigurationSources(flags: flags, environment: environment, fileContents: fileContents),
                                                 environment: environment)
        } catch {
            throw ValidationError(error.description)
        }

        let level = Logger.Level(rawValue: configuration.logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "customer-cache")

        // Signals are handled on a dispatch source, so they are ignored as process signals first.
        signal(SIGPIPE, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        signal(SIGINT, SIG_IGN)
        let service = CustomerCacheService(configuration: configuration, logger: logger)
        do {
            try service.start()
        } catch {
            logger.critical("could not start", metadata: ["error": "\(error)"])
            throw ExitCode(1)
        }
        let signalQueue = DispatchQueue(label: "signals")
        let sources = [SIGTERM, SIGINT].map { number -> any DispatchSourceSignal in
            let source = DispatchSource.makeSignalSource(signal: number, queue: signalQueue)
            source.setEventHandler { service.shutdown() }
            source.resume()
            return source
        }
        service.waitUntilStopped()
        sources.forEach { $0.cancel() }
    }
}
