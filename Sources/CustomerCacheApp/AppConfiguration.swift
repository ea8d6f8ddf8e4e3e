import Foundation
import HTTP1
import Sockets
import WebhookSignature

/// Everything `serve` needs; the defaults run the service locally with no upstream.
public struct AppConfiguration: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
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
    /// The file the signing secrets came from, watched for new versions; nil when they came from the environment.
    public var webhookSecretsFile: String?
    /// The file the caller tokens came from, watched for new versions; nil when they came from the environment.
    public var rpcTokensFile: String?
    /// How often the secret files are checked for a new version.
    public var secretReloadIntervalMilliseconds: Int
    /// How long a secret or token dropped from its file keeps working after the reload.
    public var secretRotationGraceSeconds: Int64
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

    /// Every setting's value after precedence (nil: unset), for `description`; holds no secret, only file paths.
    private let effectiveSettings: [(key: String, value: String?)]

    /// Every setting as `key=value`, then the secrets as counts only: safe to log.
    public var description: String {
        let settings = effectiveSettings.map { "\($0.key)=\($0.value ?? "(unset)")" }
        let secrets = ["webhook-secrets=\(webhookSecrets.isEmpty ? "(none)" : "<redacted: \(webhookSecrets.count)>")",
                       "rpc-tokens=\(callerTokens.isEmpty ? "(none)" : "<redacted: \(callerTokens.count) callers>")",
                       "api-key=\(upstreamAPIKey == nil ? "(none)" : "<redacted>")",
                       "database-password=\(databasePassword == nil ? "(none)" : "<redacted>")"]
        return (settings + secrets).joined(separator: " ")
    }

    /// The same redacted text as `description`.
    public var debugDescription: String { description }

    /// Without this, `dump()` would print the API key and the database password.
    public var customMirror: Mirror { Mirror(self, children: ["description": description], displayStyle: .struct) }

    /// The declaration of `key`, for commands that share a setting with `serve` (its help, its default).
    public static func setting(_ key: String) -> SettingSpecification {
        guard let setting = settings.first(where: { $0.key == key }) else { preconditionFailure("no setting \(key) is declared") }
        return setting
    }

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

    /// The webhook signing secrets (`serve`); `SecretFileWatcher` re-reads their file.
    public static let webhookSecretsSecret = SecretSpecification(fileKey: "webhook-secrets-file", environmentName: webhookSecretsEnvironmentName)
    /// The internal callers' tokens (`serve`); `SecretFileWatcher` re-reads their file. Untrimmed: the parser reads lines.
    public static let rpcTokensSecret = SecretSpecification(fileKey: "rpc-tokens-file", environmentName: CallerTokens.environmentName, trimmed: "")
    /// The PostgreSQL password (`serve`); only line breaks are trimmed, since a password may end in a space.
    public static let databasePasswordSecret = SecretSpecification(fileKey: "database-password-file", environmentName: databasePasswordEnvironmentName,
                                                                   fallbackEnvironmentNames: ["PGPASSWORD"], trimmed: "\r\n")
    /// The Digital River API key (`serve`, `warm`, `sandbox`).
    public static let apiKeySecret = SecretSpecification(fileKey: "api-key-file", environmentName: apiKeyEnvironmentName)
    /// The `warm` command's caller token.
    public static let warmRPCTokenSecret = SecretSpecification(fileKey: "rpc-token-file", environmentName: warmRPCTokenEnvironmentName)
    /// The signing secret of the standalone `sandbox` emulator.
    public static let sandboxWebhookSecret = SecretSpecification(fileKey: "webhook-secret-file", environmentName: "SANDBOX_WEBHOOK_SECRET")
    /// Every secret any command reads.
    public static let secrets = [webhookSecretsSecret, rpcTokensSecret, databasePasswordSecret, apiKeySecret, warmRPCTokenSecret, sandboxWebhookSecret]

    /// The `CUSTOMER_CACHE_*` variables that are not settings; with the settings' own names, every one the program reads.
    public static let environmentNamesBesideSettings =
        secrets.map(\.environmentName).filter { $0.hasPrefix(ConfigurationSources.environmentPrefix) } + [configFileEnvironmentName]

    /// Parses every setting from its sources (flag, then `CUSTOMER_CACHE_<NAME>`, then the config file, then default).
    /// `readFile` reads secret files; injected so tests need no files and errors never echo contents.
    public init(sources: ConfigurationSources, environment: [String: String] = [:],
                readFile: (String) -> String? = { try? String(contentsOfFile: $0, encoding: .utf8) }) throws(ConfigurationError) {
        effectiveSettings = Self.settings.map { ($0.key, sources.raw($0.key)) }
        webhookListen = try sources.address("webhook-listen")
        rpcListen = try sources.address("rpc-listen")
        dataDirectory = try sources.string("data-dir")
        (databaseURL, databasePassword) = try Self.loadDatabase(sources: sources, environment: environment, readFile: readFile)
        databaseTimeoutMilliseconds = try sources.integer("database-timeout-ms")
        databaseReconnectMaxMilliseconds = try sources.integer("database-reconnect-max-ms")
        eventLoops = try sources.integer("event-loops")
        rpcEventLoops = try sources.integer("rpc-event-loops")
        var limits = HTTPLimits()
        limits.maxRequestLineBytes = try sources.integer("max-request-line-bytes")
        limits.maxHeaderBytes = try sources.integer("max-header-bytes")
        limits.maxHeaderCount = try sources.integer("max-header-count")
        limits.maxBodyBytes = try sources.integer("max-body-bytes")
        self.limits = limits
        var timeouts = HTTPTimeouts()
        timeouts.headerReadMilliseconds = try sources.integer("header-timeout-ms")
        timeouts.bodyReadMilliseconds = try sources.integer("body-timeout-ms")
        timeouts.idleMilliseconds = try sources.integer("idle-timeout-ms")
        timeouts.writeMilliseconds = try sources.integer("write-timeout-ms")
        timeouts.shutdownGraceMilliseconds = try sources.integer("shutdown-grace-ms")
        self.timeouts = timeouts
        maxConnections = try sources.integer("max-connections")
        maxOutputBufferBytes = try sources.integer("max-output-buffer-bytes")
        logLevel = try sources.choice("log-level")
        webhookPath = try sources.string("webhook-path")
        guard webhookPath.hasPrefix("/"), !webhookPath.contains(" ") else {
            throw ConfigurationError(key: "webhook-path", reason: "must start with / and contain no spaces")
        }
        signatureToleranceSeconds = Int64(try sources.integer("signature-tolerance-seconds"))
        liveMode = try sources.boolean("live-mode")
        dedupRetentionSeconds = Int64(try sources.integer("dedup-retention-hours")) * 3600
        maxCachedCustomers = try sources.integer("max-cached-customers")
        let secrets = try Self.webhookSecretsSecret.read(path: sources.optionalString("webhook-secrets-file"), environment: environment, readFile: readFile)
        webhookSecrets = try secrets.map { secret throws(ConfigurationError) in try Self.parseWebhookSecrets(secret.text, from: secret.origin) } ?? []
        if case .file(let path) = secrets?.origin { webhookSecretsFile = path } else { webhookSecretsFile = nil }
        (callerTokens, rpcTokensFile) = try Self.loadTokens(sources: sources, environment: environment, readFile: readFile)
        upstreamURL = try sources.string("upstream-url")
        guard upstreamURL.hasPrefix("https://") || upstreamURL.hasPrefix("http://") else {
            throw ConfigurationError(key: "upstream-url", reason: "must be an http:// or https:// URL")
        }
        upstreamAPIKey = try Self.apiKeySecret.read(path: sources.optionalString("api-key-file"), environment: environment, readFile: readFile)
            .map { $0.text.trimmingCharacters(in: " \t\r\n") }
        sandbox = try sources.boolean("sandbox")
        sandboxSeed = try sources.integer("sandbox-seed")
        upstreamRequestTimeoutSeconds = Double(try sources.integer("upstream-timeout-ms")) / 1000
        upstreamMaxConcurrency = try sources.integer("upstream-max-concurrency")
        upstreamUpdatedFilterStyle = try sources.choice("upstream-updated-filter")
        negativeCacheSeconds = Int64(try sources.integer("negative-cache-seconds"))
        forgetRetrySeconds = Double(try sources.integer("forget-retry-seconds"))
        rpcMaxBatch = try sources.integer("rpc-max-batch")
        rpcMaxDepth = try sources.integer("rpc-max-depth")
        rpcMaxStringBytes = try sources.integer("rpc-max-string-bytes")
        trustedProxies = try Self.cidrs(sources, "trusted-proxies")
        clientAddressHeader = ClientAddressHeader(
            rawValue: try sources.choice("client-address-header"))!
        webhookAllowedSources = try Self.cidrs(sources, "webhook-allowed-sources")
        secretReloadIntervalMilliseconds = try sources.integer("secret-reload-interval-ms")
        secretRotationGraceSeconds = Int64(try sources.integer("secret-rotation-grace-seconds"))
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
        let password = try databasePasswordSecret.read(path: sources.optionalString("database-password-file"), environment: environment, readFile: readFile)
        return (url, password?.text)
    }

    /// The signing secret list; an error names where it came from (the file setting or the variable), never a secret.
    static func parseWebhookSecrets(_ text: String, from origin: SecretSpecification.Origin) throws(ConfigurationError) -> [SigningSecret] {
        guard !text.isEmpty else { return [] }
        do {
            return try SigningSecretList.parse(text)
        } catch {
            throw ConfigurationError(key: origin == .environment(webhookSecretsEnvironmentName) ? webhookSecretsEnvironmentName : "webhook-secrets-file",
                                     reason: error.description)
        }
    }

    private static func cidrs(_ sources: ConfigurationSources, _ key: String) throws(ConfigurationError) -> [CIDRBlock] {
        guard let text = sources.optionalString(key) else { return [] }
        switch CIDRBlock.parseList(text) {
        case .success(let blocks): return blocks
        case .failure(let error): throw ConfigurationError(key: key, reason: "entry \(error.entry) ('\(error.text)') is not an address or CIDR block")
        }
    }

    private static func loadTokens(sources: ConfigurationSources, environment: [String: String],
                                   readFile: (String) -> String?) throws(ConfigurationError) -> (CallerTokens, file: String?) {
        guard let tokens = try rpcTokensSecret.read(path: sources.optionalString("rpc-tokens-file"), environment: environment, readFile: readFile) else {
            return (.none, nil)
        }
        if case .file(let path) = tokens.origin { return (try CallerTokens(parsing: tokens.text), path) }
        return (try CallerTokens(parsing: tokens.text), nil)
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

/// One setting, declared once: its key (the flag, the config file key and, as `CUSTOMER_CACHE_<KEY>`, the environment
/// variable), what it holds, its default and help. `serve --help`, the flag parser, the readers and README's table
/// (checked by ContractTests) all come from these.
public struct SettingSpecification: Sendable {
    /// What a setting's value is; the reader of that kind checks it and names the key when it is wrong.
    public enum Kind: Sendable {
        case text
        /// `HOST:PORT` with a numeric host.
        case address
        case integer(ClosedRange<Int>)
        case boolean
        case choice([String])
        /// Comma-separated addresses or CIDR blocks.
        case cidrList
        /// The path of a file holding this secret: never the secret itself, which no flag may carry.
        case secretFile(SecretSpecification)

        /// The boolean spellings a setting accepts, nil for anything else.
        static func booleanValue(_ text: String) -> Bool? {
            switch text.lowercased() {
            case "true", "1", "yes", "on": true
            case "false", "0", "no", "off": false
            default: nil
            }
        }

        /// How `serve --help` shows the value a flag takes.
        public var valueName: String {
            switch self {
            case .text: "<text>"
            case .address: "<host:port>"
            case .integer(let range): "<\(range.lowerBound)-\(range.upperBound)>"
            case .boolean: "[true|false]"
            case .choice(let allowed): "<\(allowed.joined(separator: "|"))>"
            case .cidrList: "<cidr,...>"
            case .secretFile: "<path>"
            }
        }
    }

    public let key: String
    public let kind: Kind
    public let defaultValue: String?
    public let help: String

    public init(key: String, _ kind: Kind, defaultValue: String?, help: String) {
        self.key = key
        self.kind = kind
        self.defaultValue = defaultValue
        self.help = help
    }

    /// The environment variable that may carry this setting.
    public var environmentName: String {
        "CUSTOMER_CACHE_" + key.uppercased().replacingOccurrences(of: "-", with: "_")
    }

    /// True for a secret file's path setting: the path is not secret, what it names is.
    public var namesSecretFile: Bool {
        if case .secretFile = kind { return true }
        return false
    }
}

/// A secret, declared once: the file setting that names it and the environment variable that may carry it instead.
/// Every command reads every secret through `read`, so "the file or the variable, both is an error" holds alike
/// for `serve`, `warm` and `sandbox`, and the secret never comes from argv (which `ps` shows to everyone).
public struct SecretSpecification: Sendable {
    /// The setting (or option) with the file's path, e.g. `webhook-secrets-file`.
    public let fileKey: String
    /// The variable that may hold the secret itself.
    public let environmentName: String
    /// Variables read only when neither the file nor `environmentName` is set (libpq's `PGPASSWORD`): another
    /// program's convention, so setting one beside the file is not a conflict.
    public let fallbackEnvironmentNames: [String]
    /// Characters trimmed from both ends of a file's contents: a trailing newline is never part of a secret.
    public let trimmed: String

    public init(fileKey: String, environmentName: String, fallbackEnvironmentNames: [String] = [], trimmed: String = " \t\r\n") {
        self.fileKey = fileKey
        self.environmentName = environmentName
        self.fallbackEnvironmentNames = fallbackEnvironmentNames
        self.trimmed = trimmed
    }

    /// Where a secret came from: a file may be reloaded, the environment never changes.
    public enum Origin: Sendable, Equatable {
        case file(String)
        case environment(String)
    }

    /// The secret from the file at `path` or from the environment, nil when neither is set (an empty value counts
    /// as unset). Both set is an error; so is a file that cannot be read. Errors name the setting, the variable
    /// and the path, never the contents.
    public func read(path: String?, environment: [String: String],
                     readFile: (String) -> String? = SecretSpecification.readFile) throws(ConfigurationError) -> (text: String, origin: Origin)? {
        let direct = environment[environmentName].flatMap { $0.isEmpty ? nil : $0 }
        switch (path.flatMap { $0.isEmpty ? nil : $0 }, direct) {
        case (.some, .some):
            throw ConfigurationError(key: fileKey, reason: "set either it or \(environmentName), not both")
        case (.some(let path), nil):
            guard let text = readFile(path) else { throw ConfigurationError(key: fileKey, reason: "cannot read \(path)") }
            return (text.trimmingCharacters(in: trimmed), .file(path))
        case (nil, .some(let text)):
            return (text, .environment(environmentName))
        case (nil, nil):
            for name in fallbackEnvironmentNames {
                if let text = environment[name], !text.isEmpty { return (text, .environment(name)) }
            }
            return nil
        }
    }

    /// Reads a whole file as UTF-8; nil when it is missing, unreadable or not text.
    public static let readFile: @Sendable (String) -> String? = { try? String(contentsOfFile: $0, encoding: .utf8) }
}

extension AppConfiguration {
    /// Every setting `serve` reads, in README order.
    public static let settings: [SettingSpecification] = [
        .init(key: "webhook-listen", .address, defaultValue: "127.0.0.1:8080", help: "Webhook listener HOST:PORT ([v6]:PORT for IPv6; port 0 picks one)"),
        .init(key: "rpc-listen", .address, defaultValue: "127.0.0.1:8081", help: "Internal JSON-RPC and metrics listener HOST:PORT"),
        .init(key: "data-dir", .text, defaultValue: "./data", help: "Directory of the SQLite store"),
        .init(key: "database-url", .text, defaultValue: nil, help: "postgres:// URL of a PostgreSQL store shared by replicas (no password in it); unset: SQLite in data-dir"),
        .init(key: "database-password-file", .secretFile(AppConfiguration.databasePasswordSecret), defaultValue: nil, help: "File with the PostgreSQL password (else CUSTOMER_CACHE_DATABASE_PASSWORD or PGPASSWORD)"),
        .init(key: "database-timeout-ms", .integer(2_000...600_000), defaultValue: "10000", help: "Silence after which a PostgreSQL connection counts as lost (connect timeout, TCP keepalives, tcp_user_timeout)"),
        .init(key: "database-reconnect-max-ms", .integer(100...600_000), defaultValue: "2000", help: "Longest pause between reconnects while PostgreSQL is unreachable (from 100 ms, doubling, jittered)"),
        .init(key: "event-loops", .integer(1...256), defaultValue: "\(HTTPServerConfiguration.defaultEventLoopCount)", help: "Event-loop threads of the webhook listener (default: cores)"),
        .init(key: "rpc-event-loops", .integer(1...256), defaultValue: "\(max(1, HTTPServerConfiguration.defaultEventLoopCount / 2))", help: "Event-loop threads of the RPC listener (default: half the cores, at least 1)"),
        .init(key: "max-connections", .integer(1...1_000_000), defaultValue: "4096", help: "Open connections per listener; at the cap the longest-idle one is closed for a new one, else 503"),
        .init(key: "max-output-buffer-bytes", .integer(4096...1 << 30), defaultValue: "262144", help: "Unsent response bytes per connection before its requests stop being read"),
        .init(key: "max-request-line-bytes", .integer(64...1 << 20), defaultValue: "8192", help: "Longest request line; longer gets 414"),
        .init(key: "max-header-bytes", .integer(256...1 << 20), defaultValue: "16384", help: "Largest header section; larger gets 431"),
        .init(key: "max-header-count", .integer(4...10_000), defaultValue: "100", help: "Most header fields; more gets 431"),
        .init(key: "max-body-bytes", .integer(1024...64 << 20), defaultValue: "1048576", help: "Largest request body; larger gets 413"),
        .init(key: "header-timeout-ms", .integer(100...3_600_000), defaultValue: "10000", help: "Time to receive a request head, from accept for the first (slowloris); 408"),
        .init(key: "body-timeout-ms", .integer(100...3_600_000), defaultValue: "30000", help: "Time to receive a request body; 408"),
        .init(key: "idle-timeout-ms", .integer(100...3_600_000), defaultValue: "60000", help: "Idle keep-alive connection lifetime"),
        .init(key: "write-timeout-ms", .integer(100...3_600_000), defaultValue: "30000", help: "Time a response may wait for a slow reader"),
        .init(key: "shutdown-grace-ms", .integer(0...3_600_000), defaultValue: "10000", help: "Time in-flight requests get on SIGTERM/SIGINT"),
        .init(key: "log-level", .choice(["trace", "debug", "info", "notice", "warning", "error", "critical"]), defaultValue: "info", help: "trace, debug, info, notice, warning, error or critical"),
        .init(key: "webhook-path", .text, defaultValue: "/webhooks/digitalriver", help: "Path of the webhook endpoint"),
        .init(key: "webhook-secrets-file", .secretFile(AppConfiguration.webhookSecretsSecret), defaultValue: nil, help: "File with the signing secrets (else CUSTOMER_CACHE_WEBHOOK_SECRETS)"),
        .init(key: "signature-tolerance-seconds", .integer(1...86_400), defaultValue: "300", help: "Accepted signature timestamp skew, both directions"),
        .init(key: "live-mode", .boolean, defaultValue: "false", help: "true for live (production) events, false for test mode"),
        .init(key: "dedup-retention-hours", .integer(1...24 * 365), defaultValue: "168", help: "How long processed event ids are remembered"),
        .init(key: "max-cached-customers", .integer(0...1_000_000_000), defaultValue: "0", help: "Most customers kept in memory (0: all); beyond it the least used are evicted and read from the store"),
        .init(key: "rpc-tokens-file", .secretFile(AppConfiguration.rpcTokensSecret), defaultValue: nil, help: "File of 'caller token [methods]' lines (else CUSTOMER_CACHE_RPC_TOKENS); unset: no RPC auth"),
        .init(key: "upstream-url", .text, defaultValue: "https://api.digitalriver.com", help: "Digital River API base URL"),
        .init(key: "api-key-file", .secretFile(AppConfiguration.apiKeySecret), defaultValue: nil, help: "File with the Digital River secret API key (else DR_API_KEY); unset: upstream disabled"),
        .init(key: "sandbox", .boolean, defaultValue: "false", help: "Run an in-process Digital River emulator as the upstream (demos only)"),
        .init(key: "sandbox-seed", .integer(0...1_000_000), defaultValue: "1000", help: "Synthetic customers the --sandbox emulator starts with (cust-000001…)"),
        .init(key: "upstream-timeout-ms", .integer(100...120_000), defaultValue: "10000", help: "Deadline of one Digital River request"),
        .init(key: "upstream-max-concurrency", .integer(1...256), defaultValue: "16", help: "Digital River requests in flight at once"),
        .init(key: "upstream-updated-filter", .choice(["bracketed", "plain"]), defaultValue: "bracketed", help: "updatedTime filter encoding: bracketed (updatedTime[gte]=) or plain"),
        .init(key: "negative-cache-seconds", .integer(0...86_400), defaultValue: "60", help: "How long 'not found upstream' is remembered (0: never)"),
        .init(key: "forget-retry-seconds", .integer(1...86_400), defaultValue: "30", help: "Interval between retries of queued forgets"),
        .init(key: "rpc-max-batch", .integer(1...10_000), defaultValue: "100", help: "Most calls in one JSON-RPC batch"),
        .init(key: "rpc-max-depth", .integer(4...256), defaultValue: "32", help: "Deepest JSON nesting in a JSON-RPC body"),
        .init(key: "rpc-max-string-bytes", .integer(256...16 << 20), defaultValue: "65536", help: "Longest JSON string in a JSON-RPC body"),
        .init(key: "trusted-proxies", .cidrList, defaultValue: nil, help: "Comma-separated CIDRs whose client-address header is believed"),
        .init(key: "client-address-header", .choice(ClientAddressHeader.allCases.map(\.rawValue)), defaultValue: "X-Forwarded-For", help: "The one header trusted proxies set: X-Forwarded-For, Forwarded or X-Real-IP"),
        .init(key: "webhook-allowed-sources", .cidrList, defaultValue: nil, help: "Comma-separated CIDRs allowed to deliver webhooks (unset: any)"),
        .init(key: "secret-reload-interval-ms", .integer(100...3_600_000), defaultValue: "1000", help: "How often webhook-secrets-file and rpc-tokens-file are checked for a new version (a Kubernetes Secret's symlink swap)"),
        .init(key: "secret-rotation-grace-seconds", .integer(0...604_800), defaultValue: "300", help: "How long a secret or token removed from its file keeps working after the reload (0: stops at once)"),
    ]
}
