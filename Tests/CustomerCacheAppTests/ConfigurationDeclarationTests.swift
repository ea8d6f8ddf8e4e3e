@testable import CustomerCacheApp
import Foundation
import HTTPTestClient
import Testing

@Suite("Settings declared once, read with swift-configuration")
struct ConfigurationDeclarationTests {
    @Test("one precedence for every setting: flag, then CUSTOMER_CACHE_<KEY>, then the config file, then the declared default")
    func precedence() throws {
        let file = "rpc-listen = 127.0.0.1:7003\nwebhook-path = /from-file\nmax-connections = 33\n"
        let environment = ["CUSTOMER_CACHE_RPC_LISTEN": "127.0.0.1:7002", "CUSTOMER_CACHE_WEBHOOK_PATH": "/from-environment"]
        let sources = try ConfigurationSources(flags: ["rpc-listen": "127.0.0.1:7001"], environment: environment, fileContents: file)
        #expect(sources.raw("rpc-listen") == "127.0.0.1:7001")
        #expect(sources.raw("webhook-path") == "/from-environment")
        #expect(sources.raw("max-connections") == "33")
        #expect(sources.raw("max-header-count") == AppConfiguration.setting("max-header-count").defaultValue)
        #expect(sources.raw("trusted-proxies") == nil)
        // swift-configuration's key encoding gives exactly the variable each declaration documents (and the unknown-name check accepts).
        for setting in AppConfiguration.settings {
            let fromEnvironment = try ConfigurationSources(flags: [:], environment: [setting.environmentName: "probe"], fileContents: nil)
            #expect(fromEnvironment.raw(setting.key) == "probe", "\(setting.environmentName) does not reach \(setting.key)")
        }
        let configuration = try AppConfiguration(sources: sources, environment: environment)
        #expect(configuration.rpcListen.port == 7001 && configuration.webhookPath == "/from-environment" && configuration.maxConnections == 33)
    }

    @Test("a value outside its declared range or choices is refused naming the key and the declared bounds")
    func declaredKinds() throws {
        for (key, value, expected) in [("event-loops", "0", "from 1 to 256"), ("log-level", "loud", "one of trace, debug"),
                                       ("live-mode", "maybe", "true or false"), ("secret-reload-interval-ms", "5", "from 100 to 3600000")] {
            let sources = try ConfigurationSources(flags: [key: value], environment: [:], fileContents: nil)
            #expect(throws: ConfigurationError.self) { try AppConfiguration(sources: sources) }
            do { _ = try AppConfiguration(sources: sources) } catch {
                #expect(error.key == key)
                #expect(error.reason.contains(expected), "\(error)")
            }
        }
        let defaults = try AppConfiguration(sources: ConfigurationSources(flags: [:], environment: [:], fileContents: nil))
        #expect(defaults.secretReloadIntervalMilliseconds == 1000 && defaults.secretRotationGraceSeconds == 300)
    }

