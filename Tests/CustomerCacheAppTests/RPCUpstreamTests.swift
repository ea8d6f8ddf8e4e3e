@testable import CustomerCacheApp
import DigitalRiverSandbox
import Foundation
import HTTPTestClient
import JSON
import Logging
import Sockets
import Testing

/// A sandbox (Digital River emulator) on a loopback port, with a key, torn down with the test.
final class UpstreamSandbox {
    let sandbox: DigitalRiverSandbox
    static let apiKey = "sk_test_sandbox_key_0123456789"

    init(seed: Int = 20, webhookURL: String? = nil, secret: String? = nil) throws {
        var configuration = SandboxConfiguration(listen: try SocketAddress(parsing: "127.0.0.1:0"))
        configuration.apiKey = Self.apiKey
        configuration.seed = seed
        configuration.webhookURL = webhookURL
        configuration.webhookSecret = secret
        var logger = Logger(label: "sandbox")
        logger.logLevel = .critical
        sandbox = DigitalRiverSandbox(configuration: configuration, logger: logger)
        try sandbox.start()
    }

    deinit {
        sandbox.shutdown()
        sandbox.waitUntilStopped()
    }

    func count(_ route: String) -> Int { sandbox.requestCounts[route] ?? 0 }

    func fail(serverErrors: Double = 0, rateLimits: Double = 0, retryAfter: Int = 1, latencyMilliseconds: Int = 0, drops: Double = 0) {
        var failures = SandboxFailures()
        failures.serverErrorRate = serverErrors
        failures.rateLimitRate = rateLimits
        failures.retryAfterSeconds = retryAfter
        failures.latencyMilliseconds = latencyMilliseconds
        failures.dropConnectionRate = drops
        sandbox.setFailures(failures)
    }
}

extension LiveService {
    /// A service whose upstream is `upstream` (a sandbox), with short upstream timeouts for failure tests.
    static func withUpstream(_ upstream: UpstreamSandbox, settings: [String: String] = [:]) throws -> LiveService {
        var all = ["upstream-url": upstream.sandbox.baseURL, "upstream-timeout-ms": "1500", "forget-retry-seconds": "1"]
        for (key, value) in settings { all[key] = value }
        return try LiveService(settings: all, environment: [AppConfiguration.webhookSecretsEnvironmentName: LiveService.secret,
                                                            AppConfiguration.apiKeyEnvironmentName: UpstreamSandbox.apiKey])
    }
}

