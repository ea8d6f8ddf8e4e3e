import Foundation
import HTTPTestClient
import SQLite
import Sockets
import WebhookSignature

// Load generator and ceiling probes for bench/run. Prints one JSON object per command on stdout so the Python
// driver can compute ratios; never part of `swift test`.
//
//   customer-cache-bench webhooks HOST:PORT CONNECTIONS SECONDS [PATH]   (secret from BENCH_WEBHOOK_SECRET)
//   customer-cache-bench ceilings DIR SECONDS BODY_BYTES

/// Thread-safe latency and status collection across client threads.
final class Recorder: @unchecked Sendable {
    // @unchecked: all fields are guarded by `lock`.
    private let lock = NSLock()
    private(set) var latencies: [Double] = []
    private(set) var statuses: [Int: Int] = [:]

    func add(_ samples: [Double], _ statuses: [Int: Int]) {
        lock.lock()
        latencies += samples
        for (status, count) in statuses { self.statuses[status, default: 0] += count }
        lock.unlock()
    }
}

func percentile(_ sorted: [Double], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return 0 }
    return sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
}

func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

/// A realistic ~600-byte customer.updated event. Each sender thread owns its customers and raises updatedTime with
/// every event, so every event is newer than the stored copy and is really written (no "unchanged" shortcuts).
func eventBody(run: String, thread: Int, sequence: Int) -> [UInt8] {
    let customer = "bench-\(thread)-\(sequence % 1000)"
    let micros = Int64(1_704_067_200) * 1_000_000 + Int64(sequence) * 1000 + Int64(thread)
    let stamp = Timestamp.string(micros)
    return Array(#"{"id":"\#(run)-\#(thread)-\#(sequence)","type":"customer.updated","data":{"object":{"id":"\#(customer)","email":"\#(customer)@example.com","enabled":true,"locale":"en_US","type":"individual","liveMode":false,"updatedTime":"\#(stamp)","shipping":{"name":"Bench User","phone":"555-0100","address":{"line1":"1 Main St","city":"Minneapolis","postalCode":"55401","state":"MN","country":"US"}},"metadata":{"tier":"gold","source":"bench"}}},"liveMode":false,"createdTime":"\#(stamp)","digitalriverVersion":"2021-12-13"}"#.utf8)
}

/// ISO-8601 with microseconds, without Foundation's formatter (it would dominate the client's CPU).
enum Timestamp {
    static func string(_ micros: Int64) -> String {
        let seconds = micros / 1_000_000
        let fraction = micros % 1_000_000
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday,
                      parts.tm_hour, parts.tm_min, parts.tm_sec, Int32(fraction))
    }
}

