@testable import Customers
import Foundation
import HTTPTestClient
import JSON
import Testing

@Suite("Resident customers: SIEVE eviction (pure)")
struct ResidentCustomersTests {
    private func record(_ id: String) -> CustomerRecord {
        CustomerRecord(id: id, state: .live, updatedTime: 1, eventTime: 1, stale: false, body: Array(id.utf8))
    }

    @Test("never more than the limit; each admission beyond it evicts one and counts it")
    func limit() {
        var memory = ResidentCustomers(limit: 3)
        for index in 0..<10 { memory.put(record("c\(index)")) }
        #expect(memory.count == 3)
        #expect(memory.evictions == 7)
        // Without hits SIEVE is FIFO: the newest three stay.
        #expect(Set(memory.records.map(\.id)) == ["c7", "c8", "c9"])
    }

    @Test("a visited entry survives the hand's first pass; an unvisited one is evicted")
    func visitedSurvives() {
        var memory = ResidentCustomers(limit: 3)
        for id in ["a", "b", "c"] { memory.put(record(id)) }
        #expect(memory.record(for: "a") != nil)
        memory.put(record("d"))
        #expect(Set(memory.records.map(\.id)) == ["a", "c", "d"])
        // The hand cleared `a`'s bit, evicted `b` and rests on `c`; it goes on towards the newest before it wraps
        // around to `a` again.
        memory.put(record("e"))
        #expect(Set(memory.records.map(\.id)) == ["a", "d", "e"])
        memory.put(record("f"))
        #expect(Set(memory.records.map(\.id)) == ["a", "e", "f"])
        memory.put(record("g"))
        memory.put(record("h"))
        #expect(Set(memory.records.map(\.id)) == ["a", "g", "h"])
        #expect(memory.evictions == 5)
    }

    @Test("replacing a resident record evicts nothing and returns the previous one")
    func replace() {
        var memory = ResidentCustomers(limit: 2)
        memory.put(record("a"))
        memory.put(record("b"))
        var newer = record("a")
        newer.updatedTime = 2
        let (replaced, evicted) = memory.put(newer)
        #expect(replaced?.updatedTime == 1)
        #expect(evicted == nil)
        #expect(memory.count == 2)
        #expect(memory.evictions == 0)
    }

    @Test("a store read is not admitted when memory dropped a change for its id after the read began")
    func admissionGuard() {
        var memory = ResidentCustomers(limit: 2)
        let generation = memory.generation(of: "x")
        memory.invalidate("x")
        #expect(memory.admit(record("x"), sequence: 0, generation: generation).admitted == false)
        let resident = memory.contains("x")
        #expect(!resident)
        #expect(memory.admit(record("x"), sequence: 0, generation: memory.generation(of: "x")).admitted)
        // A resident record is never replaced by a reader's row (the writer or follower put a newer one there).
        var newer = record("x")
        newer.updatedTime = 5
        memory.put(newer)
        #expect(memory.admit(record("x"), sequence: 0, generation: memory.generation(of: "x")).admitted == false)
        #expect(memory.record(for: "x")?.updatedTime == 5)
    }

    @Test("unbounded memory keeps everything and says a missing id is absent, not unknown")
    func unbounded() {
        var memory = ResidentCustomers(limit: 0)
        for index in 0..<1000 { memory.put(record("c\(index)")) }
        #expect(memory.count == 1000)
        #expect(memory.evictions == 0)
        if case .absent = memory.view("nope") {} else { Issue.record("expected .absent") }
        var bounded = ResidentCustomers(limit: 1)
        if case .notResident = bounded.view("nope") {} else { Issue.record("expected .notResident") }
        bounded.put(record("a"))
        if case .resident(let found) = bounded.view("a") { #expect(found.id == "a") } else { Issue.record("expected .resident") }
    }
}

@Suite("Bounded memory on the store (SQLite and PostgreSQL)")
struct BoundedStoreTests {
    private func created(_ id: String, updated: String = "2024-01-01T00:00:00Z", email: String = "a@example.com",
                         event: String? = nil, at created: String = "2024-01-01T00:00:00.000001Z") throws -> StoreOperation {
        .event(try Fixture.decoded(Fixture.event(event ?? "e-\(id)-\(updated)", created: created,
                                                 object: Fixture.customer(id, updated: updated, email: email))))
    }

    private func email(_ record: CustomerRecord?) -> String? {
        guard let body = record?.body, case .object(let object)? = try? JSONValue.parse(body) else { return nil }
        return object["email"]?.stringValue
    }

