@testable import CustomerCacheApp
import DigitalRiverAPI
import Foundation
import HTTPTestClient
import JSON
import Logging
import Synchronization
import Testing

/// A Digital River that holds every retrieve until the test releases it, so a read-through is in flight for as long
/// as a test needs; then answers with the customer.
final class HeldDigitalRiver: DigitalRiverTransport {
    private let state = Mutex((arrived: 0, released: false))

    var arrived: Int { state.withLock { $0.arrived } }

    func release() { state.withLock { $0.released = true } }

    func send(_ request: TransportRequest) async throws(TransportError) -> TransportResponse {
        state.withLock { $0.arrived += 1 }
        while !state.withLock({ $0.released }) { try? await Task.sleep(for: .milliseconds(5)) }
        let id = request.url.split(separator: "/").last.map(String.init) ?? ""
        return TransportResponse(status: 200, headers: [("Content-Type", "application/json")],
                                 body: Array(Events.customer(id, updated: "2024-02-01T00:00:00Z", email: "held@example.com").utf8))
    }
}

@Suite("Shutdown order: stop accepting, drain in-flight requests, then close the store", .serialized)
struct ShutdownOrderTests {
    @Test("a request in flight at shutdown is answered 200 and its write is in the store after a restart; new connections are refused meanwhile")
    func inFlightRequestDrainsBeforeTheStoreCloses() throws {
        let digitalRiver = HeldDigitalRiver()
        let live = try LiveService(settings: ["shutdown-grace-ms": "20000"], upstream: try digitalRiver.client(maxAttempts: 1))
        defer { live.removeData() }

        // A customer.get miss reads through to Digital River, which holds it: the request is in the RPC handler.
        let answer = Mutex<WireResponse?>(nil)
        let rpc = live.rpc
        let caller = Thread {
            guard let client = try? RawClient(rpc, receiveTimeoutMilliseconds: 30_000) else { return }
            let body = Array(#"{"jsonrpc":"2.0","method":"customer.get","params":{"id":"held-1"},"id":1}"#.utf8)
            let response = client.exchange(method: "POST", path: "/rpc", headers: [("Content-Type", "application/json")], body: body)
            answer.withLock { $0 = response }
        }
        caller.start()
        #expect(eventually(within: 10) { digitalRiver.arrived == 1 })

        // Shutdown (what SIGTERM triggers), from a thread of its own: it waits for the drain.
        let stopped = Atomic<Bool>(false)
        nonisolated(unsafe) let stopping = live  // only `stop()` runs on the other thread, and `stop()` is idempotent
        Thread {
            stopping.stop()
            stopped.store(true, ordering: .relaxed)
        }.start()

        // Both listeners stop accepting while the request is still in flight.
        #expect(eventually(within: 10) { (try? RawClient(live.webhook)) == nil && (try? RawClient(live.rpc)) == nil },
                "a listener still accepts connections after shutdown began")
        #expect(answer.withLock { $0 } == nil)
        let stoppedEarly = stopped.load(ordering: .relaxed)
        #expect(!stoppedEarly, "the service stopped before its in-flight request was answered")
        #expect(live.store?.isOpen == true, "the store closed before the listeners drained")

        digitalRiver.release()
        #expect(eventually(within: 10) { answer.withLock { $0 } != nil })
        let response = try #require(answer.withLock { $0 })
        #expect(response.status == 200)
        #expect(response.header("Connection") == "close")
        #expect(try JSONValue.parse(response.body)["result"]?["email"] == "held@example.com")
        #expect(eventually(within: 10) { stopped.load(ordering: .relaxed) })
        #expect(live.store?.isOpen == false, "the store is closed last")

        // The write the drained request made was committed before the store closed.
        let restarted = try LiveService(dataDirectory: live.dataDirectory)
        defer { restarted.stop() }
        #expect(restarted.storedText("held-1").contains("held@example.com"))
    }
}