@Suite("JSON-RPC against the Digital River sandbox", .serialized)
struct RPCUpstreamTests {
    static func get(_ id: String, consistency: String? = nil) -> String {
        let extra = consistency.map { #","consistency":"\#($0)""# } ?? ""
        return #"{"jsonrpc":"2.0","method":"customer.get","params":{"id":"\#(id)"\#(extra)},"id":1}"#
    }

    @Test("a miss reads through once, stores the customer, and later reads are served from memory")
    func readThrough() throws {
        let upstream = try UpstreamSandbox()
        let live = try LiveService.withUpstream(upstream)
        defer { live.stop(); live.removeData() }
        let first = try live.rpcJSON(Self.get("cust-000003"))
        #expect(first["result"]?["id"] == "cust-000003")
        #expect(live.store?.record(for: "cust-000003")?.state == .live)
        _ = try live.rpcJSON(Self.get("cust-000003"))
        #expect(upstream.count("GET /customers/{id}") == 1)
    }

    @Test("a 404 upstream is -31001 and is remembered: the next call does not ask again")
    func negativeCache() throws {
        let upstream = try UpstreamSandbox()
        let live = try LiveService.withUpstream(upstream)
        defer { live.stop(); live.removeData() }
        #expect(try live.rpcJSON(Self.get("ghost"))["error"]?["code"] == -31001)
        #expect(try live.rpcJSON(Self.get("ghost"))["error"]?["code"] == -31001)
        #expect(upstream.count("GET /customers/{id}") == 1)
    }

    @Test("consistency upstream forces a fresh read and picks up a change the cache missed")
    func forcedRead() throws {
        let upstream = try UpstreamSandbox()
        let live = try LiveService.withUpstream(upstream)
        defer { live.stop(); live.removeData() }
        _ = try live.rpcJSON(Self.get("cust-000001"))
        _ = try upstream.sandbox.update(id: "cust-000001", JSONObject([("email", "changed@example.com")]))
        #expect(try live.rpcJSON(Self.get("cust-000001"))["result"]?["email"] != "changed@example.com")
        #expect(try live.rpcJSON(Self.get("cust-000001", consistency: "upstream"))["result"]?["email"] == "changed@example.com")
        #expect(try live.rpcJSON(Self.get("cust-000001"))["result"]?["email"] == "changed@example.com")
    }

    @Test("while Digital River fails, cached customers are still served and misses are -31003")
    func upstreamDown() throws {
        let upstream = try UpstreamSandbox()
        let live = try LiveService.withUpstream(upstream)
        defer { live.stop(); live.removeData() }
        _ = try live.rpcJSON(Self.get("cust-000002"))
        upstream.fail(serverErrors: 1.0)
        #expect(try live.rpcJSON(Self.get("cust-000002"))["result"]?["id"] == "cust-000002")
        #expect(try live.rpcJSON(Self.get("cust-000002", consistency: "upstream"))["result"]?["id"] == "cust-000002")
        let miss = try live.rpcJSON(Self.get("cust-000004"))
        #expect(miss["error"]?["code"] == -31003)
        #expect(miss["error"]?["data"]?["reason"] == "unavailable")
    }

    @Test("429 with Retry-After is honoured and, if it persists, surfaces as -31006 with the delay")
    func rateLimited() throws {
        let upstream = try UpstreamSandbox()
        let live = try LiveService.withUpstream(upstream, settings: ["upstream-timeout-ms": "5000"])
        defer { live.stop(); live.removeData() }
        upstream.fail(rateLimits: 1.0, retryAfter: 1)
        let started = Date()
        let response = try live.rpcJSON(Self.get("cust-000005"))
        #expect(response["error"]?["code"] == -31006)
        #expect(response["error"]?["data"]?["retryAfterSeconds"] == 1)
        #expect(Date().timeIntervalSince(started) >= 2.0, "Retry-After must be waited out between attempts")
        upstream.fail()
        #expect(try live.rpcJSON(Self.get("cust-000005"))["result"]?["id"] == "cust-000005")
    }

    @Test("an upstream slower than the timeout gives -31003, and a closed port (connection refused) too")
    func timeoutsAndRefused() throws {
        let upstream = try UpstreamSandbox()
        let live = try LiveService.withUpstream(upstream, settings: ["upstream-timeout-ms": "300"])
        defer { live.stop(); live.removeData() }
        upstream.fail(latencyMilliseconds: 1200)
        #expect(try live.rpcJSON(Self.get("cust-000006"))["error"]?["code"] == -31003)
        upstream.fail()
        let closedPort = try LiveService(settings: ["upstream-url": "http://127.0.0.1:9", "upstream-timeout-ms": "500"],
                                         environment: [AppConfiguration.webhookSecretsEnvironmentName: LiveService.secret,
                                                       AppConfiguration.apiKeyEnvironmentName: UpstreamSandbox.apiKey])
        defer { closedPort.stop(); closedPort.removeData() }
        #expect(try closedPort.rpcJSON(Self.get("cust-000006"))["error"]?["code"] == -31003)
    }

    @Test("100 concurrent ensures of one new id make exactly one upstream create, all see the same customer, and only one is told created")
    func singleFlightEnsure() throws {
        let upstream = try UpstreamSandbox()
        // Latency keeps the single flight open long enough that many callers join it rather than find the record stored.
        upstream.fail(latencyMilliseconds: 300)
        let live = try LiveService.withUpstream(upstream)
        defer { live.stop(); live.removeData() }
        let address = live.rpc
        let body = #"{"jsonrpc":"2.0","method":"customer.ensure","params":{"id":"brand-new-1","email":"n@example.com","type":"individual"},"id":1}"#
        let results = onThreads(100) { _ -> (String, Bool?) in
            guard let client = try? RawClient(address) else { return ("connect-failed", nil) }
            let response = client.exchange(method: "POST", path: "/rpc", headers: [("Content-Type", "application/json")], body: Array(body.utf8))
            let result = response.flatMap { try? JSONValue.parse($0.body) }?["result"]
            return (result?["customer"]?["id"]?.stringValue ?? "error", result?["created"]?.boolValue)
        }
        #expect(results.allSatisfy { $0.0 == "brand-new-1" })
        #expect(results.filter { $0.1 == true }.count == 1)
        #expect(results.filter { $0.1 == false }.count == 99)
        #expect(upstream.count("POST /customers") == 1)
        #expect(upstream.sandbox.customer(id: "brand-new-1") != nil)
    }

    @Test("ensure of a customer that exists upstream returns it without creating or changing it")
    func ensureExisting() throws {
        let upstream = try UpstreamSandbox()
        let live = try LiveService.withUpstream(upstream)
        defer { live.stop(); live.removeData() }
        let before = upstream.sandbox.customer(id: "cust-000007")?["email"]
        let response = try live.rpcJSON(#"{"jsonrpc":"2.0","method":"customer.ensure","params":{"id":"cust-000007","email":"other@example.com"},"id":1}"#)
        #expect(response["result"]?["created"] == false)
        #expect(response["result"]?["customer"]?["email"] == before)
        #expect(upstream.count("POST /customers") == 0)
        #expect(upstream.count("POST /customers/{id}") == 0)
    }

    @Test("Digital River's own validation errors come back as -31004 with its code and parameter")
    func upstreamRejected() throws {
        let upstream = try UpstreamSandbox()
        let live = try LiveService.withUpstream(upstream)
        defer { live.stop(); live.removeData() }
        // Our validation passes (each date is well formed); the emulator refuses an end date before the start date.
        let response = try live.rpcJSON(#"{"jsonrpc":"2.0","method":"customer.ensure","params":{"id":"rejected-1","taxCertificate":{"companyName":"Acme","taxAuthority":"MN","startDate":"2025-01-01T00:00:00Z","endDate":"2024-01-01T00:00:00Z","fileId":"file-1"}},"id":1}"#)
        #expect(response["error"]?["code"] == -31004)
        #expect(response["error"]?["data"]?["status"] == 400)
        #expect(response["error"]?["data"]?["parameter"] == "taxCertificate.endDate")
    }

    @Test("forget while Digital River is down purges now, queues durably, and delivers after recovery")
    func forgetWhileDown() async throws {
        let upstream = try UpstreamSandbox()
        let live = try LiveService.withUpstream(upstream)
        defer { live.stop(); live.removeData() }
        _ = try live.rpcJSON(Self.get("cust-000008"))
        let email = upstream.sandbox.customer(id: "cust-000008")?["email"]?.stringValue ?? "?"
        upstream.fail(serverErrors: 1.0)
        let response = try live.rpcJSON(#"{"jsonrpc":"2.0","method":"customer.forget","params":{"id":"cust-000008"},"id":1}"#)
        #expect(response["result"]?["upstream"] == "queued")
        #expect(!live.storedText("cust-000008").contains(email))
        #expect(live.store?.queuedForgets == ["cust-000008"])
        let ready = try #require(RawClient(live.rpc).exchange(method: "GET", path: "/readyz"))
        #expect(ready.bodyText.contains("1 forget(s) waiting"))
        upstream.fail()
        var delivered = false
        for _ in 0..<100 where !delivered {
            try await Task.sleep(for: .milliseconds(100))
            delivered = live.store?.queuedForgets.isEmpty == true
        }
        #expect(delivered)
        #expect(upstream.sandbox.customer(id: "cust-000008")?["requestToBeForgotten"] == true)
        #expect(live.service.metrics.render().contains(#"customer_cache_forget_deliveries_total{outcome="delivered"} 1"#))
    }
}