    /// Writes `count` filler customers, so anything written before is evicted from a memory of at most `count`.
    private func flood(_ store: CustomerStore, count: Int, prefix: String = "filler") async throws {
        _ = try await store.apply(try (0..<count).map { try created("\(prefix)-\($0)") })
    }

    @Test("memory holds at most the limit, counts evictions, and a miss is answered by the store", arguments: StoreBackendKind.available)
    func limitAndStoreMiss(kind: StoreBackendKind) async throws {
        let location = try StoreLocation(kind)
        let store = try location.open(configure: { $0.maxCachedCustomers = 10 })
        defer { store.close() }
        #expect(store.memoryLimit == 10)
        for index in 0..<50 { #expect(try await store.apply(try created("c\(index)")) == .applied) }
        #expect(store.count == 10)
        #expect(store.evictions == 40)
        #expect(store.countsByState()[.live] == 10)
        #expect(store.record(for: "c0") == nil)
        let (found, source) = try await store.lookup("c0")
        #expect(source == .store)
        #expect(found?.state == .live)
        #expect(email(found) == "a@example.com")
        // Now resident: the next read is a memory hit.
        #expect(store.record(for: "c0")?.state == .live)
        #expect(store.count == 10)
        #expect(store.countsByState()[.live] == 10)
        let (missing, missingSource) = try await store.lookup("never-seen")
        #expect(missing == nil)
        #expect(missingSource == .store)
    }

    @Test("a deleted customer no longer in memory is not resurrected by a late create", arguments: StoreBackendKind.available)
    func tombstoneNotResurrected(kind: StoreBackendKind) async throws {
        let location = try StoreLocation(kind)
        let store = try location.open(configure: { $0.maxCachedCustomers = 5 })
        defer { store.close() }
        #expect(try await store.apply(try created("gone")) == .applied)
        let delete = try Fixture.decoded(Fixture.event("del", type: "customer.deleted", created: "2024-02-01T00:00:00Z", object: ["id": "gone"]))
        #expect(try await store.apply(.event(delete)) == .deleted)
        try await flood(store, count: 10)
        #expect(store.record(for: "gone") == nil)
        // A late re-delivery of an update from before the delete (a new event id, so not a duplicate).
        #expect(try await store.apply(try created("gone", updated: "2024-01-15T00:00:00Z", email: "late@example.com", event: "late")) == .ignoredTombstone)
        // A warm-up page or read-through snapshot of the old customer neither.
        let snapshot = try Customer(json: Fixture.customer("gone", updated: "2024-01-20T00:00:00Z"))
        try await flood(store, count: 10, prefix: "more")
        #expect(try await store.apply(.snapshot(snapshot, observedAt: 1)) != .applied)
        try await flood(store, count: 10, prefix: "again")
        #expect(try await store.lookup("gone").record?.state == .deleted)
        #expect(try await store.committedRecord(for: "gone")?.state == .deleted)
    }

    @Test("newest wins against a stored row that is not in memory", arguments: StoreBackendKind.available)
    func newestWinsAgainstNonResident(kind: StoreBackendKind) async throws {
        let location = try StoreLocation(kind)
        let store = try location.open(configure: { $0.maxCachedCustomers = 5 })
        defer { store.close() }
        #expect(try await store.apply(try created("c", updated: "2024-03-01T00:00:00Z", email: "new@example.com")) == .applied)
        try await flood(store, count: 10)
        #expect(store.record(for: "c") == nil)
        #expect(try await store.apply(try created("c", updated: "2024-02-01T00:00:00Z", email: "old@example.com")) == .staleEvent)
        try await flood(store, count: 10, prefix: "more")
        #expect(try await store.apply(try created("c", updated: "2024-03-01T00:00:00Z", email: "new@example.com", event: "again")) == .unchanged)
        try await flood(store, count: 10, prefix: "again")
        #expect(email(try await store.lookup("c").record) == "new@example.com")
        #expect(try await store.apply(try created("c", updated: "2024-04-01T00:00:00Z", email: "newest@example.com")) == .applied)
        #expect(email(try await store.lookup("c").record) == "newest@example.com")
    }

    @Test("a forgotten customer out of memory stays forgotten; forgetting it again keeps no PII", arguments: StoreBackendKind.available)
    func forgottenNonResident(kind: StoreBackendKind) async throws {
        let location = try StoreLocation(kind)
        let store = try location.open(configure: { $0.maxCachedCustomers = 5 })
        defer { store.close() }
        #expect(try await store.apply(try created("f", email: "pii@example.com")) == .applied)
        #expect(try await store.apply(.forget(id: "f", queueUpstream: false)) == .forgotten)
        try await flood(store, count: 10)
        #expect(store.record(for: "f") == nil)
        #expect(try await store.apply(try created("f", updated: "2025-01-01T00:00:00Z", email: "back@example.com")) != .applied)
        let found = try await store.lookup("f").record
        #expect(found?.state == .forgotten)
        let body = String(decoding: found?.body ?? [], as: UTF8.self)
        #expect(!body.contains("@example.com"))
    }

    @Test("a bounded store reopens with at most the limit in memory and reads the rest on demand", arguments: StoreBackendKind.available)
    func reopenBounded(kind: StoreBackendKind) async throws {
        let location = try StoreLocation(kind)
        do {
            let store = try location.open()
            try await flood(store, count: 30)
            #expect(store.count == 30)
            store.close()
        }
        let reopened = try location.open(configure: { $0.maxCachedCustomers = 7 })
        defer { reopened.close() }
        #expect(reopened.count == 7)
        for index in 0..<30 {
            #expect(try await reopened.lookup("filler-\(index)").record?.state == .live)
        }
        #expect(reopened.count == 7)
        #expect(reopened.evictions == 23)
    }

    @Test("SQLite: a miss is read on the calling thread without suspending; PostgreSQL says to use the async read",
          arguments: StoreBackendKind.available)
    func lookupWithoutWaiting(kind: StoreBackendKind) async throws {
        let location = try StoreLocation(kind)
        let store = try location.open(configure: { $0.maxCachedCustomers = 2 })
        defer { store.close() }
        try await flood(store, count: 5)
        let inline = try store.lookupWithoutWaiting("filler-0")
        switch kind {
        case .sqlite:
            #expect(inline?.source == .store)
            #expect(inline?.record?.state == .live)
        case .postgres:
            #expect(inline == nil)
        }
        // A resident customer is answered from memory by either.
        #expect(try store.lookupWithoutWaiting("filler-4")?.source == .memory)
    }
}

@Suite("Bounded memory across replicas (PostgreSQL)", .enabled(if: TestDatabase.isAvailable, "needs CUSTOMER_CACHE_TEST_DATABASE_URL (scripts/test starts a server)"))
struct BoundedReplicaTests {
    private func eventually(_ timeout: TimeInterval = 20, _ condition: () async throws -> Bool) async rethrows -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try await condition() { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return try await condition()
    }