    @Test("serve's arguments: --key value, --key=value, a bare boolean, --bool false; unknown and secret names refused by name")
    func flags() throws {
        let flags = try ConfigurationSources.parseFlags(["--rpc-listen", "127.0.0.1:9", "--webhook-path=/a=b", "--sandbox", "--live-mode", "false",
                                                         "--trusted-proxies", "10.0.0.0/8,192.168.0.0/16"])
        #expect(flags == ["rpc-listen": "127.0.0.1:9", "webhook-path": "/a=b", "sandbox": "true", "live-mode": "false",
                          "trusted-proxies": "10.0.0.0/8,192.168.0.0/16"])
        #expect(try ConfigurationSources.parseFlags(["--live-mode"]) == ["live-mode": "true"])
        do {
            _ = try ConfigurationSources.parseFlags(["--webhok-listen", "x"])
            Issue.record("a misspelt flag was accepted")
        } catch {
            #expect(error.reason.contains("did you mean --webhook-listen?"))
        }
        do {
            _ = try ConfigurationSources.parseFlags(["--api-key", "sk_test_on_the_command_line"])
            Issue.record("a secret was accepted as a flag")
        } catch {
            #expect(error.reason.contains("never a command-line argument") && error.reason.contains("DR_API_KEY") && error.reason.contains("--api-key-file"))
            #expect(!error.description.contains("sk_test_on_the_command_line"))
        }
        #expect(throws: ConfigurationError.self) { try ConfigurationSources.parseFlags(["--rpc-listen"]) }
        #expect(throws: ConfigurationError.self) { try ConfigurationSources.parseFlags(["stray"]) }
    }

    @Test("every secret: its file or its variable, both is an error that names both and quotes neither")
    func secretFileOrVariable() throws {
        let files = ["/run/secrets/value": "from-file-value\n"]
        for secret in AppConfiguration.secrets {
            let both = [secret.environmentName: "from-environment-value"]
            do {
                _ = try secret.read(path: "/run/secrets/value", environment: both, readFile: { files[$0] })
                Issue.record("\(secret.fileKey) and \(secret.environmentName) together were accepted")
            } catch {
                #expect(error.key == secret.fileKey)
                #expect(error.reason.contains(secret.environmentName))
                #expect(!error.description.contains("from-file-value") && !error.description.contains("from-environment-value"))
            }
            #expect(try secret.read(path: "/run/secrets/value", environment: [:], readFile: { files[$0] })?.origin == .file("/run/secrets/value"))
            #expect(try secret.read(path: nil, environment: both)?.text == "from-environment-value")
            #expect(try secret.read(path: nil, environment: [secret.environmentName: ""]) == nil)
            #expect(throws: ConfigurationError.self) { try secret.read(path: "/nonexistent", environment: [:], readFile: { files[$0] }) }
        }
        // libpq's PGPASSWORD is another program's convention: a fallback, not a conflict.
        let password = try AppConfiguration.databasePasswordSecret.read(path: "/run/secrets/value", environment: ["PGPASSWORD": "pg"],
                                                                          readFile: { files[$0] })
        #expect(password?.text == "from-file-value")
        #expect(try AppConfiguration.databasePasswordSecret.read(path: nil, environment: ["PGPASSWORD": "pg"])?.text == "pg")
    }

    @Test("the configuration's description, debug description and dump show every setting but redact every secret")
    func redaction() throws {
        let environment = [AppConfiguration.webhookSecretsEnvironmentName: "whsec_redaction_probe", CallerTokens.environmentName: "ops tok_redaction_probe_0123",
                           AppConfiguration.apiKeyEnvironmentName: "sk_test_redaction_probe", AppConfiguration.databasePasswordEnvironmentName: "pw_redaction_probe"]
        let configuration = try AppConfiguration(sources: ConfigurationSources(flags: ["database-url": "postgres://cache@db/cache"], environment: environment,
                                                                               fileContents: nil), environment: environment)
        #expect(configuration.upstreamAPIKey == "sk_test_redaction_probe" && configuration.databasePassword == "pw_redaction_probe")
        var dumped = ""
        dump(configuration, to: &dumped)
        var dumpedTokens = ""
        dump(configuration.callerTokens, to: &dumpedTokens)
        #expect("\(configuration.callerTokens)" == "CallerTokens(ops)")
        #expect(!dumpedTokens.contains("tok_redaction_probe") && dumpedTokens.contains("CallerTokens(ops)"))
        for text in [configuration.description, configuration.debugDescription, "\(configuration)", String(reflecting: configuration), dumped] {
            for probe in ["whsec_redaction_probe", "tok_redaction_probe", "sk_test_redaction_probe", "pw_redaction_probe"] {
                #expect(!text.contains(probe), "\(probe) in \(text)")
            }
            #expect(text.contains("webhook-secrets=<redacted: 1>") && text.contains("api-key=<redacted>"))
            #expect(text.contains("rpc-listen=127.0.0.1:8081") && text.contains("database-url=postgres://cache@db/cache"))
        }
    }
}

@Suite("serve, warm and sandbox come from the one declaration", .enabled(if: builtCustomerCacheExecutable != nil, "customer-cache was not built"))
struct DeclaredCommandTests {
    private func run(_ arguments: [String], environment extra: [String: String] = [:]) throws -> (status: Int32, output: String, errors: String) {
        let process = Process()
        process.executableURL = try #require(builtCustomerCacheExecutable)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(extra) { $1 }.filter { $0.key != "DR_API_KEY" || extra[$0.key] != nil }
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let out = output.fileHandleForReading.readDataToEndOfFile(), err = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
    }