func webhooks(_ arguments: [String]) throws {
    guard arguments.count >= 3, let connections = Int(arguments[1]), let seconds = Double(arguments[2]) else {
        throw BenchError.usage
    }
    let address = try SocketAddress(parsing: arguments[0])
    let path = arguments.count > 3 ? arguments[3] : "/webhooks/digitalriver"
    let secret = ProcessInfo.processInfo.environment["BENCH_WEBHOOK_SECRET"] ?? ""
    let recorder = Recorder()
    let run = UUID().uuidString.prefix(8)
    // Requests are built and signed before the clock starts, so the load generator spends its CPU on sending
    // rather than on formatting and HMAC while it shares the two cores with the server. Timestamps stay far
    // inside the 300 s signature tolerance for any benchmark duration used here.
    let perThread = Int(Double(ProcessInfo.processInfo.environment["BENCH_MAX_EVENTS_PER_SECOND"].flatMap(Double.init) ?? 40_000) * seconds) / connections + 1
    let requests: [[[UInt8]]] = (0..<connections).map { thread in
        (0..<perThread).map { sequence in
            let body = eventBody(run: String(run), thread: thread, sequence: sequence)
            let header = WebhookSigner.header(secret: secret, timestamp: Int64(Date().timeIntervalSince1970), body: body)
            return Array("POST \(path) HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nDigitalRiver-Signature: \(header)\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body
        }
    }
    let group = DispatchGroup()
    let startedAt = now()
    let deadline = startedAt + seconds
    for thread in 0..<connections {
        group.enter()
        let mine = requests[thread]
        Thread {
            defer { group.leave() }
            guard let client = try? RawClient(address, receiveTimeoutMilliseconds: 10_000) else {
                recorder.add([], [-1: 1])
                return
            }
            var samples: [Double] = []
            samples.reserveCapacity(mine.count)
            var statuses: [Int: Int] = [:]
            for request in mine {
                if now() >= deadline { break }
                let started = now()
                client.send(request)
                let response = client.readResponse()
                samples.append(now() - started)
                statuses[response?.status ?? -1, default: 0] += 1
                if response == nil { break }
            }
            recorder.add(samples, statuses)
        }.start()
    }
    group.wait()
    let elapsed = now() - startedAt
    let sorted = recorder.latencies.sorted()
    let ok = recorder.statuses[200] ?? 0
    let statusText = recorder.statuses.sorted { $0.key < $1.key }.map { "\"\($0.key)\":\($0.value)" }.joined(separator: ",")
    print(#"{"events_per_second":\#(Double(ok) / elapsed),"p50_ms":\#(percentile(sorted, 0.5) * 1000),"p99_ms":\#(percentile(sorted, 0.99) * 1000),"requests":\#(sorted.count),"statuses":{\#(statusText)}}"#)
}

/// The machine's ceilings with the service's own settings: one-row-per-transaction SQLite commits (WAL,
/// synchronous=FULL) and HMAC-SHA256 verifications of a body of the same size.
func ceilings(_ arguments: [String]) throws {
    guard arguments.count >= 3, let seconds = Double(arguments[1]), let bodyBytes = Int(arguments[2]) else { throw BenchError.usage }
    let path = arguments[0] + "/ceiling-\(UUID().uuidString).sqlite"
    defer {
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
    }
    let connection = try SQLiteConnection(path: path)
    try connection.execute("CREATE TABLE customers (id TEXT PRIMARY KEY NOT NULL, state INTEGER NOT NULL, updated_us INTEGER NOT NULL, event_us INTEGER NOT NULL, stale INTEGER NOT NULL, body BLOB NOT NULL)")
    let insert = try connection.prepare("INSERT OR REPLACE INTO customers VALUES (?, 0, ?, ?, 0, ?)")
    let blob = [UInt8](repeating: 0x61, count: bodyBytes)
    var commits = 0
    var deadline = now() + seconds
    var started = now()
    while now() < deadline {
        try connection.transaction(.immediate) {
            try insert.run([.text("c\(commits % 100_000)"), .integer(Int64(commits)), .integer(Int64(commits)), .blob(blob)])
        }
        commits += 1
    }
    let commitRate = Double(commits) / (now() - started)

    let body = [UInt8](repeating: 0x62, count: bodyBytes)
    let verifier = WebhookSignatureVerifier(secrets: [SigningSecret("bench-secret")], tolerance: 300)
    let header = WebhookSigner.header(secret: "bench-secret", timestamp: Int64(Date().timeIntervalSince1970), body: body)
    var verifications = 0
    deadline = now() + seconds
    started = now()
    while now() < deadline {
        for _ in 0..<1000 { _ = try? verifier.verify(header: header, body: body) }
        verifications += 1000
    }
    let hmacRate = Double(verifications) / (now() - started)
    print(#"{"sqlite_single_row_commits_per_second":\#(commitRate),"hmac_verifications_per_second":\#(hmacRate),"body_bytes":\#(bodyBytes)}"#)
}

enum BenchError: Error { case usage }

let arguments = Array(CommandLine.arguments.dropFirst())
do {
    switch arguments.first {
    case "webhooks": try webhooks(Array(arguments.dropFirst()))
    case "ceilings": try ceilings(Array(arguments.dropFirst()))
    default: throw BenchError.usage
    }
} catch {
    FileHandle.standardError.write(Data("customer-cache-bench: \(error)\nusage: webhooks HOST:PORT CONNECTIONS SECONDS [PATH] | ceilings DIR SECONDS BODY_BYTES\n".utf8))
    exit(2)
}
