import Customers
import DigitalRiverSandbox
import Foundation
import JSON
import Logging
import Testing
import WebhookSignature

@Suite("Sandbox webhook delivery")
struct WebhookDeliveryTests {
    static let secret = "whsec_sandbox_test_secret"

    /// Configures webhooks to `receiver`, one delivery at a time so arrival order is change order.
    static func webhooks(to receiver: WebhookReceiver, backoff: Double = 0.05, attempts: Int = 8) -> (inout SandboxConfiguration) -> Void {
        { configuration in
            configuration.webhookURL = receiver.url
            configuration.webhookSecret = secret
            configuration.webhookConcurrency = 1
            configuration.webhookInitialBackoffSeconds = backoff
            configuration.webhookMaxAttempts = attempts
        }
    }

    @Test("create, update and delete arrive signed, verifiable, with the right types and previousAttributes")
    func lifecycleEvents() async throws {
        let receiver = try WebhookReceiver()
        defer { receiver.stop() }
        try await withSandbox(Self.webhooks(to: receiver)) { sandbox, client async throws in
            let created = try await client.post("/customers", .object(customerBody(id: "w1", extra: [("metadata", ["a": "1"])])))
            #expect(created.status == 201)
            let updated = try await client.post("/customers/w1", ["email": "new@example.com", "metadata": ["a": "", "b": "2"]])
            #expect(updated.status == 200)
            #expect(try await client.delete("/customers/w1").status == 204)
            #expect(await sandbox.waitForWebhookQueueToDrain(timeoutSeconds: 10))

            let events = receiver.accepted
            #expect(events.map(\.type) == ["customer.created", "customer.updated", "customer.deleted"])
            for event in events {
                try verifySignature(event, secret: Self.secret)
                #expect(event.contentType == "application/json")
                let json = try #require(event.json)
                #expect(UUID(uuidString: json["id"]?.stringValue ?? "") != nil)
                #expect(json["liveMode"] == false)
                #expect(json["digitalriverVersion"] == "2021-12-13")
                #expect(json["webhookIds"] == ["sandbox"])
                #expect(json["createdTime"]?.stringValue.flatMap(Timestamp.microseconds(from:)) != nil)
                // The cache's own event model accepts it.
                _ = try CustomerEvent(json: json)
            }
            #expect(Set(events.compactMap(\.eventID)).count == 3)

            let createdEvent = try #require(events[0].json)
            #expect(createdEvent["data"]?["object"] == created.json)
            // A creation changed no attribute: no previousAttributes, rather than an empty one.
            #expect(createdEvent["data"]?["previousAttributes"] == nil)

            let updatedEvent = try #require(events[1].json)
            #expect(updatedEvent["data"]?["object"] == updated.json)
            #expect(updatedEvent["data"]?["previousAttributes"] == ["email": "jane@example.com", "metadata": ["a": "1"]])

            let deletedEvent = try #require(events[2].json)
            #expect(deletedEvent["data"]?["object"] == [:])
            #expect(deletedEvent["data"]?["previousAttributes"] == updated.json)

            #expect(sandbox.webhookStatistics == WebhookStatistics(delivered: 3, failedAttempts: 0, abandoned: 0, pending: 0))
        }
    }

    @Test("a field that was absent shows as null in previousAttributes")
    func absentPreviousIsNull() async throws {
        let receiver = try WebhookReceiver()
        defer { receiver.stop() }
        try await withSandbox(Self.webhooks(to: receiver)) { sandbox, _ async throws in
            try sandbox.create(customerBody(id: "n"))
            try sandbox.update(id: "n", ["locale": "fr_FR", "metadata": ["k": "v"]])
            #expect(await sandbox.waitForWebhookQueueToDrain(timeoutSeconds: 10))
            let updated = try #require(receiver.accepted.last?.json)
            #expect(updated["data"]?["previousAttributes"] == ["locale": nil, "metadata": nil])
        }
    }

