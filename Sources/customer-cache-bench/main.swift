import Foundation
import Synchronization
import HTTPTestClient
import SQLite
import Sockets
import WebhookSignature

// Load generator and ceiling probes for bench/run. Prints one JSON object per command on stdout so the Python
// driver can compute ratios; never part of `swift test`.
//
//   customer-cache-bench webhooks HOST:PORT CONNECTIONS SECONDS [PATH]   (secret from BENCH_WEBHOOK_SECRET)
//   customer-cache-bench ceilings DIR SECONDS BODY_BYTES
//   customer-cache-bench propagation WEBHOOK_HOST:PORT RPC_HOST:PORT EVENTS_PER_SECOND SECONDS   (replica A's webhooks, replica B's RPC)
//   customer-cache-bench eviction [CUSTOMERS] [CAPACITY] [REQUESTS] [ZIPF_S]   (SIEVE vs LRU vs FIFO on a Zipf trace; Eviction.swift)

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
    let customer = benchCustomer(thread: thread, sequence: sequence)
    let stamp = benchStamp(thread: thread, sequence: sequence)
    return Array(#"{"id":"\#(run)-\#(thread)-\#(sequence)","type":"customer.updated","data":{"object":{"id":"\#(customer)","email":"\#(customer)@example.com","enabled":true,"locale":"en_US","type":"individual","liveMode":false,"updatedTime":"\#(stamp)","shipping":{"name":"Bench User","phone":"555-0100","address":{"line1":"1 Main St","city":"Minneapolis","postalCode":"55401","state":"MN","country":"US"}},"metadata":{"tier":"gold","source":"bench"}}},"liveMode":false,"createdTime":"\#(stamp)","digitalriverVersion":"2021-12-13"}"#.utf8)
}

/// The customer an event of `eventBody` updates.
func benchCustomer(thread: Int, sequence: Int) -> String { "bench-\(thread)-\(sequence % 1000)" }

