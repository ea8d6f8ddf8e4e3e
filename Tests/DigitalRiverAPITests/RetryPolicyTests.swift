@testable import DigitalRiverAPI
import Testing

@Suite("Retry policy, Retry-After and backoff (pure)")
struct RetryPolicyTests {
    let policy = RetryPolicy(maxAttempts: 4, initialBackoffSeconds: 0.2, maxBackoffSeconds: 1, maxRetryAfterSeconds: 60)

    @Test("429 is always retryable; 5xx only when replay is safe; other statuses never")
    func statuses() {
        #expect(policy.mayRetry(status: 429, replay: .onlyIfNotProcessed))
        for status in [500, 502, 503, 504] {
            #expect(policy.mayRetry(status: status, replay: .always))
            #expect(!policy.mayRetry(status: status, replay: .onlyIfNotProcessed))
        }
        for status in [400, 401, 403, 404, 408, 409, 422, 501, 505] {
            #expect(!policy.mayRetry(status: status, replay: .always))
        }
    }

    @Test("a connection that never opened is always retryable; lost connections and timeouts only when replay is safe")
    func transportKinds() {
        #expect(policy.mayRetry(.connectionFailed, replay: .onlyIfNotProcessed))
        #expect(policy.mayRetry(.connectionLost, replay: .always))
        #expect(!policy.mayRetry(.connectionLost, replay: .onlyIfNotProcessed))
        #expect(policy.mayRetry(.timedOut, replay: .always))
        #expect(!policy.mayRetry(.timedOut, replay: .onlyIfNotProcessed))
        #expect(!policy.mayRetry(.cancelled, replay: .always))
        #expect(!policy.mayRetry(.other, replay: .always))
    }

    @Test("backoff ceilings double from the initial value and stop at the cap")
    func backoffCeilings() {
        #expect((1...6).map { policy.backoffCeiling(afterAttempt: $0) } == [0.2, 0.4, 0.8, 1, 1, 1])
        #expect(policy.backoffCeiling(afterAttempt: 10_000) == 1)
    }

    @Test("full jitter spans zero to the ceiling; Retry-After wins; attempts run out at maxAttempts")
    func decisions() {
        #expect(policy.decide(afterAttempt: 2, retryAfter: nil, unitRandom: 0) == .retry(afterSeconds: 0))
        #expect(policy.decide(afterAttempt: 2, retryAfter: nil, unitRandom: 1) == .retry(afterSeconds: 0.4))
        #expect(policy.decide(afterAttempt: 1, retryAfter: 2, unitRandom: 0) == .retry(afterSeconds: 2))
        #expect(policy.decide(afterAttempt: 1, retryAfter: 61, unitRandom: 0) == .retryAfterTooLong)
        #expect(policy.decide(afterAttempt: 4, retryAfter: 1, unitRandom: 0) == .exhausted)
        let single = RetryPolicy(maxAttempts: 0, initialBackoffSeconds: 1, maxBackoffSeconds: 1, maxRetryAfterSeconds: 1)
        #expect(single.decide(afterAttempt: 1, retryAfter: nil, unitRandom: 0.5) == .exhausted)
    }

    @Test("Retry-After: integer seconds, IMF-fixdate relative to now, garbage ignored")
    func retryAfterParsing() {
        // 1994-11-06T08:49:37Z is 784111777 seconds after the epoch.
        #expect(RetryPolicy.imfFixdateSeconds("Sun, 06 Nov 1994 08:49:37 GMT") == 784_111_777)
        #expect(RetryPolicy.retryAfterSeconds("2", now: 0) == 2)
        #expect(RetryPolicy.retryAfterSeconds(" 0 ", now: 0) == 0)
        #expect(RetryPolicy.retryAfterSeconds("Sun, 06 Nov 1994 08:49:37 GMT", now: 784_111_770) == 7)
        #expect(RetryPolicy.retryAfterSeconds("Sun, 06 Nov 1994 08:49:37 GMT", now: 784_111_800) == 0)
        #expect(RetryPolicy.retryAfterSeconds("Thu, 29 Feb 2024 00:00:00 GMT", now: 1_709_164_800 - 5) == 5)
        for garbage in ["", "-1", "1.5", "soon", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994",
                        "Sun, 06 Nov 1994 08:49:37 PST", "Sun, 32 Nov 1994 08:49:37 GMT"] {
            #expect(RetryPolicy.retryAfterSeconds(garbage, now: 0) == nil, "\(garbage)")
        }
        #expect(RetryPolicy.retryAfterSeconds("99999999999999999999999", now: 0) ?? 0 > 1e20)
    }
}

