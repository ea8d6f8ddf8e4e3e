import DigitalRiverSandbox
import Foundation
import JSON
import Testing

@Suite("Sandbox auth, rate limits and failure injection")
struct AccessAndFailureTests {
    @Test("with an API key, a missing or wrong Bearer token is 401 unauthorized")
    func apiKey() async throws {
        try await withSandbox({ $0.apiKey = "sk_test_sandbox" }) { _, client async throws in
            #expect(try await client.post("/customers", .object(customerBody(id: "k"))).status == 201)
            #expect(try await client.send("GET", "/customers/k", headers: ["Authorization": "bearer sk_test_sandbox"]).status == 200)

            var anonymous = client
            anonymous.apiKey = nil
            let missing = try await anonymous.get("/customers/k")
            #expect(missing.status == 401)
            #expect(missing.json?["type"] == "unauthorized")
            // Digital River's documented 401 body, exactly: no code, its one message.
            #expect(String(decoding: missing.body, as: UTF8.self) == #"{"type":"unauthorized","errors":[{"message":"An authorization error has occurred."}]}"#)
            #expect(missing.header("WWW-Authenticate") == "Bearer")

            var wrong = client
            wrong.apiKey = "sk_test_other"
            #expect(try await wrong.get("/customers").status == 401)
            #expect(try await anonymous.send("GET", "/customers", headers: ["Authorization": "Basic c2s6"]).status == 401)
            #expect(try await wrong.delete("/customers/k").status == 401)
            // Health checks need no key.
            #expect(try await anonymous.get("/healthz").status == 200)
        }
    }

    @Test("injected latency delays API answers")
    func latency() async throws {
        try await withSandbox { sandbox, client async throws in
            var failures = SandboxFailures()
            failures.latencyMilliseconds = 300
            sandbox.setFailures(failures)
            let clock = ContinuousClock()
            let started = clock.now
            #expect(try await client.get("/customers").status == 200)
            // Only a lower bound: a loaded machine can make any answer slower, never faster.
            #expect(clock.now - started >= .milliseconds(290))
        }
    }

    @Test("an injected 500 carries Digital River's error body")
    func serverError() async throws {
        try await withSandbox { sandbox, client async throws in
            var failures = SandboxFailures()
            failures.serverErrorRate = 1
            sandbox.setFailures(failures)
            let response = try await client.post("/customers", .object(customerBody(id: "e")))
            #expect(response.status == 500)
            #expect(response.json?["type"] == "internal_server_error")
            #expect(response.errors.map(\.code) == ["internal_server_error"])
            #expect(response.json?["errors"]?[0]?["message"]?.stringValue?.isEmpty == false)
            #expect(sandbox.customerCount == 0, "a failed request changes nothing")
            #expect(try await client.get("/healthz").status == 200)

            sandbox.setFailures(SandboxFailures())
            #expect(try await client.post("/customers", .object(customerBody(id: "e"))).status == 201)
            #expect(sandbox.requestCounts["POST /customers"] == 2, "injected failures are counted too")
        }
    }

    @Test("an injected 429 carries Retry-After and a too_many_requests body")
    func injectedRateLimit() async throws {
        try await withSandbox({ configuration in
            configuration.failures.rateLimitRate = 1
            configuration.failures.retryAfterSeconds = 7
        }) { sandbox, client async throws in
            let response = try await client.get("/customers")
            #expect(response.status == 429)
            #expect(response.header("Retry-After") == "7")
            #expect(response.json?["type"] == "too_many_requests")
            #expect(sandbox.failures.rateLimitRate == 1)
        }
    }

    @Test("an injected drop closes the connection without an answer")
    func droppedConnection() async throws {
        try await withSandbox { sandbox, client async throws in
            var failures = SandboxFailures()
            failures.dropConnectionRate = 1
            sandbox.setFailures(failures)
            await #expect(throws: (any Error).self) {
                _ = try await SandboxClient(baseURL: client.baseURL).get("/customers")
            }
            sandbox.setFailures(SandboxFailures())
            #expect(try await SandboxClient(baseURL: client.baseURL).get("/customers").status == 200)
            #expect(sandbox.requestCounts["GET /customers"] ?? 0 >= 2)
        }
    }

    @Test("with rateLimitPerSecond, requests beyond the bucket get 429 with Retry-After")
    func tokenBucket() async throws {
        try await withSandbox({ $0.rateLimitPerSecond = 3 }) { _, client async throws in
            var statuses: [Int] = []
            var retryAfter: String?
            for _ in 0..<6 {
                let response = try await client.get("/customers")
                statuses.append(response.status)
                if response.status == 429 { retryAfter = response.header("Retry-After") }
            }
            #expect(statuses.prefix(3).allSatisfy { $0 == 200 })
            #expect(statuses.contains(429))
            #expect(retryAfter.flatMap(Int.init) ?? 0 >= 1)
        }
    }

    @Test("an invalid configuration makes start() throw, naming the field")
    func invalidConfiguration() throws {
        var configuration = SandboxConfiguration(listen: try .init(parsing: "127.0.0.1:0"))
        configuration.webhookURL = "not a url"
        let sandbox = DigitalRiverSandbox(configuration: configuration, logger: quietLogger())
        #expect(throws: SandboxConfigurationError(field: "webhookURL", reason: "must be an absolute http or https URL")) {
            try sandbox.start()
        }
        configuration.webhookURL = nil
        configuration.failures.serverErrorRate = 1.5
        #expect(throws: SandboxConfigurationError.self) { try configuration.validate() }
    }

    @Test("the configuration's description redacts the API key and webhook secret")
    func redaction() throws {
        var configuration = SandboxConfiguration(listen: try .init(parsing: "127.0.0.1:0"))
        configuration.apiKey = "sk_live_secret_value"
        configuration.webhookSecret = "whsec_secret_value"
        configuration.webhookURL = "https://user:password@hooks.example.com/dr"
        let text = configuration.description
        #expect(!text.contains("secret_value"))
        #expect(!text.contains("password"))
        #expect(text.contains("hooks.example.com"))
    }
}