    @Test("requestToBeForgotten: true emits customer.updated carrying it")
    func requestToBeForgotten() async throws {
        let receiver = try WebhookReceiver()
        defer { receiver.stop() }
        try await withSandbox(Self.webhooks(to: receiver)) { sandbox, client async throws in
            try sandbox.create(customerBody(id: "forget-me"))
            let response = try await client.post("/customers/forget-me", ["requestToBeForgotten": true])
            #expect(response.json?["requestToBeForgotten"] == true)
            #expect(await sandbox.waitForWebhookQueueToDrain(timeoutSeconds: 10))
            let event = try #require(receiver.accepted.last)
            try verifySignature(event, secret: Self.secret)
            let json = try #require(event.json)
            #expect(json["type"] == "customer.updated")
            #expect(json["data"]?["object"]?["requestToBeForgotten"] == true)
            #expect(json["data"]?["previousAttributes"] == ["requestToBeForgotten": false])
            let decoded = try CustomerEvent(json: json)
            #expect(decoded.customer?.requestToBeForgotten == true)
            // The flag is filterable at once.
            let list = try await client.get("/customers?requestToBeForgotten=true")
            #expect(list.json?["data"]?[0]?["id"] == "forget-me")
        }
    }

    @Test("after two 503s the event is retried with a fresh timestamp and signature each time, then delivered")
    func retriesWithFreshSignatures() async throws {
        let receiver = try WebhookReceiver(script: [503, 503])
        defer { receiver.stop() }
        // A backoff of one second puts every attempt in a later second than the one before.
        try await withSandbox(Self.webhooks(to: receiver, backoff: 1.0)) { sandbox, _ async throws in
            try sandbox.create(customerBody(id: "retry"))
            #expect(await sandbox.waitForWebhookQueueToDrain(timeoutSeconds: 20))
            let attempts = receiver.received
            #expect(attempts.map(\.answeredStatus) == [503, 503, 200])
            #expect(Set(attempts.compactMap(\.eventID)).count == 1, "the same event each time")
            #expect(Set(attempts.map(\.body)).count == 1, "the same bytes each time")
            for attempt in attempts { try verifySignature(attempt, secret: Self.secret) }
            let timestamps = attempts.compactMap(\.signedAt)
            #expect(timestamps.count == 3)
            #expect(timestamps == timestamps.sorted() && Set(timestamps).count == 3, "fresh timestamp per attempt: \(timestamps)")
            #expect(Set(attempts.compactMap(\.signature)).count == 3)
            let stats = sandbox.webhookStats
            #expect(stats.delivered == 1 && stats.failedAttempts == 2 && stats.pending == 0)
        }
    }

    @Test("an event is abandoned after webhookMaxAttempts failures and counted")
    func abandonment() async throws {
        let receiver = try WebhookReceiver(defaultStatus: 500)
        defer { receiver.stop() }
        try await withSandbox(Self.webhooks(to: receiver, backoff: 0.01, attempts: 3)) { sandbox, _ async throws in
            try sandbox.create(customerBody(id: "doomed"))
            #expect(await sandbox.waitForWebhookQueueToDrain(timeoutSeconds: 10))
            #expect(receiver.received.count == 3)
            #expect(sandbox.webhookStatistics == WebhookStatistics(delivered: 0, failedAttempts: 3, abandoned: 1, pending: 0))
        }
    }

    @Test("a redirect counts as a failed attempt and is not followed")
    func redirectIsFailure() async throws {
        let receiver = try WebhookReceiver(script: [302])
        defer { receiver.stop() }
        try await withSandbox(Self.webhooks(to: receiver, backoff: 0.01)) { sandbox, _ async throws in
            try sandbox.create(customerBody(id: "moved"))
            #expect(await sandbox.waitForWebhookQueueToDrain(timeoutSeconds: 10))
            #expect(receiver.received.map(\.answeredStatus) == [302, 200])
            #expect(sandbox.webhookStats.failedAttempts == 1)
            #expect(sandbox.webhookStats.delivered == 1)
        }
    }

