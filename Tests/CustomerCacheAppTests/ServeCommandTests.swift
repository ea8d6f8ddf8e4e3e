import Foundation
import HTTPTestClient
import Sockets
import Testing
#if canImport(Glibc)
import Glibc
#endif

private let executable = builtCustomerCacheExecutable

@Suite("customer-cache serve as a process", .enabled(if: executable != nil, "customer-cache was not built"))
struct ServeCommandTests {
    @Test("serve logs the ports it picked, answers, and on SIGTERM finishes an in-flight request and exits 0")
    func servesAndStops() throws {
        let binary = try #require(executable)
        let directory = NSTemporaryDirectory() + "cc-serve-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let process = Process()
        process.executableURL = binary
        process.arguments = ["serve", "--webhook-listen", "127.0.0.1:0", "--rpc-listen", "127.0.0.1:0", "--data-dir", directory]
        var environment = ProcessInfo.processInfo.environment
        environment["CUSTOMER_CACHE_WEBHOOK_SECRETS"] = "whsec_process_test"
        process.environment = environment
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { process.terminate() } }

        let (ports, startLog) = readServeListeners(from: errors, until: "store open")
        var log = startLog
        let rpcPort = try #require(ports["rpc"], "no rpc address in: \(log)")
        let rpc = try SocketAddress(host: "127.0.0.1", port: rpcPort)
        let readiness = try RawClient(rpc).exchange(method: "GET", path: "/readyz")
        #expect(readiness?.status == 200)
        #expect(!log.contains("whsec_process_test"))

        // A keep-alive connection mid-conversation, then SIGTERM: the next request is answered with close.
        let client = try RawClient(rpc)
        #expect(client.exchange(method: "GET", path: "/healthz")?.status == 200)
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        log += String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationReason == .exit)
        #expect(process.terminationStatus == 0)
        #expect(log.contains("stopped"))
        #expect(client.isClosedByPeer())
    }

    @Test("a bad setting stops serve before it binds, naming the key")
    func badSetting() throws {
        let binary = try #require(executable)
        let process = Process()
        process.executableURL = binary
        process.arguments = ["serve", "--rpc-listen", "not-an-address"]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus != 0)
        #expect(text.contains("rpc-listen"))
    }
}
