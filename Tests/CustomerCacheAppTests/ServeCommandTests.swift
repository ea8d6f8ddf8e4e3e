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
        let (process, errors) = try launch(binary, ["serve", "--webhook-listen", "127.0.0.1:0", "--rpc-listen", "127.0.0.1:0", "--data-dir", directory],
                                           environment: ["CUSTOMER_CACHE_WEBHOOK_SECRETS": "whsec_process_test"])
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

    @Test("serve --sandbox composes the emulator: reads go through to it, its webhooks reach our listener, SIGTERM stops both")
    func sandboxIsTheUpstream() throws {
        let binary = try #require(executable)
        let directory = NSTemporaryDirectory() + "cc-serve-sandbox-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // Port 0 for the webhook listener: the emulator learns where to deliver only after it has bound.
        let (process, errors) = try launch(binary, ["serve", "--sandbox", "--sandbox-seed", "3", "--webhook-listen", "127.0.0.1:0",
                                                    "--rpc-listen", "127.0.0.1:0", "--data-dir", directory, "--log-level", "debug"],
                                           environment: ["CUSTOMER_CACHE_WEBHOOK_SECRETS": nil, "DR_API_KEY": nil])
        defer { if process.isRunning { process.terminate() } }

        let (ports, startLog) = readServeListeners(from: errors, until: "SANDBOX MODE")
        var log = startLog
        let rpc = try SocketAddress(host: "127.0.0.1", port: try #require(ports["rpc"], "no rpc address in: \(log)"))
        func call(_ body: String) throws -> String {
            let response = try RawClient(rpc).exchange(method: "POST", path: "/rpc", headers: [("Content-Type", "application/json")],
                                                         body: Array(body.utf8))
            return response?.bodyText ?? ""
        }
        // A seeded customer exists only in the emulator: the miss reads through to it.
        #expect(try call(#"{"jsonrpc":"2.0","method":"customer.get","params":{"id":"cust-000002"},"id":1}"#).contains(#""id":"cust-000002""#))
        // A create at the emulator sends a signed customer.created back to our webhook listener, which verifies it.
        #expect(try call(#"{"jsonrpc":"2.0","method":"customer.ensure","params":{"id":"sandboxed-1","email":"s@example.com"},"id":2}"#)
            .contains(#""created":true"#))
        log = readLog(from: errors, appendingTo: log, until: "webhook applied")
        let delivered = log.split(separator: "\n").first { $0.contains("webhook applied") && $0.contains("customer.created") }
        #expect(delivered != nil, "no verified customer.created from the emulator in: \(log)")

        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        log += String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 0)
        // The emulator stops last, after the app has drained and closed its store.
        let stopped = try #require(log.range(of: "[CustomerCacheApp] stopped"), "\(log)")
        let emulatorStopped = try #require(log.range(of: "listener=sandbox loop=0 [HTTP1] shutting down listener"), "\(log)")
        #expect(stopped.lowerBound < emulatorStopped.lowerBound)
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
