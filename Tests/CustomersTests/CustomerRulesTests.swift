import Customers
import JSON
import Testing

@Suite("Event application rules (pure)")
struct CustomerRulesTests {
    func apply(_ json: JSONValue, to current: CustomerRecord?) throws -> Decision {
        CustomerRules.event(try Fixture.decoded(json), current: current)
    }

    func record(_ decision: Decision) throws -> CustomerRecord {
        guard case .write(let record, _) = decision else { throw RuleTestError.expectedWrite(decision) }
        return record
    }

    enum RuleTestError: Error { case expectedWrite(Decision) }

    @Test("customer.created for an unknown customer is applied")
    func createUnknown() throws {
        let decision = try apply(Fixture.event("e1", type: "customer.created", object: Fixture.customer()), to: nil)
        #expect(decision.outcome == .applied)
        #expect(try record(decision).state == .live)
    }

    @Test("a newer updatedTime wins and an older one is ignored, whatever the arrival order")
    func outOfOrder() throws {
        let older = Fixture.event("e1", object: Fixture.customer(updated: "2024-01-01T00:00:00Z", email: "old@example.com"))
        let newer = Fixture.event("e2", object: Fixture.customer(updated: "2024-01-02T00:00:00Z", email: "new@example.com"))
        let afterNewer = try record(try apply(newer, to: nil))
        #expect(try apply(older, to: afterNewer).outcome == .staleEvent)
        let afterOlder = try record(try apply(older, to: nil))
        let final = try record(try apply(newer, to: afterOlder))
        #expect(String(decoding: final.body, as: UTF8.self).contains("new@example.com"))
    }

    @Test("a never-updated customer (no updatedTime) fetched late still yields to its first update")
    func missingUpdatedTimeIsCreatedTime() throws {
        // Digital River's documented 201 has createdTime but no updatedTime; fetched 10 s after its creation by a
        // host whose clock runs ahead, it must not outrank an update made 5 s after creation.
        let fetched = try Customer(json: ["id": "cust-1", "createdTime": "2024-01-01T00:00:00Z", "email": "first@example.com"])
        let observedAt = try #require(Timestamp.microseconds(from: "2024-01-01T00:00:10Z"))
        let stored = try record(CustomerRules.snapshot(fetched, observedAt: observedAt, current: nil))
        #expect(stored.updatedTime == Timestamp.microseconds(from: "2024-01-01T00:00:00Z"))
        let update = Fixture.event("e2", created: "2024-01-01T00:00:06Z",
                                   object: Fixture.customer(updated: "2024-01-01T00:00:05Z", email: "second@example.com"))
        let decision = try apply(update, to: stored)
        #expect(decision.outcome == .applied)
        #expect(String(decoding: try record(decision).body, as: UTF8.self).contains("second@example.com"))
    }

    @Test("equal updatedTime with different content: the later event createdTime wins")
    func tieBrokenByEventTime() throws {
        let first = Fixture.event("e1", created: "2024-01-01T00:00:01Z", object: Fixture.customer(email: "first@example.com"))
        let second = Fixture.event("e2", created: "2024-01-01T00:00:02Z", object: Fixture.customer(email: "second@example.com"))
        let stored = try record(try apply(second, to: nil))
        #expect(try apply(first, to: stored).outcome == .staleEvent)
        let reverse = try record(try apply(first, to: nil))
        #expect(try apply(second, to: reverse).outcome == .applied)
    }

    @Test("same-second tie on both times with different content marks the entry stale and keeps it")
    func fullTieMarksStale() throws {
        let first = Fixture.event("e1", object: Fixture.customer(email: "first@example.com"))
        let second = Fixture.event("e2", object: Fixture.customer(email: "second@example.com"))
        let stored = try record(try apply(first, to: nil))
        let decision = try apply(second, to: stored)
        #expect(decision.outcome == .markedStale)
        let flagged = try record(decision)
        #expect(flagged.stale)
        #expect(flagged.body == stored.body)
    }

