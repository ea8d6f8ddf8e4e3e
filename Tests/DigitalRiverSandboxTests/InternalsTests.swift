@testable import DigitalRiverSandbox
import Customers
import JSON
import Testing
import Timekeeping

@Suite("Sandbox internals without sockets")
struct InternalsTests {
    @Test("list queries parse both time-filter encodings into inclusive microsecond bounds")
    func timeRanges() throws {
        let t = try #require(Timestamp.microseconds(from: "2024-01-01T00:00:00Z"))
        let exact = try CustomerListQuery("updatedTime=2024-01-01T00:00:00Z")
        #expect(exact.updatedTime.lower == t && exact.updatedTime.upper == t)
        let range = try CustomerListQuery("createdTime[gt]=2024-01-01T00:00:00Z&createdTime%5Blt%5D=2024-01-01T00:00:01Z")
        #expect(range.createdTime.lower == t + 1)
        #expect(range.createdTime.upper == t + 999_999)
        #expect(range.hasFilters)
        #expect(try !CustomerListQuery(nil).hasFilters)
        #expect(try CustomerListQuery("ids=a&ids=b%20c").ids == ["a", "b c"])
        #expect(try CustomerListQuery("email=a+b%40example.com").email == "a+b@example.com")
        #expect(throws: SandboxError.self) { try CustomerListQuery("email=%zz") }
    }

    @Test("the token bucket allows a burst of `rate`, then refills at `rate` per second")
    func tokenBucket() {
        var bucket = TokenBucket(rate: 2, capacity: 2, now: 0)
        #expect(bucket.take(now: 0) == nil)
        #expect(bucket.take(now: 0) == nil)
        #expect(bucket.take(now: 0) == 0.5)
        #expect(abs((bucket.take(now: 0.4) ?? 0) - 0.1) < 1e-9)
        #expect(bucket.take(now: 0.6) == nil)
        // A refusal takes nothing: the next token is there on time.
        #expect(bucket.take(now: 1.1) == nil)
    }

    @Test("reserving goes into debt that later reservations wait out too")
    func tokenBucketDebt() {
        var bucket = TokenBucket(rate: 10, capacity: 2, now: 0)
        #expect(bucket.reserve(2, now: 0) == 0)
        #expect(abs(bucket.reserve(1, now: 0) - 0.1) < 1e-9)
        #expect(abs(bucket.reserve(1, now: 0) - 0.2) < 1e-9)
        // Refill never exceeds the capacity, however long the bucket sat idle.
        _ = bucket.reserve(0, now: 1_000)
        #expect(bucket.tokens == 2)
    }

    @Test("sandbox times carry milliseconds, as Digital River's documented objects do")
    func timeFormat() {
        #expect(sandboxTimeString(1_700_000_000_000_000) == "2023-11-14T22:13:20.000Z")
        #expect(sandboxTimeString(1_700_000_000_632_999) == "2023-11-14T22:13:20.632Z")
        #expect(sandboxTimeString(1_700_000_000_100_000) == "2023-11-14T22:13:20.100Z")
    }

    @Test("events carry previousAttributes only when attributes changed")
    func previousAttributesOnlyWhenChanged() throws {
        let created = SandboxEvent(type: "customer.created", object: JSONObject([("id", "c")]), previousAttributes: JSONObject(),
                                   liveMode: false, createdTime: 1_700_000_000_000_000)
        #expect(try JSONValue.parse(created.body)["data"]?["previousAttributes"] == nil)
        let updated = SandboxEvent(type: "customer.updated", object: JSONObject([("id", "c")]),
                                   previousAttributes: JSONObject([("email", "old@example.com")]), liveMode: false, createdTime: 1_700_000_000_000_000)
        #expect(try JSONValue.parse(updated.body)["data"]?["previousAttributes"]?["email"] == "old@example.com")
    }

    @Test("the sandbox clock issues whole, strictly increasing milliseconds")
    func clockMilliseconds() {
        var clock = SandboxClock()
        let first = clock.next(), second = clock.next()
        #expect(first % 1_000 == 0 && second % 1_000 == 0)
        #expect(second > first)
        clock.advance(past: second + 1_500)
        #expect(clock.next() > second + 1_500)
    }

    @Test("webhook URLs with credentials are logged without them")
    func urlRedaction() {
        #expect(redactingUserInfo("https://u:p@host.example/x?y=1") == "https://redacted@host.example/x?y=1")
        #expect(redactingUserInfo("http://127.0.0.1:9/webhooks") == "http://127.0.0.1:9/webhooks")
    }
}
