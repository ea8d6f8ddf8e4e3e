import Foundation
import HTTPTestClient
import JSON
import Sockets
import Synchronization
import WebhookSignature
#if canImport(Glibc)
import Glibc
#endif

/// One `customer-cache serve` process on a test database. Its log is read as it is written: a replica logging
/// through a long outage would otherwise fill the pipe and stall on its next line.
final class ServeReplica {
    /// The log read so far; shared with the pipe's reading handler.
    private final class LogText: Sendable {
        let text = Mutex("")
    }

    let process = Process()
    private let errors = Pipe()
    private let collected = LogText()
    let webhook: SocketAddress
    let rpc: SocketAddress

    /// With `upstream`, the emulator is this replica's Digital River (short timeouts, forget retries every second).
    init(binary: URL, database: TestDatabase, secret: String, upstream: UpstreamSandbox? = nil, arguments: [String] = []) throws {
        process.executableURL = binary
        process.arguments = ["serve", "--webhook-listen", "127.0.0.1:0", "--rpc-listen", "127.0.0.1:0", "--database-url", database.url] + arguments
        var environment = ProcessInfo.processInfo.environment
        if let upstream {
            process.arguments? += ["--upstream-url", upstream.sandbox.baseURL, "--upstream-timeout-ms", "1500", "--forget-retry-seconds", "1"]
            environment["DR_API_KEY"] = UpstreamSandbox.apiKey
        }
        environment["CUSTOMER_CACHE_WEBHOOK_SECRETS"] = secret
        environment["CUSTOMER_CACHE_DATABASE_PASSWORD"] = database.password
        process.environment = environment
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let (ports, startLog) = readServeListeners(from: errors, until: "store open")
        collected.text.withLock { $0 = startLog }
        guard let webhookPort = ports["webhook"], let rpcPort = ports["rpc"], startLog.contains("store open") else {
            process.terminate()
            throw ReplicaStartFailure(log: startLog)
        }
        webhook = try SocketAddress(host: "127.0.0.1", port: webhookPort)
        rpc = try SocketAddress(host: "127.0.0.1", port: rpcPort)
        let collected = self.collected
        errors.fileHandleForReading.readabilityHandler = { handle in
            let chunk = handle.availableData
            if !chunk.isEmpty { collected.text.withLock { $0 += String(decoding: chunk, as: UTF8.self) } }
        }
    }

    struct ReplicaStartFailure: Error, CustomStringConvertible {
        let log: String
        var description: String { "replica did not start: \(log)" }
    }

    /// The log so far.
    var log: String { collected.text.withLock { $0 } }

    /// SIGTERM (graceful), waits for the exit, and returns the whole log.
    func stop() -> String {
        if process.isRunning {
            kill(process.processIdentifier, SIGTERM)
            process.waitUntilExit()
        }
        return drain()
    }

    /// SIGKILL: no shutdown of any kind, as when a node dies; returns the log written until then.
    func killHard() -> String {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        return drain()
    }

    private func drain() -> String {
        errors.fileHandleForReading.readabilityHandler = nil
        let rest = errors.fileHandleForReading.readDataToEndOfFile()
        return collected.text.withLock { $0 += String(decoding: rest, as: UTF8.self); return $0 }
    }

    deinit { if process.isRunning { process.terminate() } }

    /// The `result` (or `error`) member of one JSON-RPC call's answer.
    func call(_ method: String, _ params: String) -> (result: JSONValue?, error: JSONValue?) { Self.call(rpc, method, params) }

    static func call(_ rpc: SocketAddress, _ method: String, _ params: String) -> (result: JSONValue?, error: JSONValue?) {
        let body = Array(#"{"jsonrpc":"2.0","method":"\#(method)","params":\#(params),"id":1}"#.utf8)
        guard let response = try? RawClient(rpc).exchange(method: "POST", path: "/rpc", headers: [("Content-Type", "application/json")], body: body),
              case .object(let envelope)? = try? JSONValue.parse(response.body) else { return (nil, nil) }
        return (envelope["result"], envelope["error"])
    }

    /// The sum of every series of `name` on this replica's `/metrics` whose labels include `labels`.
    func metric(_ name: String, labels: String = "") -> Double {
        guard let response = try? RawClient(rpc).exchange(method: "GET", path: "/metrics") else { return 0 }
        return response.bodyText.split(separator: "\n").filter { ($0.hasPrefix(name + "{") || $0.hasPrefix(name + " ")) && (labels.isEmpty || $0.contains(labels)) }
            .compactMap { $0.split(separator: " ").last.flatMap { Double($0) } }.reduce(0, +)
    }

    func readinessText() -> String { (try? RawClient(rpc).exchange(method: "GET", path: "/readyz"))?.bodyText ?? "" }

    func email(of id: String, consistency: String = "cache") -> String? {
        let body = Array(#"{"jsonrpc":"2.0","method":"customer.get","params":{"id":"\#(id)","consistency":"\#(consistency)"},"id":1}"#.utf8)
        guard let response = try? RawClient(rpc).exchange(method: "POST", path: "/rpc", headers: [("Content-Type", "application/json")], body: body),
              case .object(let envelope)? = try? JSONValue.parse(response.body), case .object(let result)? = envelope["result"] else { return nil }
        return result["email"]?.stringValue
    }
}