/// The `updatedTime` an event of `eventBody` carries (rising with `sequence`, unique per thread).
func benchStamp(thread: Int, sequence: Int) -> String {
    Timestamp.string(Int64(1_704_067_200) * 1_000_000 + Int64(sequence) * 1000 + Int64(thread))
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

/// Runs `body` on `count` threads, each with its own keep-alive client to `address` (one that cannot connect counts
/// as status -1 in `recorder`), and returns when all are done.
func onClientThreads(_ count: Int, _ address: SocketAddress, _ recorder: Recorder, _ body: @escaping @Sendable (Int, RawClient) -> Void) {
    let group = DispatchGroup()
    for thread in 0..<count {
        group.enter()
        Thread {
            defer { group.leave() }
            guard let client = try? RawClient(address, receiveTimeoutMilliseconds: 10_000) else {
                recorder.add([], [-1: 1])
                return
            }
            body(thread, client)
        }.start()
    }
    group.wait()
}

/// Every sender's signed webhook requests, built before the clock starts.
func signedRequests(run: String, connections: Int, perThread: Int, path: String, secret: String) -> [[[UInt8]]] {
    (0..<connections).map { thread in
        (0..<perThread).map { sequence in
            let body = eventBody(run: run, thread: thread, sequence: sequence)
            let header = WebhookSigner.header(secret: secret, timestamp: Int64(Date().timeIntervalSince1970), body: body)
            return Array("POST \(path) HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nDigitalRiver-Signature: \(header)\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body
        }
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
    let requests = signedRequests(run: String(run), connections: connections, perThread: perThread, path: path, secret: secret)
    let startedAt = now()
    let deadline = startedAt + seconds
    onClientThreads(connections, address, recorder) { thread, client in
        let mine = requests[thread]
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
    }
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

/// Sampled events waiting for a poller: which customer, the version to look for, and when the webhook went out
/// and was acknowledged by replica A.
final class SampleQueue: @unchecked Sendable {
    // @unchecked: all fields are guarded by `condition`.
    struct Sample {
        let customer: String
        let stamp: String
        let sentAt: Double
        let ackedAt: Double
    }

    private let condition = NSCondition()
    private var samples: [Sample] = []
    private var closed = false

    func put(_ sample: Sample) {
        condition.lock()
        samples.append(sample)
        condition.signal()
        condition.unlock()
    }

    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }

    /// The oldest waiting sample; nil once closed and drained.
    func take() -> Sample? {
        condition.lock()
        defer { condition.unlock() }
        while samples.isEmpty && !closed { condition.wait() }
        return samples.isEmpty ? nil : samples.removeFirst()
    }
}

/// A sample B showed late: when A acknowledged it (seconds since 1970), after how long B showed it, and whether the
/// poller was asking all along (`polls`) or was itself held up (`longestGap` between two of its requests).
struct SlowSample: Sendable {
    let ackedAt: Double
    let delay: Double
    let polls: Int
    let longestGap: Double
}

/// Samples slower than this are listed one by one in the output.
let slowSampleSeconds = 0.010

/// Cross-replica propagation at a steady rate: 256 paced senders (enough that a slow commit does not hold the rate
/// back) post signed webhooks to replica A at EVENTS_PER_SECOND in total; about 100 events a second are sampled, and
/// after A's 200 one of 8 pollers (enough that samples never wait for one) asks replica B's
/// `customer.get` every millisecond until it returns that version. Reports the time from A's acknowledgement (and
/// from the send) to B answering with the new version.
func propagation(_ arguments: [String]) throws {
    guard arguments.count >= 4, let rate = Double(arguments[2]), let seconds = Double(arguments[3]), rate > 0 else { throw BenchError.usage }
    let webhookAddress = try SocketAddress(parsing: arguments[0])
    let rpcAddress = try SocketAddress(parsing: arguments[1])
    let secret = ProcessInfo.processInfo.environment["BENCH_WEBHOOK_SECRET"] ?? ""
    let connections = 256
    let pollers = 8
    let interval = Double(connections) / rate
    let perThread = Int(seconds / interval) + 2
    let sampleEvery = max(1, Int(rate / 100))
    let requests = signedRequests(run: String(UUID().uuidString.prefix(8)), connections: connections, perThread: perThread,
                                  path: "/webhooks/digitalriver", secret: secret)
    let queue = SampleQueue()
    let senders = Recorder()
    let fromAck = Recorder()
    let fromSend = Recorder()
    let missed = Atomic<Int>(0)
    let slowSamples = Mutex<[SlowSample]>([])
    let pollerGroup = DispatchGroup()
    for _ in 0..<pollers {
        pollerGroup.enter()
        Thread {
            defer { pollerGroup.leave() }
            guard let client = try? RawClient(rpcAddress, receiveTimeoutMilliseconds: 10_000) else { return }
            var acked: [Double] = []
            var sent: [Double] = []
            var slow: [SlowSample] = []
            while let sample = queue.take() {
                let request = Array(#"{"jsonrpc":"2.0","method":"customer.get","params":{"id":"\#(sample.customer)"},"id":1}"#.utf8)
                let wanted = "\"updatedTime\":\"\(sample.stamp)\""
                var seen = false
                var polls = 0
                var longestGap = now() - sample.ackedAt
                var lastPoll = now()
                while now() - sample.ackedAt < 5 {
                    let polled = now()
                    longestGap = max(longestGap, polled - lastPoll)
                    lastPoll = polled
                    polls += 1
                    guard let response = client.exchange(method: "POST", path: "/rpc", headers: [("Content-Type", "application/json")], body: request) else { break }
                    if response.bodyText.contains(wanted) {
                        let at = now()
                        acked.append(at - sample.ackedAt)
                        sent.append(at - sample.sentAt)
                        if at - sample.ackedAt > slowSampleSeconds {
                            slow.append(SlowSample(ackedAt: Date().timeIntervalSince1970 - (at - sample.ackedAt), delay: at - sample.ackedAt,
                                                   polls: polls, longestGap: max(longestGap, at - polled)))
                        }
                        seen = true
                        break
                    }
                    usleep(1000)
                }
                if !seen { missed.add(1, ordering: .relaxed) }
            }
            fromAck.add(acked, [:])
            fromSend.add(sent, [:])
            slowSamples.withLock { $0 += slow }
        }.start()
    }
    let startedAt = now() + 0.2
    let deadline = startedAt + seconds
    onClientThreads(connections, webhookAddress, senders) { thread, client in
        let mine = requests[thread]
        var statuses: [Int: Int] = [:]
        // Spread the senders over one interval so the load is steady, not every sender at once.
        let offset = interval * Double(thread) / Double(connections)
        for (sequence, request) in mine.enumerated() {
            let due = startedAt + offset + Double(sequence) * interval
            if due >= deadline { break }
            let wait = due - now()
            if wait > 0 { usleep(UInt32(wait * 1_000_000)) }
            let sentAt = now()
            client.send(request)
            let response = client.readResponse()
            statuses[response?.status ?? -1, default: 0] += 1
            guard let response else { break }
            if response.status == 200, (sequence * connections + thread) % sampleEvery == 0 {
                queue.put(.init(customer: benchCustomer(thread: thread, sequence: sequence), stamp: benchStamp(thread: thread, sequence: sequence),
                                sentAt: sentAt, ackedAt: now()))
            }
        }
        senders.add([], statuses)
    }
    let elapsed = now() - startedAt
    queue.close()
    pollerGroup.wait()
    let ack = fromAck.latencies.sorted()
    let send = fromSend.latencies.sorted()
    let ok = senders.statuses[200] ?? 0
    let statusText = senders.statuses.sorted { $0.key < $1.key }.map { "\"\($0.key)\":\($0.value)" }.joined(separator: ",")
    // The slow samples, to tell a replica that was behind (many polls, each about a millisecond apart) from a poller
    // that was not scheduled (few polls, one long gap): wall-clock time of A's 200, delay, polls, longest gap (ms).
    let slowText = slowSamples.withLock { $0 }.sorted { $0.ackedAt < $1.ackedAt }.prefix(100)
        .map { String(format: "[%.3f,%.1f,%d,%.1f]", $0.ackedAt, $0.delay * 1000, $0.polls, $0.longestGap * 1000) }.joined(separator: ",")
    print(#"{"slow":[\#(slowText)],"events_per_second":\#(Double(ok) / elapsed),"samples":\#(ack.count),"missed":\#(missed.load(ordering: .relaxed)),"ack_p50_ms":\#(percentile(ack, 0.5) * 1000),"ack_p99_ms":\#(percentile(ack, 0.99) * 1000),"send_p50_ms":\#(percentile(send, 0.5) * 1000),"send_p99_ms":\#(percentile(send, 0.99) * 1000),"statuses":{\#(statusText)}}"#)
}

enum BenchError: Error { case usage }

let arguments = Array(CommandLine.arguments.dropFirst())
do {
    switch arguments.first {
    case "webhooks": try webhooks(Array(arguments.dropFirst()))
    case "ceilings": try ceilings(Array(arguments.dropFirst()))
    case "propagation": try propagation(Array(arguments.dropFirst()))
    case "eviction": eviction(Array(arguments.dropFirst()))
    default: throw BenchError.usage
    }
} catch {
    FileHandle.standardError.write(Data("customer-cache-bench: \(error)\nusage: webhooks HOST:PORT CONNECTIONS SECONDS [PATH] | ceilings DIR SECONDS BODY_BYTES | propagation WEBHOOK_HOST:PORT RPC_HOST:PORT EVENTS_PER_SECOND SECONDS | eviction [CUSTOMERS] [CAPACITY] [REQUESTS] [ZIPF_S]\n".utf8))
    exit(2)
}
