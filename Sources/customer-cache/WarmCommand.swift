import ArgumentParser
import CacheWarmer
import CustomerCacheApp
import DigitalRiverAPI
import Foundation
import Logging

/// `customer-cache warm`: brings a running service's cache up to date from Digital River's list API or from a file
/// of customer ids, through the service's JSON-RPC API (it never opens the database). Runs as a Kubernetes Job or
/// CronJob; see README "Warming the cache" for the checkpoint, pacing and exit codes.
///
/// Secrets never come from argv: the Digital River key from `--api-key-file` or `DR_API_KEY`, the service's caller
/// token from `--rpc-token-file` or `CUSTOMER_CACHE_RPC_TOKEN`; setting both the file and the variable is an error.
struct WarmCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "warm",
        abstract: "Warm the running service's cache from Digital River's list API or a file of customer ids.",
        discussion: """
            Exit codes: 0 completed; 1 failed (Digital River or the service kept failing or refused the job; what \
            was applied is checkpointed); 2 completed, but some customers were invalid or some ids kept failing; \
            3 stopped early (SIGTERM/SIGINT or --max-pages), resume with --resume; 64 bad arguments.

            The Digital River key comes from --api-key-file or DR_API_KEY, the service token from --rpc-token-file \
            or CUSTOMER_CACHE_RPC_TOKEN; neither is accepted on the command line.
            """
    )

    @Option(name: .customLong("rpc-url"), help: "The service's internal JSON-RPC listener, e.g. http://127.0.0.1:8081 (/rpc is appended when no path is given).")
    var rpcURL: String
    @Option(name: .customLong("upstream-url"), help: ArgumentHelp(AppConfiguration.setting("upstream-url").help))
    var upstreamURL = AppConfiguration.setting("upstream-url").defaultValue ?? ""
    @Option(name: .customLong("api-key-file"), help: ArgumentHelp(AppConfiguration.setting("api-key-file").help + ". Needed for the list source."))
    var apiKeyFile: String?
    @Option(name: .customLong("rpc-token-file"), help: "File with the service's caller token (else \(AppConfiguration.warmRPCTokenSecret.environmentName); none: no Authorization header).")
    var rpcTokenFile: String?
    @Option(help: "Only customers updated at or after TIME: ISO-8601 (2025-01-01T00:00:00Z) or a duration back from now (90m, 26h, 7d).")
    var since: String?
    @Option(name: .customLong("updated-filter"), help: "Wire form of --since: bracketed (updatedTime[gte]=T) or plain (updatedTime=T). Open question, reference §7.12.")
    var updatedFilter = "bracketed"
    @Option(name: .customLong("ids-file"), help: "Warm these customer ids (one per line, # comments) through customer.get instead of listing; - reads stdin.")
    var idsFile: String?
    @Flag(help: "Continue the run recorded in the service's checkpoint instead of starting from the beginning.")
    var resume = false
    @Option(name: .customLong("requests-per-second"), help: "Average Digital River requests per second (test mode allows 25, live 250). 0: unpaced, local sandbox only.")
    var requestsPerSecond = 10.0
    @Option(name: .customLong("page-size"), help: "Customers per list request (1-100).")
    var pageSize = 100
    @Option(name: .customLong("load-batch"), help: "Most customers per cache.load call (1-1000); whole pages are grouped.")
    var loadBatch = 1_000
    @Option(name: .customLong("max-load-bytes"), help: "Most bytes per cache.load body; keep it under the service's max-body-bytes.")
    var maxLoadBytes = 1_000_000
    @Option(name: .customLong("loads-in-flight"), help: "cache.load calls in flight at once (1-4); 2 overlaps parsing with committing.")
    var loadsInFlight = 2
    @Option(name: .customLong("max-pages"), help: "Stop after this many list pages (or id batches), resumably (exit 3).")
    var maxPages: Int?
    @Option(help: "Checkpoint name (default warm:list:all, warm:list:since=<TIME as given>, or warm:ids:<digest of the list>).")
    var name: String?
    @Option(help: "Extra attempts per page, load or id batch after a transient failure.")
    var retries = 5
    @Option(name: .customLong("rpc-timeout-seconds"), help: "Deadline of one call to the service.")
    var rpcTimeoutSeconds = 60.0
    @Option(name: .customLong("http-client"), help: "auto (a small keep-alive client for http:// URLs, URLSession for https://) or urlsession (URLSession for both).")
    var httpClient = "auto"
    @Option(help: "Progress: auto (a live line on a terminal, else a log line every 5 s), terminal, log, or off.")
    var progress = "auto"
    @Flag(help: "Print the final summary as one JSON object instead of text.")
    var json = false
    @Option(name: .customLong("log-level"), help: "trace|debug|info|notice|warning|error|critical.")
    var logLevel = "notice"

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level: unknown level \(logLevel)") }
        guard UpdatedTimeFilterStyle(rawValue: updatedFilter) != nil else { throw ValidationError("--updated-filter: bracketed or plain") }
        if idsFile != nil, since != nil { throw ValidationError("--since applies to the list source, not to --ids-file") }
        if let since, SinceTime.resolve(since, nowMicroseconds: 0) == nil {
            throw ValidationError("--since: an ISO-8601 date-time (2025-01-01T00:00:00Z) or a duration such as 90m, 26h, 7d")
        }
        guard (1...100).contains(pageSize) else { throw ValidationError("--page-size: 1 to 100") }
        guard (1...1_000).contains(loadBatch) else { throw ValidationError("--load-batch: 1 to 1000") }
        guard maxLoadBytes >= 4_096 else { throw ValidationError("--max-load-bytes: at least 4096") }
        guard (1...4).contains(loadsInFlight) else { throw ValidationError("--loads-in-flight: 1 to 4") }
        guard requestsPerSecond >= 0, requestsPerSecond.isFinite else { throw ValidationError("--requests-per-second: 0 or more") }
        guard retries >= 0, retries <= 100 else { throw ValidationError("--retries: 0 to 100") }
        guard rpcTimeoutSeconds > 0 else { throw ValidationError("--rpc-timeout-seconds: more than 0") }
        if let maxPages, maxPages < 1 { throw ValidationError("--max-pages: at least 1") }
        guard WarmConfiguration.HTTPClientChoice(rawValue: httpClient) != nil else { throw ValidationError("--http-client: auto or urlsession") }
        guard ["auto", "terminal", "log", "off"].contains(progress) else { throw ValidationError("--progress: auto, terminal, log or off") }
    }

    func run() async throws {
        ProcessSetup.bootstrapLogging(level: Logger.Level(rawValue: logLevel) ?? .notice)
        let logger = Logger(label: "customer-cache-warm")
        let environment = ProcessInfo.processInfo.environment
        try ProcessSetup.refuseUnknownVariables(in: environment)
        let configuration = try makeConfiguration(environment: environment)
        if requestsPerSecond > 250 {
            logger.warning("--requests-per-second is above Digital River's live limit of 250/s; expect 429s")
        } else if requestsPerSecond == 0 {
            logger.warning("--requests-per-second 0: Digital River requests are not paced (use only against the local sandbox)")
        }

        let statistics = WarmStatistics()
        let job: WarmJob
        do {
            job = try WarmJob(configuration: configuration, logger: logger, statistics: statistics)
        } catch {
            throw ValidationError(error.message)
        }
        let mode: WarmProgress.Mode = switch progress {
        case "terminal": .terminal
        case "log": .log(intervalSeconds: 5)
        case "off": .off
        default: WarmProgress.automaticMode
        }
        let reporter = WarmProgress(mode: mode, statistics: statistics, logger: logger)

        // First SIGTERM/SIGINT: finish the loads in flight, save the checkpoint, exit 3. Second: leave at once
        // (still safe: the service commits each page together with its checkpoint, or not at all).
        let signals = await ProcessSetup.terminationSignals()
        let stopOnSignal = Task {
            var count = 0
            for await signal in signals {
                count += 1
                if count == 1 {
                    logger.notice("stopping after the loads in flight; the checkpoint will be saved (signal again to quit now)",
                                  metadata: ["signal": "\(signal)"])
                    job.requestStop()
                } else {
                    logger.warning("quitting at once", metadata: ["signal": "\(signal)"])
                    Foundation.exit(3)
                }
            }
        }
        reporter.start()
        let report = await job.run()
        reporter.stop()
        stopOnSignal.cancel()
        print(json ? report.json : report.text)
        if report.exitCode != 0 { throw ExitCode(report.exitCode) }
    }

    /// The job's configuration from the options, with secrets read from files or `environment` and the id list read.
    func makeConfiguration(environment: [String: String]) throws -> WarmConfiguration {
        let source: WarmConfiguration.Source
        if let idsFile {
            let text: String
            if idsFile == "-" {
                text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
            } else {
                guard let contents = try? String(contentsOfFile: idsFile, encoding: .utf8) else {
                    throw ValidationError("--ids-file: cannot read \(idsFile)")
                }
                text = contents
            }
            source = .ids(IDList(parsing: text))
        } else {
            let now = Int64(Date().timeIntervalSince1970 * 1_000_000)
            let absolute = try since.map { text in
                guard let resolved = SinceTime.resolve(text, nowMicroseconds: now) else { throw ValidationError("--since: not a time") }
                return resolved
            }
            source = .list(since: absolute, sinceArgument: since)
        }
        var configuration = WarmConfiguration(source: source, rpcURL: rpcURL)
        configuration.rpcToken = try ProcessSetup.secret(AppConfiguration.warmRPCTokenSecret, path: rpcTokenFile, environment: environment)
        if case .list = source {
            guard let keyText = try ProcessSetup.secret(AppConfiguration.apiKeySecret, path: apiKeyFile, environment: environment) else {
                throw ValidationError("the list source needs the Digital River API key: --api-key-file or DR_API_KEY")
            }
            guard let key = DigitalRiverAPIKey(keyText) else { throw ValidationError("the Digital River API key is not a visible-ASCII token") }
            var upstream = DigitalRiverClientConfiguration(apiKey: key)
            upstream.baseURL = upstreamURL
            upstream.updatedTimeFilterStyle = UpdatedTimeFilterStyle(rawValue: updatedFilter) ?? .bracketed
            upstream.maxConcurrentRequests = 2
            configuration.upstream = upstream
        }
        configuration.resume = resume
        configuration.requestsPerSecond = requestsPerSecond
        configuration.pageSize = pageSize
        configuration.loadBatchSize = loadBatch
        configuration.maxLoadBytes = maxLoadBytes
        configuration.loadsInFlight = loadsInFlight
        configuration.maxPages = maxPages
        configuration.checkpointName = name
        configuration.retries = retries
        configuration.rpcTimeoutSeconds = rpcTimeoutSeconds
        configuration.httpClient = WarmConfiguration.HTTPClientChoice(rawValue: httpClient) ?? .automatic
        return configuration
    }
}
