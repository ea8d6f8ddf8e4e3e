import HTTP1
import Sockets

/// Everything `serve` needs; the defaults run the service locally with no upstream.
public struct AppConfiguration: Sendable {
    /// Public listener for Digital River webhooks (behind the proxy).
    public var webhookListen: SocketAddress
    /// Internal listener for JSON-RPC and metrics; loopback by default so nothing outside the host reaches it.
    public var rpcListen: SocketAddress
    /// Where the SQLite store lives.
    public var dataDirectory: String
    /// Event loops per listener.
    public var eventLoops: Int
    public var limits: HTTPLimits
    public var timeouts: HTTPTimeouts
    public var maxConnections: Int
    public var logLevel: String

    /// Parses every setting from its sources (flag, then `CUSTOMER_CACHE_<NAME>`, then the config file, then default).
    public init(sources: ConfigurationSources) throws(ConfigurationError) {
        webhookListen = try sources.address("webhook-listen")
        rpcListen = try sources.address("rpc-listen")
        dataDirectory = try sources.string("data-dir")
        eventLoops = try sources.integer("event-loops", range: 1...256)
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
        logLevel = try sources.choice("log-level", ["trace", "debug", "info", "notice", "warning", "error", "critical"])
        if webhookListen == rpcListen, webhookListen.port != 0 {
            throw ConfigurationError(key: "rpc-listen", reason: "must differ from webhook-listen: the internal API must not share the public listener")
        }
    }

    /// The HTTP configuration for one listener.
    public func httpConfiguration(address: SocketAddress, name: String) -> HTTPServerConfiguration {
        var configuration = HTTPServerConfiguration(address: address, name: name, eventLoopCount: eventLoops, limits: limits, timeouts: timeouts)
        configuration.maxConnections = maxConnections
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
        .init(key: "event-loops", defaultValue: "\(HTTPServerConfiguration.defaultEventLoopCount)", help: "Event-loop threads per listener (default: cores)"),
        .init(key: "max-connections", defaultValue: "4096", help: "Open connections per listener; more are answered 503 and closed"),
        .init(key: "max-request-line-bytes", defaultValue: "8192", help: "Longest request line; longer gets 414"),
        .init(key: "max-header-bytes", defaultValue: "16384", help: "Largest header section; larger gets 431"),
        .init(key: "max-header-count", defaultValue: "100", help: "Most header fields; more gets 431"),
        .init(key: "max-body-bytes", defaultValue: "1048576", help: "Largest request body; larger gets 413"),
        .init(key: "header-timeout-ms", defaultValue: "10000", help: "Time to receive a request head (slowloris); 408"),
        .init(key: "body-timeout-ms", defaultValue: "30000", help: "Time to receive a request body; 408"),
        .init(key: "idle-timeout-ms", defaultValue: "60000", help: "Idle keep-alive connection lifetime"),
        .init(key: "write-timeout-ms", defaultValue: "30000", help: "Time a response may wait for a slow reader"),
        .init(key: "shutdown-grace-ms", defaultValue: "10000", help: "Time in-flight requests get on SIGTERM/SIGINT"),
        .init(key: "log-level", defaultValue: "info", help: "trace, debug, info, notice, warning, error or critical"),
    ]
}
