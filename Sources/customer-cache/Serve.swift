import ArgumentParser
import CustomerCacheApp
import DigitalRiverSandbox
import Foundation
import Logging
import ServiceLifecycle
import WebhookSignature

/// `customer-cache serve`: runs both listeners until SIGTERM or SIGINT, then drains and exits 0.
///
/// Its settings are not declared here: `AppConfiguration.settings` declares each once, and this command takes them
/// as `--key value` arguments (parsed by `ConfigurationSources.parseFlags`) and lists them in its help.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the webhook receiver and the internal JSON-RPC API.",
        discussion: """
            Each setting can also come from CUSTOMER_CACHE_<NAME> (e.g. CUSTOMER_CACHE_RPC_LISTEN) or a --config file \
            of 'key = value' lines; flags win, then the environment, then the file, then the default. Secrets never \
            come from flags: \(AppConfiguration.secrets.prefix(4).map { "\($0.environmentName) or --\($0.fileKey)" }.joined(separator: ", ")) \
            (the variable or the file, not both).

            SETTINGS:
            \(settingsHelp())
            """
    )

    @Option(name: .customLong("config"), help: "Optional config file of 'key = value' lines (or CUSTOMER_CACHE_CONFIG).")
    var configFile: String?
    @Argument(parsing: .allUnrecognized, help: ArgumentHelp("Settings as --key value (--key=value; a bare --key sets a boolean); see SETTINGS.",
                                                             valueName: "settings"))
    var settingArguments: [String] = []

    /// One entry per declared setting: flag, value form, help and default. A secret's file setting shows its
    /// variable, never a value.
    static func settingsHelp(_ settings: [SettingSpecification] = AppConfiguration.settings) -> String {
        settings.map { setting in
            let defaultText = setting.defaultValue.map { " (default \($0))" } ?? ""
            return "  --\(setting.key) \(setting.kind.valueName)\n" + wrapped(setting.help + defaultText, indent: "      ")
        }.joined(separator: "\n")
    }

    /// `text` in lines of at most 79 columns, each indented: ArgumentParser would rewrap longer ones at column 0.
    static func wrapped(_ text: String, indent: String) -> String {
        var lines: [String] = []
        var line = indent
        for word in text.split(separator: " ") {
            if line.count > indent.count, line.count + 1 + word.count > 79 {
                lines.append(line)
                line = indent
            }
            line += (line.count > indent.count ? " " : "") + word
        }
        lines.append(line)
        return lines.joined(separator: "\n")
    }

    func run() async throws {
        let flags: [String: String]
        do {
            flags = try ConfigurationSources.parseFlags(settingArguments)
        } catch {
            throw ValidationError(error.description)
        }
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
        // Every setting as read, secrets as counts: what an operator checks first when the service misbehaves.
        logger.info("configuration", metadata: ["settings": "\(configuration)"])
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