    /// Help text reflowed to single spaces, so a declaration's sentence is found whatever the line wrapping.
    private func flattened(_ text: String) -> String {
        text.split(whereSeparator: \.isWhitespace).joined(separator: " ")
    }

    @Test("serve --help lists every declared setting with its help and default, and shows no secret from the environment")
    func serveHelp() throws {
        let result = try run(["serve", "--help"], environment: ["CUSTOMER_CACHE_WEBHOOK_SECRETS": "whsec_help_probe", "DR_API_KEY": "sk_test_help_probe"])
        #expect(result.status == 0)
        let help = flattened(result.output)
        for setting in AppConfiguration.settings {
            #expect(help.contains("--\(setting.key) "), "serve --help lacks --\(setting.key)")
            #expect(help.contains(flattened(setting.help)), "serve --help lacks the help of \(setting.key)")
            if let value = setting.defaultValue { #expect(help.contains(flattened("\(setting.help) (default \(value))"))) }
        }
        #expect(!result.output.contains("whsec_help_probe") && !result.output.contains("sk_test_help_probe"))
    }

    @Test("warm and sandbox options that share a name with a setting carry its declared help and default")
    func sharedOptions() throws {
        let warm = flattened(try run(["warm", "--help"]).output)
        #expect(warm.contains(flattened(AppConfiguration.setting("upstream-url").help)))
        #expect(warm.contains("default: \(AppConfiguration.setting("upstream-url").defaultValue ?? "-")"))
        #expect(warm.contains(flattened(AppConfiguration.setting("api-key-file").help)))
        // Each command's secret options name the variable their declaration gives.
        let sandbox = flattened(try run(["sandbox", "--help"]).output)
        for (help, secret) in [(warm, AppConfiguration.warmRPCTokenSecret), (warm, AppConfiguration.apiKeySecret),
                               (sandbox, AppConfiguration.sandboxWebhookSecret), (sandbox, AppConfiguration.apiKeySecret)] {
            #expect(help.contains("--\(secret.fileKey) ") && help.contains(secret.environmentName), "\(secret.fileKey)")
        }
    }

    @Test("a misspelt flag stops serve with 64 and the nearest setting; a secret file beside its variable stops every command")
    func refusals() throws {
        let typo = try run(["serve", "--webhok-listen", "127.0.0.1:0"])
        #expect(typo.status == 64)
        #expect(typo.errors.contains("did you mean --webhook-listen?"))

        let directory = NSTemporaryDirectory() + "cc-both-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = directory + "/secret"
        try "file_secret_value_0123456789".write(toFile: file, atomically: true, encoding: .utf8)
        let serve = try run(["serve", "--rpc-tokens-file", file, "--data-dir", directory + "/data"],
                            environment: ["CUSTOMER_CACHE_RPC_TOKENS": "ops env_token_value_0123456789"])
        let warm = try run(["warm", "--rpc-url", "http://127.0.0.1:9", "--api-key-file", file], environment: ["DR_API_KEY": "sk_env_value_0123456789"])
        let sandbox = try run(["sandbox", "--listen", "127.0.0.1:0", "--webhook-secret-file", file],
                              environment: ["SANDBOX_WEBHOOK_SECRET": "whsec_env_value_0123456789"])
        for (result, names) in [(serve, ["rpc-tokens-file", "CUSTOMER_CACHE_RPC_TOKENS"]), (warm, ["api-key-file", "DR_API_KEY"]),
                                (sandbox, ["webhook-secret-file", "SANDBOX_WEBHOOK_SECRET"])] {
            #expect(result.status == 64, "\(names): \(result.errors)")
            for name in names { #expect(result.errors.contains(name), "\(result.errors)") }
            #expect(!result.errors.contains("value_0123456789"))
        }
        #expect(!FileManager.default.fileExists(atPath: directory + "/data"), "serve opened a store despite the conflict")
    }
}
