import Foundation
import HTTP1
import Sockets
import WebhookSignature

/// Everything `serve` needs; the defaults run the service locally with no upstream.
public struct AppConfiguration: Sendable {
    /// Public listener for Digital River webhooks (behind the proxy).
    public var webhookListen: SocketAddress
    /// Internal listener for JSON-RPC and metrics; loopback by default so nothing outside the host reaches it.
    public var rpcListen: SocketAddress
    /// Where the SQLite store lives.
    public var dataDirectory: String
    /// The shared PostgreSQL database (`database-url`, never with a password in it); nil keeps SQLite in `dataDirectory`.
    public var databaseURL: String?
    /// The database password, from `database-password-file`, `CUSTOMER_CACHE_DATABASE_PASSWORD` or `PGPASSWORD`; never argv.
    public var databasePassword: String?
    /// How long a PostgreSQL connection may go unanswered before it counts as lost (connect, keepalives, writes).
    public var databaseTimeoutMilliseconds: Int
    /// Longest pause between reconnect attempts while PostgreSQL is unreachable.
    public var databaseReconnectMaxMilliseconds: Int
    /// Event loops per listener.
    public var eventLoops: Int
    /// Event loops of the RPC listener. Default: half the cores (at least one). Its callers' traffic is many small
    /// requests; a loop per core made loops and co-located clients pre-empt each other, which doubled p99 at 64
    /// connections on 2 cores (bench/run rpc: 6.6 ms with 2 loops, 3.2 ms with 1).
    public var rpcEventLoops: Int
    public var limits: HTTPLimits
    public var timeouts: HTTPTimeouts
    public var maxConnections: Int
    /// Unsent response bytes per connection before its requests stop being read (backpressure).
    public var maxOutputBufferBytes: Int
    public var logLevel: String
    /// Path of the webhook endpoint on the public listener.
    public var webhookPath: String
    /// Signing secrets, newest first; from `CUSTOMER_CACHE_WEBHOOK_SECRETS` or `webhook-secrets-file`, never argv.
    public var webhookSecrets: [SigningSecret]
    /// Accepted clock difference for signature timestamps, both directions.
    public var signatureToleranceSeconds: Int64
    /// Whether this deployment mirrors live (production) or test-mode customers; events of the other mode get 400.
    public var liveMode: Bool
    /// How long processed event ids are remembered for deduplication.
    public var dedupRetentionSeconds: Int64
    /// Most customers held in memory (0: every one); beyond it SIEVE evicts, and a miss reads the store first.
    public var maxCachedCustomers: Int

    /// Internal callers' bearer tokens; empty means RPC authentication is off.
    public var callerTokens: CallerTokens
    /// Digital River base URL, used when an API key is configured.
    public var upstreamURL: String
    /// Digital River API key (from `DR_API_KEY` or `api-key-file`); nil leaves the upstream disabled unless `sandbox`.
    public var upstreamAPIKey: String?
    /// Run an in-process Digital River emulator as the upstream (demos); never the default.
    public var sandbox: Bool
    /// Synthetic customers the in-process sandbox starts with (they exist upstream only, so reads go through).
    public var sandboxSeed: Int
    public var upstreamRequestTimeoutSeconds: Double
    public var upstreamMaxConcurrency: Int
    /// How `updatedTime` filters are sent on the list API (reference §7.12 is an open question).
    public var upstreamUpdatedFilterStyle: String
    /// How long "not found upstream" is remembered.
    public var negativeCacheSeconds: Int64
    /// How often queued forgets are retried towards Digital River.
    public var forgetRetrySeconds: Double
    public var rpcMaxBatch: Int
    public var rpcMaxDepth: Int
    public var rpcMaxStringBytes: Int

    /// Proxies whose X-Forwarded-For / Forwarded headers are believed.
    public var trustedProxies: [CIDRBlock]
    /// The only header a trusted proxy's client address is read from.
    public var clientAddressHeader: ClientAddressHeader
    /// When non-empty, only these client addresses may deliver webhooks (Digital River's published safelist).
    public var webhookAllowedSources: [CIDRBlock]

    /// The API key's environment variable.
    public static let apiKeyEnvironmentName = "DR_API_KEY"

    /// The database password's environment variable (libpq's own `PGPASSWORD` is accepted too).
    public static let databasePasswordEnvironmentName = "CUSTOMER_CACHE_DATABASE_PASSWORD"

