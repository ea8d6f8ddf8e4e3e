@testable import CustomerCacheApp
import Foundation
import HTTPTestClient
import JSON
import Sockets
import Testing

/// A small filesystem the test may fill (scripts/test mounts a 4 MiB tmpfs and names it here), so commits and
/// checkpoints really fail with "database or disk is full".
enum SmallDisk {
    static let variable = "CUSTOMER_CACHE_TEST_TMPFS"
    static var root: String? { ProcessInfo.processInfo.environment[variable].flatMap { $0.isEmpty ? nil : $0 } }
}

/// Fills the small disk with 4 KiB files (tmpfs allocates in pages) and frees them on demand.
final class DiskFiller {
    private let directory: String
    private var files: [String] = []
    private var next = 0

    init(root: String) throws {
        directory = root + "/filler-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    /// Writes 4 KiB files until the disk refuses one.
    func fill() {
        let page = [UInt8](repeating: 0x5A, count: 4096)
        while true {
            let path = "\(directory)/\(next)"
            next += 1
            let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
            guard descriptor >= 0 else { return }
            let written = page.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            close(descriptor)
            guard written == page.count else {
                unlink(path)
                return
            }
            files.append(path)
        }
    }

    /// Frees about `bytes` (whole 4 KiB files).
    func free(bytes: Int) {
        for _ in 0..<min(files.count, (bytes + 4095) / 4096) { unlink(files.removeLast()) }
    }

    func freeAll() { free(bytes: files.count * 4096) }

    deinit {
        freeAll()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// Every file under `directory` whose raw bytes contain `marker`, with the number of occurrences.
func filesContaining(_ marker: String, in directory: String) -> [String: Int] {
    let needle = Data(marker.utf8)
    var found: [String: Int] = [:]
    for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
        guard let contents = FileManager.default.contents(atPath: directory + "/" + name) else { continue }
        var count = 0
        var searchRange = contents.startIndex..<contents.endIndex
        while let range = contents.range(of: needle, in: searchRange) {
            count += 1
            searchRange = range.upperBound..<contents.endIndex
        }
        if count > 0 { found[name] = count }
    }
    return found
}

/// Polls `condition` every 100 ms for up to `seconds`.
func eventually(within seconds: Double, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try condition() { return true }
        Thread.sleep(forTimeInterval: 0.1)
    }
    return try condition()
}

@Suite("Disk pressure on a small tmpfs", .serialized, .enabled(if: SmallDisk.root != nil, "needs \(SmallDisk.variable): scripts/test mounts a tmpfs when run as root"))
struct DiskPressureTests {
    /// A customer whose body carries `marker` as its email and ~2 KiB of padding, so 30 of them need real pages.
    static func customer(_ id: String, marker: String) -> String {
        let padding = String(repeating: "p", count: 2048)
        return #"{"id":"\#(id)","email":"\#(marker)","updatedTime":"2024-01-01T00:00:00Z","liveMode":false,"metadata":{"note":"\#(padding)"}}"#
    }

