import Foundation
import HTTPTestClient
import Testing
#if canImport(Glibc)
import Glibc
#endif

private let executable = builtCustomerCacheExecutable

@Suite("customer-cache sandbox command", .enabled(if: executable != nil, "customer-cache was not built"))
struct SandboxCommandTests {
    @Test("starts loudly as an emulator, serves the API with a key from the environment, and exits 0 on SIGTERM")
    func runAndStop() async throws {
        let binary = try #require(executable)
        let (process, errors) = try launch(binary, ["sandbox", "--listen", "127.0.0.1:0", "--seed", "25"],
                                           environment: ["DR_API_KEY": "sk_test_from_environment"])
        defer { if process.isRunning { process.terminate() } }

        // Read stderr until the listener reports its address.
        var log = ""
        var port: Int?
        let deadline = Date().addingTimeInterval(30)
        while port == nil, Date() < deadline {
            let chunk = errors.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            log += String(decoding: chunk, as: UTF8.self)
            if let range = log.range(of: #"address=127\.0\.0\.1:(\d+)"#, options: .regularExpression) {
                port = Int(log[range].split(separator: ":").last ?? "")
            }
        }
        let bound = try #require(port, "no address in: \(log)")

        var client = SandboxClient(baseURL: "http://127.0.0.1:\(bound)")
        #expect(try await client.get("/customers").status == 401)
        client.apiKey = "sk_test_from_environment"
        let page = try await client.get("/customers?limit=100")
        #expect(page.status == 200)
        #expect(page.json?["data"]?.arrayValue?.count == 25)

        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        log += String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationReason == .exit)
        #expect(process.terminationStatus == 0)
        #expect(log.contains("THIS IS AN EMULATOR, NOT DIGITAL RIVER"))
        #expect(!log.contains("sk_test_from_environment"))
        #expect(!log.contains("@example."))
    }

    @Test("refuses invalid options before starting")
    func invalidOptions() throws {
        let binary = try #require(executable)
        for arguments in [["--error-rate", "1.5"], ["--listen", "nowhere"], ["--api-key", "sk_in_argv"],
                          ["--api-key-file", "/nonexistent/key"]] {
            let process = Process()
            process.executableURL = binary
            process.arguments = ["sandbox"] + arguments
            process.standardError = FileHandle.nullDevice
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            #expect(process.terminationStatus != 0, "\(arguments)")
        }
    }
}