@Suite("Small pieces: encoding, key, error body, semaphore")
struct DigitalRiverPiecesTests {
    @Test("path segments escape everything but unreserved characters, dots included")
    func pathSegments() {
        #expect(PercentEncoding.pathSegment("cus_123-A~z") == "cus_123-A~z")
        #expect(PercentEncoding.pathSegment("a/b c") == "a%2Fb%20c")
        #expect(PercentEncoding.pathSegment("..") == "%2E%2E")
        #expect(PercentEncoding.pathSegment("ü") == "%C3%BC")
        #expect(PercentEncoding.queryComponent("2024-01-01T00:00:00+01:00") == "2024-01-01T00:00:00%2B01:00")
        #expect(PercentEncoding.queryComponent("a=b&c[d]#") == "a%3Db%26c%5Bd%5D%23")
    }

    @Test("the API key trims whitespace, refuses empty or control characters, and never prints")
    func apiKey() throws {
        let key = try #require(DigitalRiverAPIKey("  sk_live_abc123\n"))
        #expect(key.bearerHeaderValue == "Bearer sk_live_abc123")
        #expect(DigitalRiverAPIKey("") == nil)
        #expect(DigitalRiverAPIKey(" \n\t") == nil)
        #expect(DigitalRiverAPIKey("sk_a\r\nX-Injected: 1") == nil)
        #expect(DigitalRiverAPIKey("sk a") == nil)
        for rendering in ["\(key)", String(reflecting: key), String(describing: [key])] {
            #expect(!rendering.contains("sk_live_abc123"), "\(rendering)")
        }
        var dumped = ""
        dump(key, to: &dumped)
        #expect(!dumped.contains("sk_live_abc123"))
        let configuration = DigitalRiverClientConfiguration(apiKey: key)
        var dumpedConfiguration = ""
        dump(configuration, to: &dumpedConfiguration)
        #expect(!dumpedConfiguration.contains("sk_live_abc123"))
        #expect(!String(reflecting: configuration).contains("sk_live_abc123"))
        #expect(key.redacting("x sk_live_abc123 y") == "x <redacted> y")
    }

    @Test("error bodies are read tolerantly")
    func errorBodies() throws {
        let key = try #require(DigitalRiverAPIKey("k"))
        #expect(DigitalRiverErrorBody(parsing: [], redactingWith: key) == DigitalRiverErrorBody())
        #expect(DigitalRiverErrorBody(parsing: Array("{".utf8), redactingWith: key) == DigitalRiverErrorBody())
        #expect(DigitalRiverErrorBody(parsing: Array(#"{"type":"conflict","errors":{}}"#.utf8), redactingWith: key)
            == DigitalRiverErrorBody(type: "conflict"))
        let body = #"{"type":"bad_request","errors":[{"code":"missing_parameter","parameter":"email","message":"m"},{"code":7}]}"#
        #expect(DigitalRiverErrorBody(parsing: Array(body.utf8), redactingWith: key)
            == DigitalRiverErrorBody(type: "bad_request",
                                     errors: [DigitalRiverErrorDetail(code: "missing_parameter", parameter: "email", message: "m")]))
    }

    @Test("semaphore: a cancelled waiter leaves the queue and no permit is lost")
    func semaphoreCancellation() async throws {
        let semaphore = AsyncSemaphore(permits: 1)
        try await semaphore.acquire()
        let waiter = Task { try await semaphore.acquire() }
        while await semaphore.waiting == 0 { await Task.yield() }
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        #expect(await semaphore.waiting == 0)
        await semaphore.release()
        #expect(await semaphore.permitsAvailable == 1)
        // The permit still works for the next caller.
        try await semaphore.acquire()
        #expect(await semaphore.permitsAvailable == 0)
        await semaphore.release()
    }

    @Test("semaphore: waiters are served first in, first out")
    func semaphoreOrder() async throws {
        let semaphore = AsyncSemaphore(permits: 1)
        try await semaphore.acquire()
        let order = OrderRecorder()
        var tasks: [Task<Void, any Error>] = []
        for index in 0..<5 {
            tasks.append(Task {
                try await semaphore.acquire()
                await order.append(index)
                await semaphore.release()
            })
            while await semaphore.waiting < index + 1 { await Task.yield() }
        }
        await semaphore.release()
        for task in tasks { try await task.value }
        #expect(await order.values == [0, 1, 2, 3, 4])
    }
}

actor OrderRecorder {
    var values: [Int] = []
    func append(_ value: Int) { values.append(value) }
}