    private func email(_ record: CustomerRecord?) -> String? {
        guard let body = record?.body, case .object(let object)? = try? JSONValue.parse(body) else { return nil }
        return object["email"]?.stringValue
    }

    private func update(_ id: String, minute: Int) throws -> StoreOperation {
        let stamp = String(format: "%02d", minute)
        return .event(try Fixture.decoded(Fixture.event("u-\(id)-\(minute)", created: "2024-01-01T01:\(stamp):00Z",
                                                        object: Fixture.customer(id, updated: "2024-01-01T00:\(stamp):00Z", email: "v\(minute)@example.com"))))
    }

    @Test("bounded replicas stay coherent: resident customers follow every change, others are skipped and read fresh")
    func coherentWhenBounded() async throws {
        let location = try StoreLocation(.postgres)
        let writer = try location.open(configure: { $0.maxCachedCustomers = 5 })
        let reader = try location.open(configure: { $0.maxCachedCustomers = 5 })
        defer { writer.close(); reader.close() }
        #expect(try await writer.apply(try update("hot", minute: 1)) == .applied)
        // The reader never saw it in memory: the follower skipped it, the store answers.
        #expect(try await eventually { reader.replication?.changesBehind == 0 && reader.replication?.appliedSequence == 1 })
        #expect(reader.record(for: "hot") == nil)
        #expect(email(try await reader.lookup("hot").record) == "v1@example.com")
        // Resident now on the reader: the follower applies the next changes to it.
        for minute in 2...6 { #expect(try await writer.apply(try update("hot", minute: minute)) == .applied) }
        #expect(try await eventually { email(reader.record(for: "hot")) == "v6@example.com" })
        // Many other customers change: the reader loads none of them, and stays within its limit.
        _ = try await writer.apply(try (0..<40).map { try update("other-\($0)", minute: 1) })
        #expect(try await eventually { reader.replication?.changesBehind == 0 && reader.replication?.appliedSequence == 46 })
        #expect(reader.count <= 5)
        #expect(reader.record(for: "other-7") == nil)
        #expect(email(try await reader.lookup("other-7").record) == "v1@example.com")
        // A change of a non-resident customer is skipped by the reader's follower; its next read sees it.
        try await flood(writer, ids: (0..<10).map { "other-\($0)" }, minute: 2)
        #expect(try await eventually { reader.replication?.appliedSequence == 56 })
        #expect(email(try await reader.lookup("other-8").record) == "v2@example.com")
        // Both replicas decide against the database: a late event loses on either, whatever is in their memory.
        #expect(try await reader.apply(try update("hot", minute: 3)) == .duplicate)
        #expect(try await reader.apply(.event(try Fixture.decoded(Fixture.event("late-hot", created: "2024-01-01T01:03:30Z",
            object: Fixture.customer("hot", updated: "2024-01-01T00:03:30Z", email: "late@example.com"))))) == .staleEvent)
        #expect(email(try await writer.lookup("hot").record) == "v6@example.com")
    }

    private func flood(_ store: CustomerStore, ids: [String], minute: Int) async throws {
        _ = try await store.apply(try ids.map { try update($0, minute: minute) })
    }

    @Test("a customer deleted by another replica is not resurrected on a bounded replica that had it resident or not")
    func tombstoneAcrossBoundedReplicas() async throws {
        let location = try StoreLocation(.postgres)
        let first = try location.open(configure: { $0.maxCachedCustomers = 3 })
        let second = try location.open(configure: { $0.maxCachedCustomers = 3 })
        defer { first.close(); second.close() }
        #expect(try await first.apply(try update("d", minute: 1)) == .applied)
        #expect(try await eventually { second.replication?.appliedSequence == 1 })
        #expect(try await second.lookup("d").record?.state == .live)
        #expect(second.record(for: "d")?.state == .live)
        let delete = try Fixture.decoded(Fixture.event("del-d", type: "customer.deleted", created: "2024-02-01T00:00:00Z", object: ["id": "d"]))
        #expect(try await first.apply(.event(delete)) == .deleted)
        #expect(try await eventually { second.record(for: "d")?.state == .deleted })
        _ = try await first.apply(try (0..<10).map { try update("x\($0)", minute: 1) })
        _ = try await second.apply(try (0..<10).map { try update("y\($0)", minute: 1) })
        #expect(try await second.apply(try update("d", minute: 2)) == .ignoredTombstone)
        #expect(try await first.lookup("d").record?.state == .deleted)
        #expect(try await second.lookup("d").record?.state == .deleted)
    }
}

