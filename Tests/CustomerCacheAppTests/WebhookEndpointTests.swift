@testable import CustomerCacheApp
import Customers
import Foundation
import HTTPTestClient
import JSON
import Testing
import WebhookSignature

@Suite("Webhook endpoint over real sockets")
struct WebhookEndpointTests {
    @Test("a signed customer.created is applied and acknowledged with 200 only once stored")
    func applied() throws {
        let live = try LiveService()
        defer { live.stop(); live.removeData() }
        let response = try #require(try live.postEvent(Events.event("e1", type: "customer.created", object: Events.customer("c1"))))
        #expect(response.status == 200)
        #expect(response.bodyText == #"{"status":"applied"}"#)
        // The ack implies durability: the record is already in the store that answered.
        #expect(live.store?.record(for: "c1")?.state == .live)
    }

    @Test("the reference's worked example verifies over HTTP")
    func referenceExample() throws {
        let clock = TestClock(seconds: 1_700_000_000)
        let live = try LiveService(clock: clock, environment: [AppConfiguration.webhookSecretsEnvironmentName: "demo_signing_secret_123"])
        defer { live.stop(); live.removeData() }
        let body = Array(#"{"id":"3f1c9d2e-5b7a-4c1e-9f00-0000000000a1","type":"customer.updated","data":{"object":{"id":"cust-0001","email":"jane@example.com","enabled":true,"requestToBeForgotten":true,"liveMode":false},"previousAttributes":{"requestToBeForgotten":false}},"liveMode":false,"createdTime":"2023-11-14T22:13:19.123456Z","digitalriverVersion":"2021-12-13"}"#.utf8)
        let response = try #require(try live.postEvent(body, header: "1700000000, /ewjfHeENnj4mvlBSq/gdpooJYKx8se+NUq/J29/Isk="))
        #expect(response.status == 200)
        #expect(response.bodyText == #"{"status":"forgotten"}"#)
    }

    @Test("signature failures get 401 with a generic body", arguments: [
        ("missing header", Optional<String>.none),
        ("garbage header", "not a signature"),
        ("wrong secret", WebhookSigner.header(secret: "wrong", timestamp: 1_700_000_000, body: Events.event("e1", object: Events.customer("c1")))),
        ("tampered timestamp", "1700000001, " + (WebhookSigner.header(secret: LiveService.secret, timestamp: 1_700_000_000,
                                                                            body: Events.event("e1", object: Events.customer("c1"))).split(separator: " ").last.map(String.init) ?? "")),
    ] as [(String, String?)])
    func rejected(_ name: String, _ header: String?) throws {
        let live = try LiveService()
        defer { live.stop(); live.removeData() }
        let response = try #require(try live.postEvent(Events.event("e1", object: Events.customer("c1")), header: .some(header)))
        #expect(response.status == 401, "\(name)")
        #expect(response.bodyText == #"{"error":"unauthorized","message":"signature verification failed"}"#)
        #expect(live.store?.record(for: "c1") == nil)
    }

    @Test("a tampered body is rejected")
    func tamperedBody() throws {
        let live = try LiveService()
        defer { live.stop(); live.removeData() }
        let signed = Events.event("e1", object: Events.customer("c1"))
        let header = WebhookSigner.header(secret: LiveService.secret, timestamp: live.clock.seconds, body: signed)
        var tampered = signed
        tampered[tampered.count - 3] ^= 0x01
        #expect(try live.postEvent(tampered, header: .some(header))?.status == 401)
    }

    @Test("the previous secret is accepted during rotation")
    func rotation() throws {
        let live = try LiveService()
        defer { live.stop(); live.removeData() }
        #expect(try live.postEvent(Events.event("e1", object: Events.customer("c1")), secret: LiveService.oldSecret)?.status == 200)
    }

    @Test("an expired previous secret is refused")
    func expiredSecret() throws {
        let clock = TestClock(seconds: 1_700_000_000)
        let live = try LiveService(clock: clock, environment: [AppConfiguration.webhookSecretsEnvironmentName: "\(LiveService.secret),\(LiveService.oldSecret)@1699999999"])
        defer { live.stop(); live.removeData() }
        #expect(try live.postEvent(Events.event("e1", object: Events.customer("c1")), secret: LiveService.oldSecret)?.status == 401)
        #expect(try live.postEvent(Events.event("e2", object: Events.customer("c1")), secret: LiveService.secret)?.status == 200)
    }

    @Test("timestamps outside the tolerance are refused in both directions")
    func tolerance() throws {
        let live = try LiveService(settings: ["signature-tolerance-seconds": "300"])
        defer { live.stop(); live.removeData() }
        let body = Events.event("e1", object: Events.customer("c1"))
        #expect(try live.postEvent(body, timestamp: live.clock.seconds - 301)?.status == 401)
        #expect(try live.postEvent(body, timestamp: live.clock.seconds + 301)?.status == 401)
        #expect(try live.postEvent(body, timestamp: live.clock.seconds - 299)?.status == 200)
    }

    @Test("a well-signed but malformed event gets 400 naming the field")
    func malformed() throws {
        let live = try LiveService()
        defer { live.stop(); live.removeData() }
        let notJSON = try #require(try live.postEvent(Array("{not json".utf8)))
        #expect(notJSON.status == 400)
        let badField = try #require(try live.postEvent(Array(#"{"id":"e1","type":"customer.updated","createdTime":"2024-01-01T00:00:00Z","data":{"object":{"id":"c1","enabled":"yes"}}}"#.utf8)))
        #expect(badField.status == 400)
        #expect(badField.bodyText.contains("data.object.enabled"))
    }

    @Test("events of the other mode get 400 and are not applied")
    func wrongMode() throws {
        let live = try LiveService()
        defer { live.stop(); live.removeData() }
        let response = try #require(try live.postEvent(Events.event("e1", object: Events.customer("c1"), liveMode: true)))
        #expect(response.status == 400)
        #expect(response.bodyText.contains("wrong_mode"))
        #expect(live.store?.record(for: "c1") == nil)
        #expect(live.service.metrics.render().contains(#"customer_cache_webhook_events_total{outcome="wrong_mode"} 1"#))
    }

    @Test("every delivery counts once in customer_cache_webhook_events_total, and all its series share one label set")
    func outcomesSumToDeliveries() throws {
        let live = try LiveService()
        defer { live.stop(); live.removeData() }
        #expect(try live.postEvent(Events.event("e1", object: Events.customer("c1")))?.status == 200)
        #expect(try live.postEvent(Events.event("e2", object: Events.customer("c2")), secret: "wrong-secret-entirely")?.status == 401)
        let series = live.service.metrics.render().split(separator: "\n").filter { $0.hasPrefix("customer_cache_webhook_events_total{") }
        let total = series.compactMap { Double($0.split(separator: " ").last ?? "") }.reduce(0, +)
        #expect(total == 2)
        #expect(series.allSatisfy { !$0.contains("reason=") && $0.contains("outcome=") })
        let text = live.service.metrics.render()
        #expect(text.contains("customer_cache_webhook_signatures_verified_total 1"))
        #expect(text.contains(#"customer_cache_webhook_events_total{outcome="bad_signature"} 1"#))
    }

    @Test("event types the service does not handle get 200 and are counted")
    func ignoredType() throws {
        let live = try LiveService()
        defer { live.stop(); live.removeData() }
        let response = try #require(try live.postEvent(Events.event("e1", type: "order.accepted", object: #"{"id":"o1"}"#)))
        #expect(response.status == 200)
        #expect(response.bodyText.contains("ignored_type"))
        #expect(live.service.metrics.render().contains(#"customer_cache_webhook_events_total{outcome="ignored_type"} 1"#))
    }

    @Test("delete then a late update over HTTP: the customer stays deleted")
    func deleteThenLateUpdate() throws {
        let live = try LiveService()
        defer { live.stop(); live.removeData() }
        #expect(try live.postEvent(Events.event("e1", object: Events.customer("c1")))?.status == 200)
        #expect(try live.postEvent(Events.event("e2", type: "customer.deleted", object: "{}", created: "2024-01-05T00:00:00Z")
            .replacingObject(with: #"{},"previousAttributes":{"id":"c1"}"#))?.bodyText == #"{"status":"deleted"}"#)
        let late = try #require(try live.postEvent(Events.event("e3", object: Events.customer("c1", updated: "2024-01-03T00:00:00Z"))))
        #expect(late.status == 200)
        #expect(late.bodyText == #"{"status":"ignored_tombstone"}"#)
        #expect(live.store?.record(for: "c1")?.state == .deleted)
    }

    @Test("forget then a replayed older update never restores PII")
    func forgetThenLateUpdate() throws {
        let live = try LiveService()
        defer { live.stop(); live.removeData() }
        #expect(try live.postEvent(Events.event("e1", object: Events.customer("c1")))?.status == 200)
        #expect(try live.postEvent(Events.event("e2", object: Events.customer("c1", updated: "2024-01-02T00:00:00Z", forgotten: true)))?.bodyText
                == #"{"status":"forgotten"}"#)
        #expect(try live.postEvent(Events.event("e3", object: Events.customer("c1", updated: "2024-01-03T00:00:00Z")))?.bodyText
                == #"{"status":"ignored_tombstone"}"#)
        let body = String(decoding: live.store?.record(for: "c1")?.body ?? [], as: UTF8.self)
        #expect(!body.contains("jane@example.com"))
        #expect(!body.contains("Jane Doe"))
    }

    @Test("a duplicate storm from 50 concurrent senders is applied exactly once per event id")
    func duplicateStorm() throws {
        let live = try LiveService()
        defer { live.stop(); live.removeData() }
        let events = (0..<10).map { Events.event("storm-\($0)", object: Events.customer("c\($0)")) }
        let address = live.webhook
        let secret = LiveService.secret
        let now = live.clock.seconds
        let statuses = onThreads(50) { _ -> [String] in
            guard let client = try? RawClient(address) else { return ["connect-failed"] }
            return events.map { body in
                let header = WebhookSigner.header(secret: secret, timestamp: now, body: body)
                return client.exchange(method: "POST", path: "/webhooks/digitalriver",
                                       headers: [("DigitalRiver-Signature", header)], body: body)?.bodyText ?? "none"
            }
        }.flatMap { $0 }
        #expect(statuses.filter { $0 == #"{"status":"applied"}"# }.count == 10)
        #expect(statuses.filter { $0 == #"{"status":"duplicate"}"# }.count == 490)
        #expect(live.store?.count == 10)
    }

    @Test("state survives a restart: apply, stop, start on the same directory, read back")
    func restart() throws {
        let directory = NSTemporaryDirectory() + "cc-restart-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        do {
            let first = try LiveService(dataDirectory: directory)
            #expect(try first.postEvent(Events.event("e1", object: Events.customer("c1")))?.status == 200)
            first.stop()
        }
        let second = try LiveService(dataDirectory: directory)
        defer { second.stop() }
        #expect(second.store?.record(for: "c1")?.state == .live)
        #expect(try second.postEvent(Events.event("e1", object: Events.customer("c1")))?.bodyText == #"{"status":"duplicate"}"#)
    }

    @Test("a closed store answers 503 so Digital River retries, and nothing is acknowledged")
    func storeUnavailable() throws {
        let live = try LiveService()
        defer { live.stop(); live.removeData() }
        live.store?.close()
        let response = try #require(try live.postEvent(Events.event("e1", object: Events.customer("c1"))))
        #expect(response.status == 503)
        #expect(response.header("Retry-After") != nil)
        let ready = try #require(RawClient(live.rpc).exchange(method: "GET", path: "/readyz"))
        #expect(ready.status == 503)
    }

    @Test("logs never carry PII or secrets, even at trace level")
    func noPIIInLogs() throws {
        // Covered structurally: the endpoint logs only event ids, types, outcome codes and reasons. This test
        // drives every branch with a capturing handler and checks the captured text.
        let capture = LogCapture()
        let live = try LiveService(logHandler: capture)
        defer { live.stop(); live.removeData() }
        _ = try live.postEvent(Events.event("e1", object: Events.customer("c1", email: "secret-person@example.com")))
        _ = try live.postEvent(Events.event("e2", object: Events.customer("c1")), secret: "wrong")
        _ = try live.postEvent(Array(#"{"id":"e3","type":"customer.updated","createdTime":"x","data":{"object":{"id":"c1","email":"secret-person@example.com"}}}"#.utf8))
        let text = capture.text
        #expect(!text.isEmpty)
        #expect(!text.contains("secret-person"))
        #expect(!text.contains(LiveService.secret))
        #expect(!text.contains("Jane Doe"))
    }
}

extension Array where Element == UInt8 {
    /// Swaps the `data.object` JSON of an event body built by `Events.event` for raw text (to add previousAttributes).
    func replacingObject(with replacement: String) -> [UInt8] {
        let text = String(decoding: self, as: UTF8.self)
        guard let range = text.range(of: #""object":{}"#) else { return self }
        return Array(text.replacingCharacters(in: range, with: #""object":"# + replacement).utf8)
    }
}