    @Test("identical content at the same version is unchanged")
    func identical() throws {
        let event = Fixture.event("e1", object: Fixture.customer())
        let stored = try record(try apply(event, to: nil))
        #expect(try apply(Fixture.event("e2", object: Fixture.customer()), to: stored).outcome == .unchanged)
    }

    @Test("delete then a late update does not resurrect the customer")
    func deleteThenLateUpdate() throws {
        let live = try record(try apply(Fixture.event("e1", object: Fixture.customer()), to: nil))
        let deleted = try record(try apply(Fixture.event("e2", type: "customer.deleted", created: "2024-01-03T00:00:00Z",
                                                        object: [:], previous: Fixture.customer()), to: live))
        #expect(deleted.state == .deleted)
        #expect(deleted.body.isEmpty)
        let late = Fixture.event("e3", object: Fixture.customer(updated: "2024-01-02T00:00:00Z"))
        #expect(try apply(late, to: deleted).outcome == .ignoredTombstone)
    }

    @Test("a delete for an unknown customer still leaves a tombstone against a late create")
    func deleteUnknown() throws {
        let tombstone = try record(try apply(Fixture.event("e1", type: "customer.deleted", created: "2024-01-03T00:00:00Z",
                                                          object: ["id": "cust-9"]), to: nil))
        let lateCreate = Fixture.event("e0", type: "customer.created", object: Fixture.customer("cust-9"))
        #expect(try apply(lateCreate, to: tombstone).outcome == .ignoredTombstone)
    }

    @Test("a customer re-created after its delete comes back")
    func recreatedAfterDelete() throws {
        let tombstone = try record(try apply(Fixture.event("e1", type: "customer.deleted", created: "2024-01-03T00:00:00Z",
                                                          object: ["id": "cust-1"]), to: nil))
        var object = Fixture.customer(updated: "2024-02-01T00:00:00Z")
        object["createdTime"] = "2024-02-01T00:00:00Z"
        #expect(try apply(Fixture.event("e2", type: "customer.created", object: object), to: tombstone).outcome == .applied)
    }

    @Test("customer.deleted takes the id from previousAttributes when data.object is empty")
    func deleteIdFromPrevious() throws {
        let event = try Fixture.decoded(Fixture.event("e1", type: "customer.deleted", object: [:], previous: ["id": "cust-7"]))
        #expect(event.customerID == "cust-7")
    }

    @Test("requestToBeForgotten purges PII and keeps only id, flag, liveMode and updatedTime")
    func forgetPurges() throws {
        let live = try record(try apply(Fixture.event("e1", object: Fixture.customer(extra: [
            ("shipping", ["name": "Jane", "address": ["country": "US"]]), ("metadata", ["k": "v"]),
            ("taxIdentifiers", [["id": "t1", "value": "GB123"]])])), to: nil))
        let forgotten = try record(try apply(Fixture.event("e2", object: Fixture.customer(updated: "2024-01-05T00:00:00Z",
                                                                                          extra: [("requestToBeForgotten", true)])), to: live))
        #expect(forgotten.state == .forgotten)
        let body = try JSONValue.parse(forgotten.body)
        #expect(Set(body.objectValue?.keys ?? []) == ["id", "requestToBeForgotten", "liveMode", "updatedTime"])
        let text = String(decoding: forgotten.body, as: UTF8.self)
        #expect(!text.contains("example.com") && !text.contains("Jane") && !text.contains("GB123"))
    }