    /// The secrets' environment variable: the secrets themselves, so it is read from the environment only.
    public static let webhookSecretsEnvironmentName = "CUSTOMER_CACHE_WEBHOOK_SECRETS"

    /// The config file's path, when `--config` is not given.
    public static let configFileEnvironmentName = "CUSTOMER_CACHE_CONFIG"

    /// The `warm` command's caller token: one token, unlike the service's `CUSTOMER_CACHE_RPC_TOKENS` list.
    public static let warmRPCTokenEnvironmentName = "CUSTOMER_CACHE_RPC_TOKEN"

    /// The `CUSTOMER_CACHE_*` variables that are not settings; with the settings' own names, every one the program reads.
    public static let environmentNamesBesideSettings = [
        webhookSecretsEnvironmentName, CallerTokens.environmentName, databasePasswordEnvironmentName,
        configFileEnvironmentName, warmRPCTokenEnvironmentName,
    ]

    /// Parses every setting from its sources (flag, then `CUSTOMER_CACHE_<NAME>`, then the config file, then default).
    /// `readFile` reads secret files; injected so tests need no files and errors never echo contents.
    public init(sources: ConfigurationSources, environment: [String: String] = [:],
                readFile: (String) -> String? = { try? String(contentsOfFile: $0, encoding: .utf8) }) throws(ConfigurationError) {
        webhookListen = try sources.address("webhook-listen")
        rpcListen = try sources.address("rpc-listen")
        dataDirectory = try sources.string("data-dir")
        (databaseURL, databasePassword) = try Self.loadDatabase(sources: sources, environment: environment, readFile: readFile)
        databaseTimeoutMilliseconds = try sources.integer("database-timeout-ms", range: 2_000...600_000)
        databaseReconnectMaxMilliseconds = try sources.integer("database-reconnect-max-ms", range: 100...600_000)
        eventLoops = try sources.integer("event-loops", range: 1...256)
        rpcEventLoops = try sources.integer("rpc-event-loops", range: 1...256)
        var limits = HTTPLimits()
        limits.maxRequestLineBytes = try sources.integer("max-request-line-bytes", range: 64...1 << 20)
        limits.maxHeaderBytes = try sources.integer("max-header-bytes", range: 256...1 << 20)
        limits.maxHeaderCount = try sources.integer("max-header-count", range: 4...10_000)
        limits.maxBodyBytes = try sources.integer("max-body-bytes", range: 1024...64 << 20)
        self.limits = limits
        var timeouts = HTTPTimeouts()
        timeouts.headerReadMilliseconds = try sources.integer("header-timeout-ms", range: 100...3_600_000)
        timeouts.bodyReadMilliseconds = try sources.integer("body-timeout-ms", range: 100...3_600_000)
        timeouts.idleMilliseconds = try sources.integer("idle-timeout-ms", range: 100...3_600_000)
        timeouts.writeMilliseconds = try sources.integer("write-timeout-ms", range: 100...3_600_000)
        timeouts.shutdownGraceMilliseconds = try sources.integer("shutdown-grace-ms", range: 0...3_600_000)
        self.timeouts = timeouts
        maxConnections = try sources.integer("max-connections", range: 1...1_000_000)
        maxOutputBufferBytes = try sources.integer("max-output-buffer-bytes", range: 4096...1 << 30)
        logLevel = try sources.choice("log-level", ["trace", "debug", "info", "notice", "warning", "error", "critical"])
        webhookPath = try sources.string("webhook-path")
        guard webhookPath.hasPrefix("/"), !webhookPath.contains(" ") else {
            throw ConfigurationError(key: "webhook-path", reason: "must start with / and contain no spaces")
        }
        signatureToleranceSeconds = Int64(try sources.integer("signature-tolerance-seconds", range: 1...86_400))
        liveMode = try sources.boolean("live-mode")
        dedupRetentionSeconds = Int64(try sources.integer("dedup-retention-hours", range: 1...24 * 365)) * 3600
        maxCachedCustomers = try sources.integer("max-cached-customers", range: 0...1_000_000_000)
        let secretsFile = sources.optionalString("webhook-secrets-file")
        let secretsFromEnvironment = environment[Self.webhookSecretsEnvironmentName].flatMap { $0.isEmpty ? nil : $0 }
        var secretsText: String?
        switch (secretsFile, secretsFromEnvironment) {
        case (.some, .some):
            throw ConfigurationError(key: "webhook-secrets-file", reason: "set either it or \(Self.webhookSecretsEnvironmentName), not both")
        case (.some(let path), nil):
            guard let text = readFile(path) else {
                throw ConfigurationError(key: "webhook-secrets-file", reason: "cannot read \(path)")
            }
            secretsText = text.trimmingCharacters(in: " \t\r\n")
        case (nil, .some(let text)):
            secretsText = text
        case (nil, nil):
            secretsText = nil
        }
        if let secretsText, !secretsText.isEmpty {
            do {
                webhookSecrets = try SigningSecretList.parse(secretsText)
            } catch {
                throw ConfigurationError(key: secretsFile == nil ? Self.webhookSecretsEnvironmentName : "webhook-secrets-file", reason: error.description)
            }
        } else {
            webhookSecrets = []
        }
        callerTokens = try Self.loadTokens(sources: sources, environment: environment, readFile: readFile)
        upstreamURL = try sources.string("upstream-url")
        guard upstreamURL.hasPrefix("https://") || upstreamURL.hasPrefix("http://") else {
            throw ConfigurationError(key: "upstream-url", reason: "must be an http:// or https:// URL")
        }
        let keyFile = sources.optionalString("api-key-file")
        let keyFromEnvironment = environment[Self.apiKeyEnvironmentName].flatMap { $0.isEmpty ? nil : $0 }
        switch (keyFile, keyFromEnvironment) {
        case (.some, .some):
            throw ConfigurationError(key: "api-key-file", reason: "set either it or \(Self.apiKeyEnvironmentName), not both")
        case (.some(let path), nil):
            guard let text = readFile(path) else { throw ConfigurationError(key: "api-key-file", reason: "cannot read \(path)") }
            upstreamAPIKey = text.trimmingCharacters(in: " \t\r\n")
        case (nil, .some(let key)):
            upstreamAPIKey = key.trimmingCharacters(in: " \t\r\n")
        case (nil, nil):
            upstreamAPIKey = nil
        }
        sandbox = try sources.boolean("sandbox")
        sandboxSeed = try sources.integer("sandbox-seed", range: 0...1_000_000)
        upstreamRequestTimeoutSeconds = Double(try sources.integer("upstream-timeout-ms", range: 100...120_000)) / 1000
        upstreamMaxConcurrency = try sources.integer("upstream-max-concurrency", range: 1...256)
        upstreamUpdatedFilterStyle = try sources.choice("upstream-updated-filter", ["bracketed", "plain"])
        negativeCacheSeconds = Int64(try sources.integer("negative-cache-seconds", range: 0...86_400))
        forgetRetrySeconds = Double(try sources.integer("forget-retry-seconds", range: 1...86_400))
        rpcMaxBatch = try sources.integer("rpc-max-batch", range: 1...10_000)
        rpcMaxDepth = try sources.integer("rpc-max-depth", range: 4...256)
        rpcMaxStringBytes = try sources.integer("rpc-max-string-bytes", range: 256...16 << 20)
        trustedProxies = try Self.cidrs(sources, "trusted-proxies")
        clientAddressHeader = ClientAddressHeader(
            rawValue: try sources.choice("client-address-header", ClientAddressHeader.allCases.map(\.rawValue)))!
        webhookAllowedSources = try Self.cidrs(sources, "webhook-allowed-sources")
        if webhookListen == rpcListen, webhookListen.port != 0 {
            throw ConfigurationError(key: "rpc-listen", reason: "must differ from webhook-listen: the internal API must not share the public listener")
        }
    }

