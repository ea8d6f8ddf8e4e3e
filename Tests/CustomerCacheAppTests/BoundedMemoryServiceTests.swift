@testable import CustomerCacheApp
import Foundation
import HTTPTestClient
import JSON
import Testing

@Suite("Bounded memory through the service (max-cached-customers)", .serialized)
struct BoundedMemoryServiceTests {
    private func service(_ upstream: UpstreamSandbox, backend: ServiceBackend, limit: Int) throws -> LiveService {
        try LiveService(settings: ["upstream-url": upstream.sandbox.baseURL, "upstream-timeout-ms": "1500", "max-cached-customers": "\(limit)"],
                        environment: [AppConfiguration.webhookSecretsEnvironmentName: LiveService.secret,
                                      AppConfiguration.apiKeyEnvironmentName: UpstreamSandbox.apiKey],
                        backend: backend)
    }

    private func metric(_ live: LiveService, _ series: String) throws -> Int? {
        let text = try #require(RawClient(live.rpc).exchange(method: "GET", path: "/metrics")).bodyText
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            // Gauges are rendered as floats ("3.0"), counters as integers.
            return Double(line.dropFirst(series.count + 1)).map { Int($0) }
        }
        return nil
    }

    @Test("beyond the limit memory evicts; a miss is answered from the store without asking Digital River; a tombstone stays",
          arguments: ServiceBackend.available)
    func missAnsweredByStore(backend: ServiceBackend) throws {
        let upstream = try UpstreamSandbox()
        let live = try service(upstream, backend: backend, limit: 3)
        defer { live.stop(); live.removeData() }
        for index in 0..<10 {
            #expect(try live.postEvent(Events.event("e\(index)", object: Events.customer("local-\(index)", email: "c\(index)@example.com")))?.status == 200)
        }
        let deleted = Events.event("del-9", type: "customer.deleted", object: #"{"id":"local-9"}"#, created: "2024-06-01T00:00:00Z")
        #expect(try live.postEvent(deleted)?.status == 200)
        for index in 10..<14 {
            #expect(try live.postEvent(Events.event("e\(index)", object: Events.customer("local-\(index)")))?.status == 200)
        }
        let store = try #require(live.store)
        #expect(store.count <= 3)
        #expect(store.record(for: "local-0") == nil)
        #expect(store.record(for: "local-9") == nil)

        let found = try live.rpcJSON(RPCUpstreamTests.get("local-0"))
        #expect(found["result"]?["email"] == "c0@example.com")
        let gone = try live.rpcJSON(RPCUpstreamTests.get("local-9"))
        #expect(gone["error"]?["code"] == -31002)
        // A late update of the deleted customer does not bring it back.
        #expect(try live.postEvent(Events.event("late-9", object: Events.customer("local-9", updated: "2024-01-02T00:00:00Z")))?.status == 200)
        for index in 14..<18 {
            #expect(try live.postEvent(Events.event("e\(index)", object: Events.customer("local-\(index)")))?.status == 200)
        }
        #expect(try live.rpcJSON(RPCUpstreamTests.get("local-9"))["error"]?["code"] == -31002)
        // customer.ensure of the deleted, non-resident customer neither re-creates it nor asks Digital River.
        let ensure = #"{"jsonrpc":"2.0","method":"customer.ensure","params":{"id":"local-9","email":"x@example.com"},"id":2}"#
        #expect(try live.rpcJSON(ensure)["error"]?["code"] == -31002)
        #expect(upstream.count("GET /customers/{id}") == 0)
        #expect(upstream.count("POST /customers") == 0)

        // A customer only Digital River has is read through, and counted as such.
        #expect(try live.rpcJSON(RPCUpstreamTests.get("cust-000003"))["result"]?["id"] == "cust-000003")
        #expect(upstream.count("GET /customers/{id}") == 1)
        #expect(try live.store?.count ?? 99 <= 3)

        #expect(try metric(live, #"customer_cache_memory_misses_total{answered_by="store"}"#) == 3)
        #expect(try metric(live, #"customer_cache_memory_misses_total{answered_by="upstream"}"#) == 1)
        #expect(try metric(live, "customer_cache_memory_limit_customers") == 3)
        #expect(try metric(live, "customer_cache_resident_customers") ?? 99 <= 3)
        #expect(try metric(live, "customer_cache_memory_evictions_total") ?? 0 >= 15)
        #expect(try live.rpcJSON(RPCUpstreamTests.get("cust-000003"))["result"]?["id"] == "cust-000003")
        #expect(try metric(live, "customer_cache_memory_hits_total") == 1)
    }

    @Test("without a limit nothing changes: every customer stays in memory and nothing is evicted")
    func unboundedByDefault() throws {
        let upstream = try UpstreamSandbox()
        let live = try LiveService.withUpstream(upstream)
        defer { live.stop(); live.removeData() }
        for index in 0..<20 {
            #expect(try live.postEvent(Events.event("e\(index)", object: Events.customer("local-\(index)")))?.status == 200)
        }
        #expect(live.store?.count == 20)
        #expect(try metric(live, "customer_cache_memory_limit_customers") == 0)
        #expect(try metric(live, "customer_cache_memory_evictions_total") == 0)
        #expect(try live.rpcJSON(RPCUpstreamTests.get("local-0"))["result"]?["id"] == "local-0")
        #expect(try metric(live, "customer_cache_memory_hits_total") == 1)
    }
}