    @Test("after a forget, no later event restores PII")
    func forgetThenLateUpdate() throws {
        let forgotten = try record(CustomerRules.forget(id: "cust-1", now: 1, current: nil))
        let newer = Fixture.event("e9", created: "2030-01-01T00:00:00Z", object: Fixture.customer(updated: "2030-01-01T00:00:00Z"))
        #expect(try apply(newer, to: forgotten).outcome == .ignoredTombstone)
        #expect(CustomerRules.snapshot(try Customer(json: Fixture.customer(updated: "2030-01-01T00:00:00Z")), observedAt: 0,
                                       current: forgotten).outcome == .ignoredTombstone)
    }

    @Test("sources are patched in place from customer.source events, and clientSecret is never kept")
    func sourcePatching() throws {
        let live = try record(try apply(Fixture.event("e1", object: Fixture.customer()), to: nil))
        let attached = try record(try apply(Fixture.event("e2", type: "customer.source.created", object: [
            "id": "src-1", "customerId": "cust-1", "type": "creditCard", "state": "chargeable", "clientSecret": "secret_x"]), to: live))
        let text = String(decoding: attached.body, as: UTF8.self)
        #expect(text.contains("src-1"))
        #expect(!text.contains("secret_x"))
        #expect(attached.updatedTime == live.updatedTime)
        let detached = try record(try apply(Fixture.event("e3", type: "customer.source.deleted", object: [
            "id": "src-1", "customerId": "cust-1"]), to: attached))
        #expect(!String(decoding: detached.body, as: UTF8.self).contains("src-1"))
    }

    @Test("tax identifiers are added from customer.tax_identifier.created")
    func taxIdentifier() throws {
        let live = try record(try apply(Fixture.event("e1", object: Fixture.customer()), to: nil))
        let patched = try record(try apply(Fixture.event("e2", type: "customer.tax_identifier.created", object: [
            "id": "tax-1", "customerId": "cust-1", "type": "uk", "value": "GB1"]), to: live))
        #expect(String(decoding: patched.body, as: UTF8.self).contains("tax-1"))
    }

    @Test("other customer.* sub-resource events mark the customer stale")
    func otherSubresource() throws {
        let live = try record(try apply(Fixture.event("e1", object: Fixture.customer()), to: nil))
        let decision = try apply(Fixture.event("e2", type: "customer.invoice_attribute.created", object: ["id": "ia-1", "customerId": "cust-1"]), to: live)
        #expect(decision.outcome == .markedStale)
        #expect(try record(decision).stale)
    }

    @Test("sub-resource events for an unknown customer are ignored")
    func subresourceUnknown() throws {
        let decision = try apply(Fixture.event("e1", type: "customer.source.created", object: ["id": "s", "customerId": "nobody"]), to: nil)
        #expect(decision.outcome == .ignoredUnknownCustomer)
    }

    @Test("non-customer events are ignored by type")
    func unhandled() throws {
        #expect(try apply(Fixture.event("e1", type: "order.created", object: ["id": "o1"]), to: nil).outcome == .ignoredType)
    }

    @Test("both digitalriverVersion spellings are accepted")
    func versionSpellings() throws {
        #expect(try Fixture.decoded(Fixture.event("e1", object: Fixture.customer())).apiVersion == "2021-12-13")
        #expect(try Fixture.decoded(Fixture.event("e1", object: Fixture.customer(), versionKey: "digitalRiverVersion")).apiVersion == "2021-12-13")
    }

    @Test("malformed events name the offending field", arguments: [
        (JSONValue.array([]), "event"),
        (["type": "customer.updated", "createdTime": "2024-01-01T00:00:00Z", "data": ["object": ["id": "c"]]], "id"),
        (["id": "e", "type": "customer.updated", "createdTime": "yesterday", "data": ["object": ["id": "c"]]], "createdTime"),
        (["id": "e", "type": "customer.updated", "createdTime": "2024-01-01T00:00:00Z", "data": ["object": ["id": "c", "enabled": "yes"]]], "data.object.enabled"),
        (["id": "e", "type": "customer.updated", "createdTime": "2024-01-01T00:00:00Z", "data": ["object": ["email": "x"]]], "data.object.id"),
        (["id": "e", "type": "customer.deleted", "createdTime": "2024-01-01T00:00:00Z", "data": ["object": [:]]], "data.object.id"),
        (["id": "e", "type": "customer.updated", "createdTime": "2024-01-01T00:00:00Z", "liveMode": "no", "data": ["object": ["id": "c"]]], "liveMode"),
        (["id": "e", "type": "customer.updated", "createdTime": "2024-01-01T00:00:00Z", "data": ["object": ["id": "c", "shipping": ["address": ["country": 7]]]]], "data.object.shipping.address.country"),
    ] as [(JSONValue, String)])
    func malformed(_ json: JSONValue, field: String) {
        #expect(throws: EventDecodingError.self) { try CustomerEvent(json: json) }
        do {
            _ = try CustomerEvent(json: json)
        } catch {
            #expect(error.field == field)
        }
    }
}