    @Test("an unreachable receiver is retried like an error status")
    func unreachableReceiver() async throws {
        let receiver = try WebhookReceiver()
        let url = receiver.url
        receiver.stop()
        try await withSandbox({ configuration in
            configuration.webhookURL = url
            configuration.webhookSecret = Self.secret
            configuration.webhookInitialBackoffSeconds = 0.01
            configuration.webhookMaxAttempts = 2
        }) { sandbox, _ async throws in
            try sandbox.create(customerBody(id: "nobody-home"))
            #expect(await sandbox.waitForWebhookQueueToDrain(timeoutSeconds: 10))
            #expect(sandbox.webhookStatistics.abandoned == 1)
            #expect(sandbox.webhookStatistics.failedAttempts == 2)
        }
    }

    @Test("many changes with concurrent delivery all arrive exactly once")
    func concurrentDelivery() async throws {
        let receiver = try WebhookReceiver()
        defer { receiver.stop() }
        try await withSandbox({ configuration in
            configuration.webhookURL = receiver.url
            configuration.webhookSecret = Self.secret
        }) { sandbox, _ async throws in
            for index in 0..<100 { try sandbox.create(customerBody(id: "bulk-\(index)")) }
            #expect(await sandbox.waitForWebhookQueueToDrain(timeoutSeconds: 20))
            let events = receiver.accepted
            #expect(events.count == 100)
            #expect(Set(events.compactMap { $0.json?["data"]?["object"]?["id"]?.stringValue }).count == 100)
            for event in events { try verifySignature(event, secret: Self.secret) }
        }
    }

    @Test("API answers do not wait for a webhook receiver that hangs")
    func deliveryIsOffTheRequestPath() async throws {
        let receiver = try WebhookReceiver(hold: true)
        defer { receiver.stop() }
        try await withSandbox({ configuration in
            configuration.webhookURL = receiver.url
            configuration.webhookTimeoutSeconds = 150
        }) { sandbox, client async throws in
            // Were delivery on the request path, each create would wait for the held receiver (up to 120 s) and
            // the client would give up after its own 10 s.
            for index in 0..<5 { #expect(try await client.post("/customers", .object(customerBody(id: "held-\(index)"))).status == 201) }
            #expect(sandbox.webhookStats.delivered == 0)
            #expect(sandbox.webhookStats.pending == 5)
            receiver.release()
            #expect(await sandbox.waitForWebhookQueueToDrain(timeoutSeconds: 20))
            #expect(sandbox.webhookStats.delivered == 5)
        }
    }

    @Test("logs never contain bodies, emails, the API key or the webhook secret")
    func logsStayClean() async throws {
        let receiver = try WebhookReceiver(script: [500])
        defer { receiver.stop() }
        let store = RecordingLogHandlerStore()
        let logger = Logger(label: "sandbox-test") { _ in RecordingLogHandler(store: store) }
        try await withSandbox(logger: logger, { configuration in
            Self.webhooks(to: receiver, backoff: 0.01)(&configuration)
            configuration.apiKey = "sk_test_very_secret_key"
            configuration.seed = 20
        }) { sandbox, client async throws in
            #expect(try await client.post("/customers", .object(customerBody(id: "log", email: "private.person@example.com"))).status == 201)
            #expect(try await client.post("/customers/log", ["metadata": ["note": "confidential-note"]]).status == 200)
            #expect(try await client.get("/customers?email=private.person%40example.com").status == 200)
            #expect(await sandbox.waitForWebhookQueueToDrain(timeoutSeconds: 10))
        }
        let lines = store.all
        #expect(!lines.isEmpty)
        for line in lines {
            #expect(!line.contains("@example."), "\(line)")
            #expect(!line.contains(Self.secret))
            #expect(!line.contains("sk_test_very_secret_key"))
            #expect(!line.contains("confidential-note"))
        }
        #expect(lines.contains { $0.contains("emulator") }, "the start-up line says it is an emulator")
    }
}