    /// The database URL and password. The URL must not carry a password (it could reach argv, `ps` or a log); the
    /// error never echoes the URL.
    private static func loadDatabase(sources: ConfigurationSources, environment: [String: String],
                                     readFile: (String) -> String?) throws(ConfigurationError) -> (String?, String?) {
        guard let url = sources.optionalString("database-url"), !url.isEmpty else { return (nil, nil) }
        guard url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") else {
            throw ConfigurationError(key: "database-url", reason: "must be a postgres:// or postgresql:// URL")
        }
        let authority = url.drop { $0 != "/" }.dropFirst(2).prefix { $0 != "/" && $0 != "?" }
        if authority.contains("@") && authority.prefix(while: { $0 != "@" }).contains(":") || url.lowercased().contains("password=") {
            throw ConfigurationError(key: "database-url", reason: "must not contain a password: use database-password-file or \(databasePasswordEnvironmentName)")
        }
        let fromEnvironment = [databasePasswordEnvironmentName, "PGPASSWORD"].lazy.compactMap { environment[$0] }.first { !$0.isEmpty }
        if let path = sources.optionalString("database-password-file") {
            guard fromEnvironment == nil || environment[databasePasswordEnvironmentName] == nil else {
                throw ConfigurationError(key: "database-password-file", reason: "set either it or \(databasePasswordEnvironmentName), not both")
            }
            guard let text = readFile(path) else { throw ConfigurationError(key: "database-password-file", reason: "cannot read \(path)") }
            return (url, text.trimmingCharacters(in: "\r\n"))
        }
        return (url, fromEnvironment)
    }

    private static func cidrs(_ sources: ConfigurationSources, _ key: String) throws(ConfigurationError) -> [CIDRBlock] {
        guard let text = sources.optionalString(key) else { return [] }
        switch CIDRBlock.parseList(text) {
        case .success(let blocks): return blocks
        case .failure(let error): throw ConfigurationError(key: key, reason: "entry \(error.entry) ('\(error.text)') is not an address or CIDR block")
        }
    }

    private static func loadTokens(sources: ConfigurationSources, environment: [String: String],
                                   readFile: (String) -> String?) throws(ConfigurationError) -> CallerTokens {
        let file = sources.optionalString("rpc-tokens-file")
        let fromEnvironment = environment[CallerTokens.environmentName].flatMap { $0.isEmpty ? nil : $0 }
        switch (file, fromEnvironment) {
        case (.some, .some):
            throw ConfigurationError(key: "rpc-tokens-file", reason: "set either it or \(CallerTokens.environmentName), not both")
        case (.some(let path), nil):
            guard let text = readFile(path) else { throw ConfigurationError(key: "rpc-tokens-file", reason: "cannot read \(path)") }
            return try CallerTokens(parsing: text)
        case (nil, .some(let text)):
            return try CallerTokens(parsing: text)
        case (nil, nil):
            return .none
        }
    }

    /// The HTTP configuration for one listener.
    public func httpConfiguration(address: SocketAddress, name: String) -> HTTPServerConfiguration {
        var configuration = HTTPServerConfiguration(address: address, name: name, eventLoopCount: name == "rpc" ? rpcEventLoops : eventLoops,
                                                    limits: limits, timeouts: timeouts)
        configuration.maxConnections = maxConnections
        configuration.maxOutputBufferBytes = maxOutputBufferBytes
        return configuration
    }
}

