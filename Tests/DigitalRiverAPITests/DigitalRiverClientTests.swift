import Customers
@testable import DigitalRiverAPI
import Foundation
import HTTP1
import JSON
import Sockets
import Testing

@Suite("Digital River client against a fake DR over real sockets")
struct DigitalRiverClientTests {
    // MARK: Retrieve

    @Test("retrieve: 200 returns the customer, and the request carries the documented headers")
    func retrieveFound() async throws {
        let harness = try Harness { request in DR.customerResponse(request.id ?? "?") }
        let customer = try #require(try await harness.client.retrieveCustomer(id: "cus_1"))
        #expect(customer.id == "cus_1")
        #expect(customer.object["email"]?.stringValue == "jane@example.com")
        let seen = try #require(harness.fake.requests.first)
        #expect(seen.method == "GET")
        #expect(seen.path == "/customers/cus_1")
        #expect(seen.headers.value("Authorization") == "Bearer \(Harness.secret)")
        #expect(seen.headers.value("Accept") == "application/json")
        #expect(seen.headers.value("User-Agent") == "customer-cache/1")
        #expect(seen.headers.value("Content-Type") == nil)
    }

    @Test("retrieve: 404 returns nil without retrying")
    func retrieveNotFound() async throws {
        let harness = try Harness { _ in DR.error(.notFound, type: "not_found", code: "not_found", parameter: "id") }
        let customer = try await harness.client.retrieveCustomer(id: "missing")
        #expect(customer == nil)
        #expect(harness.fake.requestCount == 1)
    }

    @Test("retrieve: an id with reserved characters arrives as exactly one path segment",
          arguments: ["a/b", "with space", "50%", "..", ".", "q?x=1#f", "ünï"])
    func retrieveEncodesID(id: String) async throws {
        let harness = try Harness { request in DR.customerResponse(request.id ?? "?") }
        let customer = try await harness.client.retrieveCustomer(id: id)
        #expect(customer?.id == id)
        #expect(harness.fake.requests.first?.id == id)
    }

    @Test("retrieve: an empty id is refused before anything is sent (it would address the list endpoint)")
    func retrieveEmptyID() async throws {
        let harness = try Harness { _ in DR.customerResponse("x") }
        let error = await drError { try await harness.client.retrieveCustomer(id: "") }
        #expect(error?.kind == .rejected)
        #expect(harness.fake.requestCount == 0)
    }

    @Test("retrieve: a body for another customer is an invalid response")
    func retrieveWrongCustomer() async throws {
        let harness = try Harness { _ in DR.customerResponse("someone_else") }
        let error = await drError { try await harness.client.retrieveCustomer(id: "cus_1") }
        #expect(error?.kind == .invalidResponse)
    }

