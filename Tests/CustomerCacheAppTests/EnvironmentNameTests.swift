@testable import CustomerCacheApp
import Foundation
import HTTPTestClient
import Testing

@Suite("Unknown CUSTOMER_CACHE_ variables")
struct EnvironmentNameTests {
    @Test("a misspelt setting is refused by name with the setting it probably meant, never with its value")
    func misspeltSetting() {
        let environment = ["CUSTOMER_CACHE_DATABSE_URL": "postgres://cache@db.internal/s3cret-value"]
        do {
            _ = try ConfigurationSources(flags: [:], environment: environment, fileContents: nil)
            Issue.record("CUSTOMER_CACHE_DATABSE_URL was accepted")
        } catch {
            #expect(error.description.contains("CUSTOMER_CACHE_DATABSE_URL"))
            #expect(error.description.contains("CUSTOMER_CACHE_DATABASE_URL (setting database-url)"))
            #expect(!error.description.contains("s3cret-value"))
        }
    }

    @Test("every setting's variable, the secret and command variables, the test prefix and other prefixes are accepted")
    func knownNames() throws {
        var environment = ["PATH": "/usr/bin", "DR_API_KEY": "k", "CUSTOMER_CACHE_TEST_TMPFS": "/mnt", "CUSTOMER_CACHE_TEST_ANYTHING": "x"]
        for specification in AppConfiguration.settings { environment[specification.environmentName] = "x" }
        for name in AppConfiguration.environmentNamesBesideSettings { environment[name] = "x" }
        try ConfigurationSources.checkEnvironmentNames(environment.keys)
        _ = try ConfigurationSources(flags: [:], environment: environment, fileContents: nil)
    }

    @Test("a name far from every known one gets no guess, equally near ones are all offered, and every unknown name is reported")
    func farAndSeveral() {
        #expect(throws: ConfigurationError.self) { try ConfigurationSources.checkEnvironmentNames(["CUSTOMER_CACHE_COLOUR"]) }
        do {
            try ConfigurationSources.checkEnvironmentNames(["CUSTOMER_CACHE_COLOUR", "CUSTOMER_CACHE_WEBHOOK_SECRET"])
            Issue.record("unknown names were accepted")
        } catch {
            #expect(error.reason.contains("CUSTOMER_CACHE_COLOUR names no setting."))
            #expect(error.reason.contains("CUSTOMER_CACHE_WEBHOOK_SECRET names no setting; did you mean CUSTOMER_CACHE_WEBHOOK_SECRETS?"))
        }
        do {
            try ConfigurationSources.checkEnvironmentNames(["CUSTOMER_CACHE_RPC_TOKENX"])
            Issue.record("CUSTOMER_CACHE_RPC_TOKENX was accepted")
        } catch {
            #expect(error.reason.contains("did you mean CUSTOMER_CACHE_RPC_TOKENS or CUSTOMER_CACHE_RPC_TOKEN?"))
        }
    }

    @Test("edit distance counts insertions, deletions, substitutions and swapped neighbours")
    func distance() {
        #expect(ConfigurationSources.editDistance("DATABSE", "DATABASE") == 1)
        #expect(ConfigurationSources.editDistance("kitten", "sitting") == 3)
        #expect(ConfigurationSources.editDistance("", "abc") == 3)
        #expect(ConfigurationSources.editDistance("TOKNE", "TOKEN") == 1)
        #expect(ConfigurationSources.editDistance("TOKNE", "TOKENS") == 2)
        #expect(ConfigurationSources.editDistance("same", "same") == 0)
    }
}

@Suite("Unknown CUSTOMER_CACHE_ variables stop the commands", .enabled(if: builtCustomerCacheExecutable != nil, "customer-cache was not built"))
struct EnvironmentNameProcessTests {
    /// Runs the binary and returns its exit status and standard error; a process still running after the deadline
    /// (the old behaviour: the typo was ignored and serve started) is terminated and reported as such.
    private func run(_ arguments: [String], adding extra: [String: String]) throws -> (status: Int32, errors: String, timedOut: Bool) {
        let binary = try #require(builtCustomerCacheExecutable)
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(extra) { $1 }
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(60)
        while process.isRunning, Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        let timedOut = process.isRunning
        if timedOut { process.terminate() }
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self), timedOut)
    }

    @Test("serve with CUSTOMER_CACHE_DATABSE_URL exits 64 naming it and suggesting database-url, without its value")
    func serveRefusesTypo() throws {
        let directory = NSTemporaryDirectory() + "cc-env-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let result = try run(["serve", "--webhook-listen", "127.0.0.1:0", "--rpc-listen", "127.0.0.1:0", "--data-dir", directory],
                             adding: ["CUSTOMER_CACHE_DATABSE_URL": "postgres://cache@db.internal/typo-value"])
        #expect(!result.timedOut)
        #expect(result.status == 64)
        #expect(result.errors.contains("CUSTOMER_CACHE_DATABSE_URL"))
        #expect(result.errors.contains("database-url"))
        #expect(!result.errors.contains("typo-value"))
        #expect(!FileManager.default.fileExists(atPath: directory), "serve opened a store despite the unknown variable")
    }

    @Test("warm with a misspelt token variable exits 64 before contacting anything")
    func warmRefusesTypo() throws {
        let result = try run(["warm", "--rpc-url", "http://127.0.0.1:9", "--ids-file", "/nonexistent"], adding: ["CUSTOMER_CACHE_RPC_TOKNE": "tok_typo_value_0123456789"])
        #expect(!result.timedOut)
        #expect(result.status == 64)
        #expect(result.errors.contains("CUSTOMER_CACHE_RPC_TOKNE"))
        #expect(result.errors.contains("did you mean CUSTOMER_CACHE_RPC_TOKEN?"))
        #expect(!result.errors.contains("tok_typo_value"))
    }
}