/// One documented setting: its key (flag name), default and help text. README's configuration table lists the same.
public struct SettingSpecification: Sendable {
    public let key: String
    public let defaultValue: String?
    public let help: String

    /// The environment variable that may carry this setting.
    public var environmentName: String {
        "CUSTOMER_CACHE_" + key.uppercased().replacingOccurrences(of: "-", with: "_")
    }
}

extension AppConfiguration {
    /// Every setting `serve` reads, in README order.
    public static let settings: [SettingSpecification] = [
        .init(key: "webhook-listen", defaultValue: "127.0.0.1:8080", help: "Webhook listener HOST:PORT ([v6]:PORT for IPv6; port 0 picks one)"),
        .init(key: "rpc-listen", defaultValue: "127.0.0.1:8081", help: "Internal JSON-RPC and metrics listener HOST:PORT"),
        .init(key: "data-dir", defaultValue: "./data", help: "Directory of the SQLite store"),
        .init(key: "database-url", defaultValue: nil, help: "postgres:// URL of a PostgreSQL store shared by replicas (no password in it); unset: SQLite in data-dir"),
        .init(key: "database-password-file", defaultValue: nil, help: "File with the PostgreSQL password (else CUSTOMER_CACHE_DATABASE_PASSWORD or PGPASSWORD)"),
        .init(key: "database-timeout-ms", defaultValue: "10000", help: "Silence after which a PostgreSQL connection counts as lost (connect timeout, TCP keepalives, tcp_user_timeout)"),
        .init(key: "database-reconnect-max-ms", defaultValue: "2000", help: "Longest pause between reconnects while PostgreSQL is unreachable (from 100 ms, doubling, jittered)"),
        .init(key: "event-loops", defaultValue: "\(HTTPServerConfiguration.defaultEventLoopCount)", help: "Event-loop threads of the webhook listener (default: cores)"),
        .init(key: "rpc-event-loops", defaultValue: "\(max(1, HTTPServerConfiguration.defaultEventLoopCount / 2))", help: "Event-loop threads of the RPC listener (default: half the cores, at least 1)"),
        .init(key: "max-connections", defaultValue: "4096", help: "Open connections per listener; at the cap the longest-idle one is closed for a new one, else 503"),
        .init(key: "max-output-buffer-bytes", defaultValue: "262144", help: "Unsent response bytes per connection before its requests stop being read"),
        .init(key: "max-request-line-bytes", defaultValue: "8192", help: "Longest request line; longer gets 414"),
        .init(key: "max-header-bytes", defaultValue: "16384", help: "Largest header section; larger gets 431"),
        .init(key: "max-header-count", defaultValue: "100", help: "Most header fields; more gets 431"),
        .init(key: "max-body-bytes", defaultValue: "1048576", help: "Largest request body; larger gets 413"),
        .init(key: "header-timeout-ms", defaultValue: "10000", help: "Time to receive a request head, from accept for the first (slowloris); 408"),
        .init(key: "body-timeout-ms", defaultValue: "30000", help: "Time to receive a request body; 408"),
        .init(key: "idle-timeout-ms", defaultValue: "60000", help: "Idle keep-alive connection lifetime"),
        .init(key: "write-timeout-ms", defaultValue: "30000", help: "Time a response may wait for a slow reader"),
        .init(key: "shutdown-grace-ms", defaultValue: "10000", help: "Time in-flight requests get on SIGTERM/SIGINT"),
        .init(key: "log-level", defaultValue: "info", help: "trace, debug, info, notice, warning, error or critical"),
        .init(key: "webhook-path", defaultValue: "/webhooks/digitalriver", help: "Path of the webhook endpoint"),
        .init(key: "webhook-secrets-file", defaultValue: nil, help: "File with the signing secrets (else CUSTOMER_CACHE_WEBHOOK_SECRETS)"),
        .init(key: "signature-tolerance-seconds", defaultValue: "300", help: "Accepted signature timestamp skew, both directions"),
        .init(key: "live-mode", defaultValue: "false", help: "true for live (production) events, false for test mode"),
        .init(key: "dedup-retention-hours", defaultValue: "168", help: "How long processed event ids are remembered"),
        .init(key: "max-cached-customers", defaultValue: "0", help: "Most customers kept in memory (0: all); beyond it the least used are evicted and read from the store"),
        .init(key: "rpc-tokens-file", defaultValue: nil, help: "File of 'caller token [methods]' lines (else CUSTOMER_CACHE_RPC_TOKENS); unset: no RPC auth"),
        .init(key: "upstream-url", defaultValue: "https://api.digitalriver.com", help: "Digital River API base URL"),
        .init(key: "api-key-file", defaultValue: nil, help: "File with the Digital River secret API key (else DR_API_KEY); unset: upstream disabled"),
        .init(key: "sandbox", defaultValue: "false", help: "Run an in-process Digital River emulator as the upstream (demos only)"),
        .init(key: "sandbox-seed", defaultValue: "1000", help: "Synthetic customers the --sandbox emulator starts with (cust-000001…)"),
        .init(key: "upstream-timeout-ms", defaultValue: "10000", help: "Deadline of one Digital River request"),
        .init(key: "upstream-max-concurrency", defaultValue: "16", help: "Digital River requests in flight at once"),
        .init(key: "upstream-updated-filter", defaultValue: "bracketed", help: "updatedTime filter encoding: bracketed (updatedTime[gte]=) or plain"),
        .init(key: "negative-cache-seconds", defaultValue: "60", help: "How long 'not found upstream' is remembered (0: never)"),
        .init(key: "forget-retry-seconds", defaultValue: "30", help: "Interval between retries of queued forgets"),
        .init(key: "rpc-max-batch", defaultValue: "100", help: "Most calls in one JSON-RPC batch"),
        .init(key: "rpc-max-depth", defaultValue: "32", help: "Deepest JSON nesting in a JSON-RPC body"),
        .init(key: "rpc-max-string-bytes", defaultValue: "65536", help: "Longest JSON string in a JSON-RPC body"),
        .init(key: "trusted-proxies", defaultValue: nil, help: "Comma-separated CIDRs whose client-address header is believed"),
        .init(key: "client-address-header", defaultValue: "X-Forwarded-For", help: "The one header trusted proxies set: X-Forwarded-For, Forwarded or X-Real-IP"),
        .init(key: "webhook-allowed-sources", defaultValue: nil, help: "Comma-separated CIDRs allowed to deliver webhooks (unset: any)"),
    ]
}