    @Test("a 200 whose body is not JSON, or not a customer, is an invalid response and not retried",
          arguments: ["<html>oops</html>", "[]", #"{"id": 12}"#, ""])
    func garbageSuccessBody(body: String) async throws {
        let harness = try Harness { _ in .json(.ok, Array(body.utf8)) }
        let error = await drError { try await harness.client.retrieveCustomer(id: "cus_1") }
        #expect(error?.kind == .invalidResponse)
        #expect(error?.status == 200)
        #expect(harness.fake.requestCount == 1)
    }

    @Test("a redirect is not followed (it would carry the key elsewhere) and reads as an invalid response")
    func redirectNotFollowed() async throws {
        let harness = try Harness { request in
            request.path == "/customers/cus_1"
                ? HTTPResponse(status: DR.found, headers: HTTPHeaders([("Location", "/customers/other")]))
                : DR.customerResponse("other")
        }
        let error = await drError { try await harness.client.retrieveCustomer(id: "cus_1") }
        #expect(error?.kind == .invalidResponse)
        #expect(error?.status == 302)
        #expect(harness.fake.requestCount == 1)
    }

    // MARK: Errors and the key

    @Test("401 is unauthorized; the key appears in no error text and no log line, even when DR echoes it")
    func unauthorizedKeepsKeySecret() async throws {
        let harness = try Harness { request in
            let echoed = request.headers.value("Authorization") ?? ""
            return DR.error(.unauthorized, type: "unauthorized", code: "unauthorized",
                            message: "The key \(echoed) is not valid")
        }
        let error = try #require(await drError { try await harness.client.retrieveCustomer(id: "cus_1") })
        #expect(error.kind == .unauthorized)
        #expect(error.status == 401)
        #expect(error.type == "unauthorized")
        #expect(error.attempts == 1)
        #expect(!error.description.contains(Harness.secret))
        #expect(!error.message.contains(Harness.secret))
        #expect(!"\(error)".contains(Harness.secret))
        #expect(!String(reflecting: error).contains(Harness.secret))
        #expect(error.errors.allSatisfy { !$0.message.contains(Harness.secret) })
        #expect(error.errors.first?.message.contains("<redacted>") == true)
        #expect(harness.logs.all.allSatisfy { !$0.contains(Harness.secret) })
        #expect(!"\(harness.client.configuration)".contains(Harness.secret))
    }

    @Test("403 is unauthorized too")
    func forbidden() async throws {
        let harness = try Harness { _ in DR.error(.forbidden, type: "forbidden", code: "forbidden") }
        let error = await drError { try await harness.client.retrieveCustomer(id: "cus_1") }
        #expect(error?.kind == .unauthorized)
        #expect(error?.status == 403)
    }

    @Test("400 invalid_parameter is rejected with DR's type, code and parameter, and is not retried")
    func badRequest() async throws {
        let harness = try Harness { _ in
            DR.error(.badRequest, type: "bad_request", code: "invalid_parameter", parameter: "id",
                     message: "The id must be at most 40 characters.")
        }
        let error = try #require(await drError { try await harness.client.createCustomer(["id": "x"]) })
        #expect(error.kind == .rejected)
        #expect(error.status == 400)
        #expect(error.type == "bad_request")
        #expect(error.errors == [DigitalRiverErrorDetail(code: "invalid_parameter", parameter: "id",
                                                         message: "The id must be at most 40 characters.")])
        #expect(error.description.contains("invalid_parameter(id)"))
        // DR's free text may echo submitted values; it stays out of the loggable description.
        #expect(!error.description.contains("40 characters"))
        #expect(harness.fake.requestCount == 1)
    }

    @Test("a 4xx with a missing or garbled body still maps by status")
    func garbledErrorBody() async throws {
        let harness = try Harness { request in
            request.number == 1
                ? HTTPResponse(status: .badRequest, body: Array("<html>bad</html>".utf8))
                : .json(.badRequest, Array(#"{"type": 3, "errors": [{"parameter": "x"}, "junk", {"code": "c"}]}"#.utf8))
        }
        let first = try #require(await drError { try await harness.client.retrieveCustomer(id: "a") })
        #expect(first.kind == .rejected)
        #expect(first.type == nil)
        #expect(first.errors.isEmpty)
        let second = try #require(await drError { try await harness.client.retrieveCustomer(id: "a") })
        #expect(second.kind == .rejected)
        #expect(second.errors == [DigitalRiverErrorDetail(code: "c", parameter: nil, message: "")])
    }

    // MARK: Create and update

    @Test("create: POST /customers with a JSON body, 201 returns the customer")
    func create() async throws {
        let harness = try Harness { request in
            let body = try? JSONValue.parse(request.body)
            return DR.customerResponse(body?["id"]?.stringValue ?? "generated", status: DR.created)
        }
        let body: JSONObject = ["id": "cus_new", "email": "new@example.com", "locale": "en_US"]
        let customer = try await harness.client.createCustomer(body)
        #expect(customer.id == "cus_new")
        let seen = try #require(harness.fake.requests.first)
        #expect(seen.method == "POST")
        #expect(seen.path == "/customers")
        #expect(seen.headers.value("Content-Type") == "application/json")
        #expect(try JSONValue.parse(seen.body) == .object(body))
    }

    @Test("create: 409 conflict is rejected at once; after a lost first answer it is flagged as a probable replay")
    func createConflict() async throws {
        let plain = try Harness { _ in DR.error(DR.conflict, type: "conflict", code: "already_exists", parameter: "id") }
        let error = try #require(await drError { try await plain.client.createCustomer(["id": "cus_1"]) })
        #expect(error.kind == .rejected)
        #expect(error.status == 409)
        #expect(!error.isProbableReplayConflict)
        #expect(plain.fake.requestCount == 1)

        let replayed = try Harness { request in
            request.number == 1 ? .dropConnection
                : DR.error(DR.conflict, type: "conflict", code: "already_exists", parameter: "id")
        }
        let replay = try #require(await drError { try await replayed.client.createCustomer(["id": "cus_1"]) })
        #expect(replay.status == 409)
        #expect(replay.attempts == 2)
        #expect(replay.isProbableReplayConflict)
    }

    @Test("create without an id is not replayed after an ambiguous failure (DR would mint a second customer)")
    func createWithoutIDNotReplayed() async throws {
        let harness = try Harness { _ in DR.error(.serviceUnavailable, type: "service_unavailable", code: "unavailable") }
        let error = await drError { try await harness.client.createCustomer(["email": "a@example.com"]) }
        #expect(error?.kind == .unavailable)
        #expect(harness.fake.requestCount == 1)
    }

    @Test("create without an id is still retried after 429 (DR refused it before doing anything)")
    func createWithoutIDRetriedOn429() async throws {
        let harness = try Harness { request in
            request.number == 1
                ? DR.error(.tooManyRequests, type: "too_many_requests", code: "rate_limited",
                           headers: HTTPHeaders([("Retry-After", "1")]))
                : DR.customerResponse("generated", status: DR.created)
        }
        let customer = try await harness.client.createCustomer(["email": "a@example.com"])
        #expect(customer.id == "generated")
        #expect(harness.sleeps.sleeps == [1])
    }

    @Test("update: POST /customers/{id} with the changes, 200 returns the customer; a 5xx is retried")
    func update() async throws {
        let harness = try Harness { request in
            request.number == 1 ? DR.error(DR.gatewayTimeout, type: "gateway_timeout", code: "timeout")
                : DR.customerResponse(request.id ?? "?")
        }
        let customer = try await harness.client.updateCustomer(id: "cus_9", ["requestToBeForgotten": true])
        #expect(customer.id == "cus_9")
        let seen = harness.fake.requests
        #expect(seen.count == 2)
        #expect(seen.allSatisfy { $0.method == "POST" && $0.path == "/customers/cus_9" })
        #expect(try JSONValue.parse(seen[1].body) == ["requestToBeForgotten": true])
    }

    @Test("update of an unknown customer is notFound")
    func updateNotFound() async throws {
        let harness = try Harness { _ in DR.error(.notFound, type: "not_found", code: "not_found") }
        let error = await drError { try await harness.client.updateCustomer(id: "nobody", ["locale": "fr_FR"]) }
        #expect(error?.kind == .notFound)
    }

    // MARK: Retries

    @Test("500 then 200: succeeds on the second attempt after one backoff, logged at debug without id or key")
    func retryAfterServerError() async throws {
        let harness = try Harness { request in
            request.number == 1 ? DR.error(.internalServerError, type: "internal_server_error", code: "oops")
                : DR.customerResponse(request.id ?? "?")
        }
        let customer = try await harness.client.retrieveCustomer(id: "cus_77")
        #expect(customer?.id == "cus_77")
        #expect(harness.fake.requestCount == 2)
        #expect(harness.sleeps.sleeps.count == 1)
        #expect(harness.sleeps.sleeps.allSatisfy { $0 >= 0 && $0 <= 0.2 })
        let retryLines = harness.logs.all.filter { $0.contains("retrying") }
        #expect(retryLines.count == 1)
        #expect(retryLines.allSatisfy {
            $0.hasPrefix("debug") && $0.contains("dr_path=/customers/{id}") && $0.contains("dr_status=500")
                && $0.contains("attempt=1") && !$0.contains("cus_77") && !$0.contains(Harness.secret)
        })
    }

    @Test("429 with Retry-After: 2 sleeps at least 2 s, then succeeds")
    func retryAfterHeader() async throws {
        let harness = try Harness { request in
            request.number == 1
                ? DR.error(.tooManyRequests, type: "too_many_requests", code: "rate_limited",
                           headers: HTTPHeaders([("Retry-After", "2")]))
                : DR.customerResponse(request.id ?? "?")
        }
        let customer = try await harness.client.retrieveCustomer(id: "cus_1")
        #expect(customer?.id == "cus_1")
        #expect(harness.sleeps.sleeps.count == 1)
        #expect(harness.sleeps.sleeps.allSatisfy { $0 >= 2 })
    }

    @Test("429 on every attempt ends as rateLimited with the last Retry-After")
    func persistentRateLimit() async throws {
        let harness = try Harness { _ in
            DR.error(.tooManyRequests, type: "too_many_requests", code: "rate_limited",
                     headers: HTTPHeaders([("Retry-After", "1")]))
        }
        let error = try #require(await drError { try await harness.client.retrieveCustomer(id: "cus_1") })
        #expect(error.kind == .rateLimited)
        #expect(error.retryAfterSeconds == 1)
        #expect(error.attempts == 4)
        #expect(harness.fake.requestCount == 4)
    }

    @Test("a Retry-After longer than the client waits ends the call at once with the wait DR asked for")
    func retryAfterTooLong() async throws {
        let harness = try Harness { _ in
            DR.error(.tooManyRequests, type: "too_many_requests", code: "rate_limited",
                     headers: HTTPHeaders([("Retry-After", "3600")]))
        }
        let error = try #require(await drError { try await harness.client.retrieveCustomer(id: "cus_1") })
        #expect(error.kind == .rateLimited)
        #expect(error.retryAfterSeconds == 3600)
        #expect(harness.fake.requestCount == 1)
        #expect(harness.sleeps.sleeps.isEmpty)
    }

    @Test("persistent 503 is unavailable after exactly maxAttempts requests")
    func persistentUnavailable() async throws {
        let harness = try Harness(configure: { $0.maxAttempts = 4 }) { _ in
            DR.error(.serviceUnavailable, type: "service_unavailable", code: "unavailable")
        }
        let error = try #require(await drError { try await harness.client.retrieveCustomer(id: "cus_1") })
        #expect(error.kind == .unavailable)
        #expect(error.status == 503)
        #expect(error.attempts == 4)
        #expect(harness.fake.requestCount == 4)
        #expect(harness.sleeps.sleeps.count == 3)
    }

    @Test("connection refused is retried and ends as unavailable")
    func connectionRefused() async throws {
        // Bind a port, then close it: nothing listens there afterwards.
        let socket = try TCPSocket.listen(on: try SocketAddress(parsing: "127.0.0.1:0"), reusePort: false)
        let address = try socket.localAddress()
        socket.close()
        let sleeps = SleepRecorder()
        let logs = LogRecorder()
        let client = Harness.client(baseURL: "http://\(address)", configure: { $0.maxAttempts = 3 }, sleep: sleeps,
                                    logs: logs)
        let error = try #require(await drError { try await client.retrieveCustomer(id: "cus_1") })
        #expect(error.kind == .unavailable)
        #expect(error.status == nil)
        #expect(error.attempts == 3)
        #expect(sleeps.sleeps.count == 2)
        #expect(error.message.contains("connectionFailed"))
        #expect(logs.all.contains { $0.contains("dr_failure=connectionFailed") })
    }

    @Test("a dropped connection is retried")
    func droppedConnection() async throws {
        let harness = try Harness { request in
            request.number == 1 ? .dropConnection : DR.customerResponse(request.id ?? "?")
        }
        let customer = try await harness.client.retrieveCustomer(id: "cus_1")
        #expect(customer?.id == "cus_1")
        #expect(harness.fake.requestCount == 2)
    }

    @Test("a response slower than requestTimeoutSeconds times out, is retried, and ends as unavailable")
    func requestTimeout() async throws {
        let harness = try Harness(configure: {
            $0.requestTimeoutSeconds = 0.3
            $0.maxAttempts = 2
        }) { request in
            try? await Task.sleep(for: .milliseconds(1_000))
            return DR.customerResponse(request.id ?? "?")
        }
        let started = ContinuousClock.now
        let error = try #require(await drError { try await harness.client.retrieveCustomer(id: "cus_1") })
        let elapsed = ContinuousClock.now - started
        #expect(error.kind == .unavailable)
        #expect(error.attempts == 2)
        #expect(error.message.contains("timedOut"))
        #expect(harness.fake.requestCount == 2)
        // Two 0.3 s deadlines, not two 1 s responses (nor corelibs' whole-second rounding).
        #expect(elapsed < .milliseconds(1_500))
        #expect(elapsed >= .milliseconds(550))
    }

    @Test("real backoff (no injected sleep): two 503s, then success")
    func realBackoff() async throws {
        let harness = try Harness(configure: {
            $0.initialBackoffSeconds = 0.05
            $0.maxBackoffSeconds = 0.1
        }, realSleep: true) { request in
            request.number <= 2 ? DR.error(.serviceUnavailable, type: "service_unavailable", code: "unavailable")
                : DR.customerResponse(request.id ?? "?")
        }
        let started = ContinuousClock.now
        let customer = try await harness.client.retrieveCustomer(id: "cus_1")
        #expect(customer?.id == "cus_1")
        #expect(harness.fake.requestCount == 3)
        #expect(ContinuousClock.now - started < .seconds(2))
    }

    @Test("a cancelled call stops retrying and reports unavailable")
    func cancellation() async throws {
        let harness = try Harness(realSleep: true, { _ in
            DR.error(.tooManyRequests, type: "too_many_requests", code: "rate_limited",
                     headers: HTTPHeaders([("Retry-After", "30")]))
        })
        let client = harness.client
        let task = Task { await drError { try await client.retrieveCustomer(id: "cus_1") } }
        try await Task.sleep(for: .milliseconds(300))
        task.cancel()
        let error = try #require(await task.value as DigitalRiverError?)
        #expect(error.kind == .unavailable)
        #expect(error.message.contains("cancelled"))
        #expect(harness.fake.requestCount == 1)
    }

    // MARK: Listing

    @Test("list: pages follow the startingAfter cursor until hasMore is false")
    func listPaging() async throws {
        let pages: [String: (ids: [String], hasMore: Bool)] = [
            "": (["c1", "c2"], true), "c2": (["c3", "c4"], true), "c4": (["c5"], false),
        ]
        let harness = try Harness { request in
            let cursor = request.query?.split(separator: "&").first { $0.hasPrefix("startingAfter=") }
                .map { String($0.dropFirst("startingAfter=".count)) } ?? ""
            guard let page = pages[cursor] else { return DR.error(.badRequest, type: "bad_request", code: "x") }
            return DR.page(page.ids.map { DR.customer($0) }, hasMore: page.hasMore)
        }
        var collected: [String] = []
        var cursor: String?
        var pageCount = 0
        repeat {
            let page = try await harness.client.listCustomers(limit: 2, startingAfter: cursor)
            collected += page.customers.map(\.id)
            cursor = page.hasMore ? page.lastID : nil
            pageCount += 1
        } while cursor != nil && pageCount < 10
        #expect(collected == ["c1", "c2", "c3", "c4", "c5"])
        #expect(harness.fake.requests.map { $0.query ?? "" }
            == ["limit=2", "limit=2&startingAfter=c2", "limit=2&startingAfter=c4"])
        #expect(harness.fake.requests.allSatisfy { $0.method == "GET" && $0.path == "/customers" })
    }

    @Test("list: updatedSince reaches DR as the exact query of each filter style",
          arguments: [(UpdatedTimeFilterStyle.bracketed, "limit=100&updatedTime%5Bgte%5D=2024-03-01T10:00:00%2B01:00"),
                      (UpdatedTimeFilterStyle.plain, "limit=100&updatedTime=2024-03-01T10:00:00%2B01:00")])
    func updatedSinceStyles(style: UpdatedTimeFilterStyle, expectedQuery: String) async throws {
        let harness = try Harness(configure: { $0.updatedTimeFilterStyle = style }) { _ in DR.page([], hasMore: false) }
        let page = try await harness.client.listCustomers(updatedSince: "2024-03-01T10:00:00+01:00")
        #expect(page.customers.isEmpty)
        #expect(page.lastID == nil)
        #expect(harness.fake.requests.first?.query == expectedQuery)
    }

    @Test("list: ids are sent exploded and encoded; an empty ids filter asks nothing")
    func listByIDs() async throws {
        let harness = try Harness { _ in DR.page([DR.customer("a b"), DR.customer("c&d")], hasMore: false) }
        let page = try await harness.client.listCustomers(limit: 500, ids: ["a b", "c&d"])
        #expect(page.customers.map(\.id) == ["a b", "c&d"])
        #expect(harness.fake.requests.first?.query == "limit=100&ids=a%20b&ids=c%26d")
        let empty = try await harness.client.listCustomers(ids: [])
        #expect(empty.customers.isEmpty && !empty.hasMore)
        #expect(harness.fake.requestCount == 1)
    }

    @Test("list: a malformed updatedSince is refused before sending")
    func listBadTimestamp() async throws {
        let harness = try Harness { _ in DR.page([], hasMore: false) }
        let error = await drError { try await harness.client.listCustomers(updatedSince: "yesterday") }
        #expect(error?.kind == .rejected)
        #expect(harness.fake.requestCount == 0)
    }

    @Test("list: an invalid customer is skipped and counted, and the cursor still moves past it")
    func listSkipsInvalid() async throws {
        let broken: JSONValue = ["id": "bad1", "email": 42]
        let harness = try Harness { _ in
            DR.page([DR.customer("ok1"), "not an object", DR.customer("ok2"), broken], hasMore: true)
        }
        let page = try await harness.client.listCustomers()
        #expect(page.customers.map(\.id) == ["ok1", "ok2"])
        #expect(page.skippedInvalid == 2)
        #expect(page.skippedIDs == ["bad1"])
        #expect(page.hasMore)
        #expect(page.lastID == "bad1")
        let warnings = harness.logs.all.filter { $0.hasPrefix("warning") && $0.contains("skipped") }
        #expect(warnings.count == 2)
        #expect(warnings.contains { $0.contains("customer_id=bad1") && $0.contains("email") })
    }

    @Test("list: a page without hasMore, or with hasMore but no id to continue from, is an invalid response",
          arguments: [#"{"data": []}"#, #"{"hasMore": true, "data": [{"email": "x"}]}"#, #"{"hasMore": false}"#])
    func listMalformedPage(body: String) async throws {
        let harness = try Harness { _ in .json(.ok, Array(body.utf8)) }
        let error = await drError { try await harness.client.listCustomers() }
        #expect(error?.kind == .invalidResponse)
    }

    // MARK: Concurrency

    @Test("maxConcurrentRequests = 2 is never exceeded by 20 concurrent calls")
    func concurrencyLimit() async throws {
        let harness = try Harness(configure: { $0.maxConcurrentRequests = 2 }) { request in
            try? await Task.sleep(for: .milliseconds(40))
            return DR.customerResponse(request.id ?? "?")
        }
        let client = harness.client
        let ids = try await withThrowingTaskGroup(of: String?.self) { group in
            for index in 0..<20 {
                group.addTask { try await client.retrieveCustomer(id: "cus_\(index)")?.id }
            }
            var ids: [String] = []
            for try await id in group { if let id { ids.append(id) } }
            return ids
        }
        #expect(Set(ids) == Set((0..<20).map { "cus_\($0)" }))
        #expect(harness.fake.requestCount == 20)
        #expect(harness.fake.maxInFlight <= 2)
        #expect(harness.fake.maxInFlight == 2, "the limit admits two at a time, not one")
    }
}