@Suite("Digital River timestamps")
struct TimestampTests {
    @Test("microsecond precision is kept and round-trips")
    func micro() throws {
        let value = try #require(Timestamp.microseconds(from: "2021-11-01T18:23:06.272054Z"))
        #expect(value == 1_635_790_986_272_054)
        #expect(Timestamp.string(fromMicroseconds: value) == "2021-11-01T18:23:06.272054Z")
    }

    @Test("offsets are normalised to UTC")
    func offsets() {
        #expect(Timestamp.microseconds(from: "2023-11-14T23:13:20+01:00") == 1_700_000_000_000_000)
        #expect(Timestamp.microseconds(from: "2023-11-14T22:13:20Z") == 1_700_000_000_000_000)
    }

    @Test("invalid shapes are refused", arguments: ["", "2023-11-14", "2023-11-14T22:13:20", "2023-13-01T00:00:00Z", "2023-11-14 22:13:20Z", "2023-11-14T22:13:20.Z", "2023-11-14T22:13:20Zjunk"])
    func invalid(_ text: String) {
        #expect(Timestamp.microseconds(from: text) == nil)
    }

    @Test("dates that do not exist and leap seconds are refused", arguments: [
        "2024-02-31T00:00:00Z", "2024-02-30T00:00:00Z", "2023-02-29T00:00:00Z", "1900-02-29T00:00:00Z",
        "2024-04-31T00:00:00Z", "2024-06-31T00:00:00Z", "2024-09-31T00:00:00Z", "2024-11-31T00:00:00Z",
        "2024-01-32T00:00:00Z", "2024-01-00T00:00:00Z", "2016-12-31T23:59:60Z", "2024-01-01T00:00:60.5Z",
    ])
    func nonexistent(_ text: String) {
        #expect(Timestamp.microseconds(from: text) == nil)
    }

    @Test("the last day of each month and 29 February of leap years are accepted", arguments: [
        "2024-02-29T00:00:00Z", "2000-02-29T00:00:00Z", "2023-02-28T23:59:59Z", "2024-04-30T00:00:00Z",
        "2024-01-31T00:00:00Z", "2024-12-31T23:59:59.999999Z",
    ])
    func lastDays(_ text: String) throws {
        let value = try #require(Timestamp.microseconds(from: text))
        #expect(Timestamp.microseconds(from: Timestamp.string(fromMicroseconds: value)) == value)
    }
}

@Suite("Events prepared for the store")
struct PreparedEventTests {
    @Test("dropping the JSON trees changes no decision", arguments: [
        Fixture.event("e1", object: Fixture.customer(extra: [("shipping", ["name": "Jane", "address": ["country": "US"]])])),
        Fixture.event("e2", type: "customer.source.created", object: ["id": "src-1", "customerId": "cust-1", "clientSecret": "x"]),
        Fixture.event("e3", type: "customer.deleted", object: [:], previous: ["id": "cust-1"]),
        Fixture.event("e4", object: Fixture.customer(updated: "2030-01-01T00:00:00Z", extra: [("requestToBeForgotten", true)])),
    ])
    func sameDecision(_ json: JSONValue) throws {
        let event = try Fixture.decoded(json)
        let prepared = event.preparedForStore()
        let stored = CustomerRules.event(try Fixture.decoded(Fixture.event("e0", object: Fixture.customer())), current: nil)
        guard case .write(let current, _) = stored else { Issue.record("seed not written"); return }
        #expect(CustomerRules.event(prepared, current: current) == CustomerRules.event(event, current: current))
        #expect(CustomerRules.event(prepared, current: nil) == CustomerRules.event(event, current: nil))
        #expect(prepared.previousAttributes == nil)
        #expect(prepared.customer?.object.isEmpty ?? true)
        #expect(prepared.customer?.encoded == event.customer?.encoded)
    }
}
