@testable import CustomerCacheApp
import DigitalRiverAPI
import Foundation
import HTTPTestClient
import JSON
import Logging
import Synchronization
import Testing

/// A Digital River whose answer to `POST /customers/{id}` is scripted per id and may change mid-test; counts the
/// requests per id.
final class ScriptedDigitalRiver: DigitalRiverTransport {
    typealias Script = @Sendable (String) -> Int
    private let state: Mutex<(script: Script, requests: [String: Int])>

    init(_ script: @escaping Script) { state = Mutex((script, [:])) }

    func answer(with script: @escaping Script) { state.withLock { $0.script = script } }

    func requests(_ id: String) -> Int { state.withLock { $0.requests[id] ?? 0 } }

    /// A DR error body whose free-text message carries PII, which must never reach logs or readiness.
    static let refusalBody = Array(#"{"type":"bad_request","errors":[{"code":"invalid_parameter","parameter":"requestToBeForgotten","message":"pii-in-message@example.com cannot be forgotten"}]}"#.utf8)

    func send(_ request: TransportRequest) async throws(TransportError) -> TransportResponse {
        let id = request.url.split(separator: "/").last.map(String.init) ?? ""
        let status = state.withLock { state in
            state.requests[id, default: 0] += 1
            return state.script(id)
        }
        switch status {
        case 200: return TransportResponse(status: 200, headers: [("Content-Type", "application/json")],
                                           body: Array(#"{"id":"\#(id)","requestToBeForgotten":true,"liveMode":false}"#.utf8))
        case 400..<500: return TransportResponse(status: status, headers: [("Content-Type", "application/json")], body: Self.refusalBody)
        default: return TransportResponse(status: status, body: Array(#"{"type":"internal_server_error","errors":[]}"#.utf8))
        }
    }

}

extension DigitalRiverTransport {
    /// A client over this scripted transport with quick, few retries.
    func client(maxAttempts: Int = 2) throws -> DigitalRiverClient {
        var configuration = DigitalRiverClientConfiguration(apiKey: try #require(DigitalRiverAPIKey("sk_test_scripted_0123456789")))
        configuration.baseURL = "http://dr.invalid"
        configuration.maxAttempts = maxAttempts
        configuration.initialBackoffSeconds = 0.01
        configuration.maxBackoffSeconds = 0.02
        var logger = Logger(label: "scripted")
        logger.logLevel = .critical
        return DigitalRiverClient(configuration: configuration, transport: self, logger: logger)
    }
}

@Suite("Forget delivery to Digital River: refusals and outages", .serialized)
struct ForgetDeliveryTests {
    static func forget(_ id: String) -> String { #"{"jsonrpc":"2.0","method":"customer.forget","params":{"id":"\#(id)"},"id":1}"# }

    @Test("a forget Digital River refuses for good is parked with its reason and never holds back the ones behind it",
          arguments: ServiceBackend.available)
    func refusalDoesNotBlockTheQueue(backend: ServiceBackend) throws {
        let recovered = Atomic<Bool>(false)
        let digitalRiver = ScriptedDigitalRiver { id in
            switch id {
            case "a-refused": 400
            case "c-flaky": 500
            default: recovered.load(ordering: .relaxed) ? 200 : 503
            }
        }
        let logs = LogCapture()
        let live = try LiveService(settings: ["forget-retry-seconds": "1"], logHandler: logs, backend: backend, upstream: try digitalRiver.client())
        defer { live.stop(); live.removeData() }

        let refused = try live.rpcJSON(Self.forget("a-refused"))
        #expect(refused["result"]?["upstream"] == "parked")
        #expect(refused["result"]?["forgotten"] == true)
        for id in ["b-later", "c-flaky", "d-good"] {
            #expect(try live.rpcJSON(Self.forget(id))["result"]?["upstream"] == "queued")
        }
        recovered.store(true, ordering: .relaxed)
        // "a-refused" and "c-flaky" sort (and were queued) first; the others still get through.
        #expect(eventually(within: 20) { live.store?.queuedForgets == ["a-refused", "c-flaky"] }, "\(live.store?.queuedForgets ?? [])")
        let queue = live.store?.forgetQueue ?? []
        #expect(queue.first { $0.id == "a-refused" }?.parked?.reason == "status 400 bad_request invalid_parameter(requestToBeForgotten)")
        #expect(queue.first { $0.id == "c-flaky" }?.parked == nil, "an outage must not park")

        // Parked: not retried on the following rounds (rarely: every 6 h, at restart, or on a new customer.forget).
        let refusedAttempts = digitalRiver.requests("a-refused")
        Thread.sleep(forTimeInterval: 3)
        #expect(digitalRiver.requests("a-refused") == refusedAttempts)

        let ready = try #require(try RawClient(live.rpc).exchange(method: "GET", path: "/readyz"))
        #expect(ready.status == 200)
        #expect(ready.bodyText.contains("1 parked"))
        #expect(ready.bodyText.contains("status 400 bad_request"))
        let metrics = live.service.metrics.render()
        #expect(metrics.contains(#"customer_cache_forget_deliveries_total{outcome="refused"} "#))
        #expect(metrics.contains(#"customer_cache_forget_refusals_total{status="400"} "#))
        #expect(metrics.contains("customer_cache_forget_parked 1"))
        #expect(logs.text.contains("forget refused by Digital River"))
        #expect(!logs.text.contains("pii-in-message") && !ready.bodyText.contains("pii-in-message"))

        // Six hours later Digital River accepts it: the rare retry delivers it.
        digitalRiver.answer { id in id == "c-flaky" ? 500 : 200 }
        live.clock.advance(seconds: 6 * 3600 + 1)
        #expect(eventually(within: 20) { live.store?.queuedForgets == ["c-flaky"] })
    }

    @Test("calling customer.forget again retries a parked forget at once", arguments: ServiceBackend.available)
    func forgetAgainRetriesParked(backend: ServiceBackend) throws {
        let digitalRiver = ScriptedDigitalRiver { _ in 401 }
        let live = try LiveService(settings: ["forget-retry-seconds": "60"], backend: backend, upstream: try digitalRiver.client())
        defer { live.stop(); live.removeData() }
        #expect(try live.rpcJSON(Self.forget("p-1"))["result"]?["upstream"] == "parked")
        #expect(live.store?.forgetQueue.first?.parked?.reason.hasPrefix("status 401") == true)
        digitalRiver.answer { _ in 200 }
        #expect(try live.rpcJSON(Self.forget("p-1"))["result"]?["upstream"] == "delivered")
        #expect(live.store?.queuedForgets.isEmpty == true)
    }

    @Test("only a 4xx other than 404, 408 and 429 counts as a permanent refusal")
    func classification() {
        func refusal(_ kind: DigitalRiverError.Kind, _ status: Int?) -> String? {
            ForgetDelivery.permanentRefusal(DigitalRiverError(kind: kind, status: status, message: "test"))?.status
        }
        #expect(refusal(.rejected, 400) == "400")
        #expect(refusal(.unauthorized, 401) == "401")
        #expect(refusal(.unauthorized, 403) == "403")
        #expect(refusal(.rejected, 409) == "409")
        #expect(refusal(.rejected, 422) == "422")
        #expect(refusal(.rejected, 408) == nil)
        #expect(refusal(.rateLimited, 429) == nil)
        #expect(refusal(.unavailable, 500) == nil)
        #expect(refusal(.unavailable, 503) == nil)
        #expect(refusal(.unavailable, nil) == nil)
        #expect(refusal(.invalidResponse, 200) == nil)
    }
}
