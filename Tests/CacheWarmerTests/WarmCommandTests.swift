import CacheWarmer
import Foundation
import JSON
import Synchronization
import Testing

/// The `customer-cache` executable next to the test bundle, when the build produced it (`swift build --build-tests`
/// does; building only this test target does not, and then these tests are skipped).
private let executable: URL? = {
    let candidates = [
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("customer-cache"),
        Bundle.main.bundleURL.appendingPathComponent("customer-cache"),
    ]
    return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) }
}()

/// What one run of the command left behind.
private struct CommandResult {
    var status: Int32
    var standardOutput: String
    var standardError: String
}

/// Runs `customer-cache` with `arguments`, `environment` on top of a clean one, and `input` on stdin.
private func runCommand(_ arguments: [String], environment: [String: String] = [:], input: String? = nil) async throws -> CommandResult {
    let binary = try #require(executable)
    let process = Process()
    process.executableURL = binary
    process.arguments = arguments
    process.environment = ["PATH": "/usr/bin:/bin"].merging(environment) { $1 }
    let output = Pipe()
    let errors = Pipe()
    let stdin = Pipe()
    process.standardOutput = output
    process.standardError = errors
    process.standardInput = stdin
    try process.run()
    if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
    try stdin.fileHandleForWriting.close()
    // Read both pipes off the cooperative pool so a full pipe never blocks the child.
    let errorText = Mutex(Data())
    let out = await withCheckedContinuation { continuation in
        Thread.detachNewThread {
            let group = DispatchGroup()
            group.enter()
            Thread.detachNewThread {
                let data = errors.fileHandleForReading.readDataToEndOfFile()
                errorText.withLock { $0 = data }
                group.leave()
            }
            let data = output.fileHandleForReading.readDataToEndOfFile()
            group.wait()
            process.waitUntilExit()
            continuation.resume(returning: data)
        }
    }
    let err = errorText.withLock { $0 }
    return CommandResult(status: process.terminationStatus, standardOutput: String(decoding: out, as: UTF8.self),
                         standardError: String(decoding: err, as: UTF8.self))
}