    /// The issue's sequence: fill the disk, free 1 MiB, post 30 events, forget. Then the disk is filled again but
    /// for a few pages, so the forget's commit fits while the checkpoint (which grows the database file) cannot.
    func forgetUnderPressure(_ live: LiveService, filler: DiskFiller, marker: String) throws -> JSONValue {
        filler.fill()
        filler.free(bytes: 1 << 20)
        for index in 0..<30 {
            let body = Events.event("evt-\(index)", object: Self.customer("c-\(index)", marker: index == 7 ? marker : "other-\(index)@example.com"))
            #expect(try live.postEvent(body)?.status == 200)
        }
        filler.fill()
        filler.free(bytes: 48 << 10)
        return try live.rpcJSON(#"{"jsonrpc":"2.0","method":"customer.forget","params":{"id":"c-7"},"id":1}"#)
    }

    @Test("a forget whose WAL cannot be truncated says pending, is retried, and ends with the bytes in no file")
    func purgePendingThenComplete() throws {
        let root = try #require(SmallDisk.root)
        let filler = try DiskFiller(root: root)
        let live = try LiveService(dataDirectory: root + "/data-" + UUID().uuidString)
        defer { live.stop(); live.removeData() }
        let marker = "purge-marker-\(UUID().uuidString.prefix(8))@example.com"
        let answer = try forgetUnderPressure(live, filler: filler, marker: marker)
        let result = try #require(answer["result"], "forget failed: \(answer)")
        #expect(result["purge"] == "pending" || result["purge"] == "complete")
        if result["purge"] == "pending" {
            #expect(result["forgotten"] == false)
            #expect(!filesContaining(marker, in: live.dataDirectory).isEmpty, "pending, yet the bytes are already gone")
            #expect(live.service.metrics.render().contains("customer_cache_store_purges_pending 1"))
            let ready = try #require(try RawClient(live.rpc).exchange(method: "GET", path: "/readyz"))
            #expect(ready.bodyText.contains("purge(s) pending"))
            // Asking again while the disk is still full still says pending.
            let again = try live.rpcJSON(#"{"jsonrpc":"2.0","method":"customer.forget","params":{"id":"c-7"},"id":2}"#)
            #expect(again["result"]?["purge"] == "pending")
        } else {
            #expect(result["forgotten"] == true)
            #expect(filesContaining(marker, in: live.dataDirectory).isEmpty)
        }
        filler.freeAll()
        #expect(eventually(within: 30) { live.store?.health.pendingPurgeCount == 0 }, "the purge was not retried to completion")
        #expect(filesContaining(marker, in: live.dataDirectory) == [:])
        #expect(live.service.metrics.render().contains("customer_cache_store_purges_pending 0"))
        let done = try live.rpcJSON(#"{"jsonrpc":"2.0","method":"customer.forget","params":{"id":"c-7"},"id":3}"#)
        #expect(done["result"]?["forgotten"] == true)
        #expect(done["result"]?["purge"] == "complete")
        // The other customers were not touched by the purge.
        #expect(live.storedText("c-8").contains("other-8@example.com"))
    }

    @Test("a purge still pending at shutdown is finished by the next start, once there is room")
    func pendingPurgeSurvivesRestart() throws {
        let root = try #require(SmallDisk.root)
        let filler = try DiskFiller(root: root)
        let directory = root + "/data-" + UUID().uuidString
        let marker = "restart-marker-\(UUID().uuidString.prefix(8))@example.com"
        do {
            let live = try LiveService(dataDirectory: directory)
            let answer = try forgetUnderPressure(live, filler: filler, marker: marker)
            #expect(answer["result"]?["purge"] == "pending", "the disk was not full enough to make the purge fail: \(answer)")
            live.stop()
        }
        #expect(!filesContaining(marker, in: directory).isEmpty, "the bytes left with the clean shutdown on a full disk")
        filler.freeAll()
        let restarted = try LiveService(dataDirectory: directory)
        defer { restarted.stop(); restarted.removeData() }
        #expect(eventually(within: 30) { restarted.store?.health.pendingPurgeCount == 0 })
        #expect(filesContaining(marker, in: directory) == [:])
    }
    @Test("while no commit succeeds the webhook listener is not ready, the RPC listener still serves reads, and both recover without traffic")
    func readinessFollowsCommits() throws {
        let root = try #require(SmallDisk.root)
        let filler = try DiskFiller(root: root)
        let live = try LiveService(dataDirectory: root + "/data-" + UUID().uuidString)
        defer { live.stop(); live.removeData() }
        #expect(try live.postEvent(Events.event("seed", object: Self.customer("kept", marker: "kept@example.com")))?.status == 200)
        func readiness(_ address: SocketAddress) throws -> WireResponse {
            try #require(try RawClient(address).exchange(method: "GET", path: "/readyz"))
        }
        #expect(try readiness(live.webhook).status == 200)

        filler.fill()
        let refused = try #require(try live.postEvent(Events.event("while-full", object: Self.customer("new", marker: "new@example.com"))))
        #expect(refused.status == 503)
        let webhookReady = try readiness(live.webhook)
        #expect(webhookReady.status == 503)
        #expect(webhookReady.bodyText.contains("cannot commit"))
        let rpcReady = try readiness(live.rpc)
        #expect(rpcReady.status == 200)
        #expect(rpcReady.bodyText.contains("cannot commit"))
        let read = try live.rpcJSON(#"{"jsonrpc":"2.0","method":"customer.get","params":{"id":"kept"},"id":1}"#)
        #expect(read["result"]?["email"] == "kept@example.com")
        // Still not ready a few probes later: the probe write fails too.
        Thread.sleep(forTimeInterval: 2.5)
        #expect(try readiness(live.webhook).status == 503)

        filler.freeAll()
        // No webhook is sent: the writer's probe write alone brings readiness back.
        #expect(try eventually(within: 30) { try readiness(live.webhook).status == 200 }, "readiness did not recover without traffic")
        #expect(try live.postEvent(Events.event("while-full", object: Self.customer("new", marker: "new@example.com")))?.status == 200)
        #expect(live.service.metrics.render().contains("customer_cache_store_commit_failures_total"))
    }
}