@Suite("Bounded memory: reload after a gap (PostgreSQL)", .enabled(if: TestDatabase.isAvailable, "needs CUSTOMER_CACHE_TEST_DATABASE_URL (scripts/test starts a server)"))
struct BoundedReloadTests {
    @Test("a bounded replica that finds its changes pruned reloads the customers it held, not the first rows of the table")
    func reloadKeepsResident() async throws {
        let location = try StoreLocation(.postgres)
        let store = try location.open(configure: { $0.maxCachedCustomers = 3 })
        defer { store.close() }
        let admin = try #require(location.database).connect()
        _ = try await store.apply(try (0..<10).map { index in
            .event(try Fixture.decoded(Fixture.event("e\(index)", object: Fixture.customer("c\(index)"))))
        })
        let deadline = Date().addingTimeInterval(20)
        while store.replication?.appliedSequence != 10, Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
        let before = Set((0..<10).map { "c\($0)" }.filter { store.record(for: $0) != nil })
        #expect(before == ["c7", "c8", "c9"])
        // As if another replica updated c8 and the change was pruned before this follower read it.
        let body = Array(#"{"id":"c8","email":"late@example.com"}"#.utf8)
        _ = try admin.transaction { connection in
            try connection.execute("UPDATE customers SET body = $1, change_seq = 11 WHERE id = 'c8'", [.bytes(body)])
            try connection.execute("UPDATE change_head SET seq = seq + 1")
        }
        while store.record(for: "c8")?.body != body, Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(store.record(for: "c8")?.body == body)
        let after = Set((0..<10).map { "c\($0)" }.filter { store.record(for: $0) != nil })
        #expect(after == before)
        #expect(store.count == 3)
    }
}