@Suite("customer-cache warm command", .serialized, .enabled(if: executable != nil, "customer-cache was not built"))
struct WarmCommandTests {
    @Test("warms from the list API with the key from the environment, prints a summary, exits 0; --json for scripts")
    func listRun() async throws {
        let service = try TestService()
        defer { service.stop() }
        let sandbox = try startSandbox(seed: 1_200)
        defer { stop(sandbox) }
        let arguments = ["warm", "--rpc-url", service.rpcURL, "--upstream-url", sandbox.baseURL, "--requests-per-second", "0"]
        let environment = ["DR_API_KEY": "sk_test_command_key"]

        let text = try await runCommand(arguments, environment: environment)
        #expect(text.status == 0, "\(text.standardError)")
        #expect(text.standardOutput.contains("warm-up completed"))
        #expect(text.standardOutput.contains("fetch_seconds:"))
        #expect(text.standardOutput.contains("load_seconds:"))
        #expect(!text.standardError.contains("sk_test_command_key"))
        #expect(!text.standardError.contains("@example."))
        #expect(!text.standardOutput.contains("\r"), "no progress line when stdout is not a terminal")

        let json = try await runCommand(arguments + ["--json"], environment: environment)
        #expect(json.status == 0)
        let summary = try JSONValue.parse(json.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(summary["outcome"]?.stringValue == "completed")
        #expect(summary["loaded"]?.intValue == 1_200)
        #expect(summary["applied"]?.intValue == 0)
        #expect(summary["unchanged"]?.intValue == 1_200)
        #expect(summary["fetch_seconds"]?.doubleValue != nil)
        #expect(summary["load_seconds"]?.doubleValue != nil)
    }

    @Test("--max-pages stops resumably with exit 3; --resume finishes with exit 0")
    func stopAndResume() async throws {
        let service = try TestService()
        defer { service.stop() }
        let sandbox = try startSandbox(seed: 1_000)
        defer { stop(sandbox) }
        let arguments = ["warm", "--rpc-url", service.rpcURL, "--upstream-url", sandbox.baseURL, "--requests-per-second", "0", "--json"]
        let environment = ["DR_API_KEY": "sk_test_command_key"]
        let first = try await runCommand(arguments + ["--max-pages", "4"], environment: environment)
        #expect(first.status == 3, "\(first.standardError)")
        let second = try await runCommand(arguments + ["--resume"], environment: environment)
        #expect(second.status == 0, "\(second.standardError)")
        let summary = try JSONValue.parse(second.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(summary["pages"]?.intValue == 6)
        #expect(listRequests(sandbox) == 10)
    }

    @Test("--ids-file - reads ids from stdin")
    func idsFromStandardInput() async throws {
        let sandbox = try startSandbox(seed: 30)
        defer { stop(sandbox) }
        let service = try TestService(upstreamURL: sandbox.baseURL)
        defer { service.stop() }
        let ids = sandbox.customerIDs.prefix(20).joined(separator: "\n") + "\n# a comment\nno-such-customer\n"
        let result = try await runCommand(["warm", "--rpc-url", service.rpcURL, "--ids-file", "-", "--requests-per-second", "0", "--json"],
                                          input: ids)
        #expect(result.status == 0, "\(result.standardError)")
        let summary = try JSONValue.parse(result.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect((summary["found"]?.intValue ?? 0) + (summary["gone"]?.intValue ?? 0) == 20)
        #expect(summary["not_found"]?.intValue == 1)
        #expect(summary["total"]?.intValue == 21)
    }

    @Test("a service that cannot be reached fails the run with exit 1")
    func unreachableService() async throws {
        let sandbox = try startSandbox(seed: 10)
        defer { stop(sandbox) }
        let result = try await runCommand(["warm", "--rpc-url", "http://127.0.0.1:1", "--upstream-url", sandbox.baseURL,
                                           "--requests-per-second", "0", "--retries", "1"],
                                          environment: ["DR_API_KEY": "sk_test_command_key"])
        #expect(result.status == 1)
        #expect(result.standardOutput.contains("warm-up failed"))
    }

    @Test("refuses bad arguments and secrets in argv before starting (exit 64)")
    func badArguments() async throws {
        for arguments in [["--since", "yesterday"], ["--page-size", "500"], ["--api-key", "sk_in_argv"],
                          ["--updated-filter", "json"], ["--ids-file", "-", "--since", "1h"], ["--load-batch", "5000"]] {
            let result = try await runCommand(["warm", "--rpc-url", "http://127.0.0.1:9"] + arguments,
                                              environment: ["DR_API_KEY": "sk_test_command_key"])
            #expect(result.status == 64, "\(arguments): \(result.standardError)")
        }
        let noKey = try await runCommand(["warm", "--rpc-url", "http://127.0.0.1:9"])
        #expect(noKey.status == 64)
        #expect(noKey.standardError.contains("DR_API_KEY"))
    }

    @Test("warm and sandbox refuse a CUSTOMER_CACHE_ variable that names no setting, naming it (exit 64)")
    func misspeltVariable() async throws {
        for arguments in [["warm", "--rpc-url", "http://127.0.0.1:9"], ["sandbox", "--listen", "127.0.0.1:0"]] {
            let result = try await runCommand(arguments, environment: ["DR_API_KEY": "sk_test_command_key",
                                                                       "CUSTOMER_CACHE_DATABSE_URL": "postgres://x"])
            #expect(result.status == 64, "\(arguments): \(result.standardError)")
            #expect(result.standardError.contains("CUSTOMER_CACHE_DATABSE_URL names no setting; did you mean CUSTOMER_CACHE_DATABASE_URL"),
                    "\(arguments): \(result.standardError)")
            #expect(!result.standardError.contains("postgres://x"))
        }
    }
}
