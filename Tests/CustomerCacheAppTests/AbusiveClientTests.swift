import Foundation
import HTTPTestClient
import Sockets
import Testing
#if canImport(Glibc)
import Glibc
#endif

private let executable = builtCustomerCacheExecutable

/// `customer-cache serve` as a child process, optionally under a lower descriptor limit, with its log in a file
/// (a pipe nobody drains would block a process that logs too much, hiding exactly what these tests look for).
private final class ServeProcess {
    let process: Process
    let logPath: String
    let directory: String
    let webhook: SocketAddress
    let rpc: SocketAddress

    init(binary: URL, descriptorLimit: Int? = nil) throws {
        let directory = NSTemporaryDirectory() + "cc-abuse-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let logPath = directory + "/serve.log"
        FileManager.default.createFile(atPath: logPath, contents: nil)
        let arguments = ["serve", "--webhook-listen", "127.0.0.1:0", "--rpc-listen", "127.0.0.1:0", "--data-dir", directory + "/data"]
        let process = Process()
        if let descriptorLimit {
            // exec keeps one process, so the pid we hold is the server's.
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", "ulimit -n \(descriptorLimit) && exec \"$0\" \"$@\"", binary.path] + arguments
        } else {
            process.executableURL = binary
            process.arguments = arguments
        }
        var environment = ProcessInfo.processInfo.environment
        environment["CUSTOMER_CACHE_WEBHOOK_SECRETS"] = "whsec_abuse_test"
        process.environment = environment
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        var ports: [String: UInt16] = [:]
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, process.isRunning {
            let text = Self.read(logPath)
            for line in text.split(separator: "\n") where line.contains("listening") {
                guard let match = line.firstMatch(of: /address=127\.0\.0\.1:(\d+)/), let port = UInt16(match.1) else { continue }
                ports[line.contains("listener=webhook") ? "webhook" : "rpc"] = port
            }
            if ports.count == 2, text.contains("store open") { break }
            usleep(50_000)
        }
        guard let webhookPort = ports["webhook"], let rpcPort = ports["rpc"] else {
            if process.isRunning { process.terminate() }
            throw SocketError(call: "serve did not start: \(Self.read(logPath))", errno: 0)
        }
        self.process = process
        self.logPath = logPath
        self.directory = directory
        webhook = try SocketAddress(host: "127.0.0.1", port: webhookPort)
        rpc = try SocketAddress(host: "127.0.0.1", port: rpcPort)
    }

    private static func read(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

    deinit {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    var log: String { Self.read(logPath) }

    /// User plus system CPU seconds the process has used (/proc/<pid>/stat fields 14 and 15).
    var cpuSeconds: Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/stat", encoding: .utf8),
              let afterName = stat.lastIndex(of: ")") else { return 0 }
        let fields = stat[stat.index(after: afterName)...].split(separator: " ")
        // fields[0] is field 3 (state), so utime (14) and stime (15) are at 11 and 12.
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// Resident set size in bytes (/proc/<pid>/statm, second field, in pages).
    var residentBytes: Int {
        guard let statm = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/statm", encoding: .utf8) else { return 0 }
        let fields = statm.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// One GET on a fresh connection, with how long it took.
    func probe(_ address: SocketAddress, path: String = "/healthz", timeoutMilliseconds: Int = 1_000) -> (status: Int?, seconds: Double) {
        let started = Date()
        let status = (try? RawClient(address, receiveTimeoutMilliseconds: timeoutMilliseconds))?.exchange(method: "GET", path: path)?.status
        return (status, Date().timeIntervalSince(started))
    }
}

@Suite("customer-cache serve against abusive clients", .serialized, .enabled(if: executable != nil, "customer-cache was not built"))
struct AbusiveClientTests {
    init() {
        // The test process itself holds hundreds of client sockets.
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        if limit.rlim_cur < 4096 {
            limit.rlim_cur = min(4096, limit.rlim_max)
            setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        }
    }

    @Test("out of descriptors (ulimit -n 256, 300 idle clients): no spin, few log lines, counted, and serving goes on")
    func descriptorExhaustion() throws {
        let serve = try ServeProcess(binary: try #require(executable), descriptorLimit: 256)
        var clients: [RawClient] = []
        for _ in 0..<300 { if let client = try? RawClient(serve.webhook) { clients.append(client) } }
        usleep(500_000)
        let cpuBefore = serve.cpuSeconds
        // Idle connections make room for new ones, so the webhook listener answers even now.
        let during = serve.probe(serve.webhook)
        #expect(during.status == 200, "webhook /healthz while descriptors are exhausted")
        sleep(3)
        let cpuUsed = serve.cpuSeconds - cpuBefore
        #expect(cpuUsed < 0.6, "the server used \(cpuUsed) s of CPU in 3 s while out of descriptors")
        let acceptLines = serve.log.split(separator: "\n").filter { $0.contains("accept failed") }.count
        #expect(acceptLines >= 1)
        #expect(acceptLines <= 12, "accept failures must be rate-limited, got \(acceptLines) lines")
        #expect(serve.log.utf8.count < 1 << 20)

        clients.removeAll()
        usleep(500_000)
        #expect(serve.probe(serve.webhook).status == 200)
        #expect(serve.probe(serve.rpc).status == 200)
        let metrics = try #require(RawClient(serve.rpc).exchange(method: "GET", path: "/metrics")).bodyText
        let line = try #require(metrics.split(separator: "\n").first {
            $0.hasPrefix(#"customer_cache_http_accept_errors_total{listener="webhook",reason="emfile"}"#)
        })
        #expect((Int(line.split(separator: " ").last ?? "") ?? 0) > 0)
    }

    @Test("clients that pipeline and never read do not grow the process, and both listeners keep answering")
    func pipelinersThatNeverRead() throws {
        let serve = try ServeProcess(binary: try #require(executable))
        let rssBefore = serve.residentBytes
        var greedy: [TCPSocket] = []
        for address in [serve.webhook, serve.rpc, serve.webhook, serve.rpc] {
            let socket = try TCPSocket.connect(to: address)
            _ = fcntl(socket.descriptor, F_SETFL, fcntl(socket.descriptor, F_GETFL) | O_NONBLOCK)
            greedy.append(socket)
        }
        defer { for socket in greedy { socket.close() } }
        let batch = Array(String(repeating: "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", count: 1_000).utf8)
        let deadline = Date().addingTimeInterval(4)
        var probes: [(String, Int?, Double)] = []
        var nextProbe = Date().addingTimeInterval(1)
        while Date() < deadline {
            var progressed = false
            for socket in greedy {
                let written = batch.withUnsafeBytes { Glibc.send(socket.descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if written > 0 { progressed = true }
            }
            if !progressed { usleep(5_000) }
            if Date() >= nextProbe {
                nextProbe = Date().addingTimeInterval(1)
                let webhook = serve.probe(serve.webhook)
                let rpc = serve.probe(serve.rpc)
                probes.append(("webhook", webhook.status, webhook.seconds))
                probes.append(("rpc", rpc.status, rpc.seconds))
            }
        }
        for (listener, status, seconds) in probes {
            #expect(status == 200, "\(listener) /healthz")
            #expect(seconds < 1.0, "\(listener) /healthz took \(seconds) s")
        }
        let growth = serve.residentBytes - rssBefore
        #expect(growth < 32 << 20, "RSS grew by \(growth >> 20) MiB in 4 s")
    }
}
