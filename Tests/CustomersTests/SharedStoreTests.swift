import Customers
import Foundation
import HTTPTestClient
import JSON
import PostgreSQL
import Testing

/// Several `CustomerStore`s on one PostgreSQL schema are several replicas: each has its own memory, writer and follower.
@Suite("Shared PostgreSQL store: replicas", .enabled(if: TestDatabase.isAvailable, "needs CUSTOMER_CACHE_TEST_DATABASE_URL (scripts/test starts a server)"))
struct SharedStoreTests {
    private func replicas(_ count: Int, _ location: StoreLocation) async throws -> [CustomerStore] {
        // Opened at the same moment: the migrations must run once, under their advisory lock.
        try await withThrowingTaskGroup(of: CustomerStore.self) { group in
            for _ in 0..<count { group.addTask { try location.open() } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
    }

    private func eventually(_ timeout: TimeInterval = 20, _ condition: () -> Bool) async -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return condition()
    }

    @Test("a change committed by one replica reaches the other replicas' memory: event, snapshot, delete and forget")
    func propagation() async throws {
        let location = try StoreLocation(.postgres)
        let stores = try await replicas(3, location)
        defer { stores.forEach { $0.close() } }
        #expect(try await stores[0].apply(.event(try Fixture.decoded(Fixture.event("e1", object: Fixture.customer("c1"))))) == .applied)
        let snapshot = try Customer(json: Fixture.customer("c2", email: "b@example.com"))
        #expect(try await stores[1].apply(.snapshot(snapshot, observedAt: 1)) == .applied)
        #expect(try await stores[2].apply(.forget(id: "c3", queueUpstream: false)) == .forgotten)
        #expect(await eventually { stores.allSatisfy { $0.record(for: "c1")?.state == .live && $0.record(for: "c2")?.state == .live && $0.record(for: "c3")?.state == .forgotten } })
        #expect(try await stores[2].apply(.event(try Fixture.decoded(Fixture.event("e2", type: "customer.deleted", created: "2030-01-01T00:00:00Z", object: ["id": "c1"])))) == .deleted)
        #expect(await eventually { stores.allSatisfy { $0.record(for: "c1")?.state == .deleted } })
        #expect(await eventually { stores.allSatisfy { $0.replication?.changesBehind == 0 && $0.replication?.appliedSequence == 4 } })
    }

    @Test("a replica's follower steps over what its own writer committed; the other replica reads every change")
    func followerSkipsOwnChanges() async throws {
        let location = try StoreLocation(.postgres)
        let stores = try await replicas(2, location)
        defer { stores.forEach { $0.close() } }
        for index in 0..<30 {
            let store = stores[index < 20 ? 0 : index % 2]
            #expect(try await store.apply(.event(try Fixture.decoded(Fixture.event("e\(index)", object: Fixture.customer("c\(index)"))))) == .applied)
        }
        #expect(await eventually { stores.allSatisfy { $0.replication?.appliedSequence == 30 && $0.count == 30 } })
        #expect(await eventually { stores.allSatisfy { store in (0..<30).allSatisfy { store.record(for: "c\($0)")?.state == .live } } })
        // Stepped over: a commit's NOTIFY that outran the writer's publish by more than the wait is read back instead.
        #expect((stores[0].replication?.ownChangesSkipped ?? 0) > 0)
        #expect((stores[0].replication?.ownChangesSkipped ?? 0) <= 25)
        #expect((stores[1].replication?.ownChangesSkipped ?? 0) <= 5)
    }

    @Test("the same events delivered to three replicas at once are applied exactly once in the whole cluster")
    func exactlyOnceAcrossReplicas() async throws {
        let location = try StoreLocation(.postgres)
        let stores = try await replicas(3, location)
        defer { stores.forEach { $0.close() } }
        let events = try (0..<30).map { try Fixture.decoded(Fixture.event("evt-\($0)", object: Fixture.customer("c\($0)"))) }
        let outcomes = try await withThrowingTaskGroup(of: [ApplyOutcome].self) { group in
            for round in 0..<12 {
                let store = stores[round % stores.count]
                group.addTask { try await store.apply(events.map { .event($0) }) }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        #expect(outcomes.filter { $0 == .applied }.count == 30)
        #expect(outcomes.filter { $0 == .duplicate }.count == 30 * 11)
    }

    @Test("newest wins when replicas write one customer at once, on disk and in every replica's memory")
    func newestWinsAcrossReplicas() async throws {
        let location = try StoreLocation(.postgres)
        let stores = try await replicas(2, location)
        defer { stores.forEach { $0.close() } }
        let versions = (1...40).map { minute in
            try! Fixture.decoded(Fixture.event("v\(minute)", created: "2024-01-01T01:\(String(format: "%02d", minute)):00Z",
                                               object: Fixture.customer("hot", updated: "2024-01-01T00:\(String(format: "%02d", minute)):00Z",
                                                                        email: "v\(minute)@example.com")))
        }
        try await withThrowingTaskGroup(of: ApplyOutcome.self) { group in
            for (index, event) in versions.shuffled().enumerated() {
                let store = stores[index % 2]
                group.addTask { try await store.apply(.event(event)) }
            }
            for try await _ in group {}
        }
        func email(_ record: CustomerRecord?) -> String? {
            guard let body = record?.body, case .object(let object)? = try? JSONValue.parse(body) else { return nil }
            return object["email"]?.stringValue
        }
        #expect(await eventually { stores.allSatisfy { email($0.record(for: "hot")) == "v40@example.com" } })
        #expect(email(try await stores[0].committedRecord(for: "hot")) == "v40@example.com")
    }

    @Test("a replica whose follower lost its connection (and its notifications) catches up exactly after reconnecting")
    func catchUpAfterDisconnect() async throws {
        let location = try StoreLocation(.postgres)
        let stores = try await replicas(2, location)
        defer { stores.forEach { $0.close() } }
        let database = try #require(location.database)
        let admin = try database.connect()
        // Every session LISTENing is a follower; cut them all, then write while they are away.
        var terminated = 0
        let deadline = Date().addingTimeInterval(10)
        while terminated < 2, Date() < deadline {
            terminated += try admin.execute("""
                SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                WHERE pid <> pg_backend_pid() AND datname = current_database() AND application_name = 'customer-cache'
                  AND (query LIKE '%customer_changes c LEFT JOIN%' OR query = 'SELECT seq FROM change_head' OR query LIKE 'LISTEN%')
                """).count
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(terminated >= 2)
        for index in 0..<50 {
            _ = try? await stores[0].apply(.event(try Fixture.decoded(Fixture.event("e\(index)", object: Fixture.customer("c\(index)")))))
        }
        // The writer may have lost its connection too if it was idle in the same query shape; retry what failed.
        for index in 0..<50 where stores[0].record(for: "c\(index)") == nil {
            _ = try await stores[0].apply(.event(try Fixture.decoded(Fixture.event("e\(index)", object: Fixture.customer("c\(index)")))))
        }
        #expect(await eventually { (0..<50).allSatisfy { stores[1].record(for: "c\($0)")?.state == .live } })
        #expect(stores[1].count == 50)
    }

    @Test("a replica that finds its next changes pruned reloads every row")
    func reloadAfterPrune() async throws {
        let location = try StoreLocation(.postgres)
        let first = try location.open()
        defer { first.close() }
        let database = try #require(location.database)
        let admin = try database.connect()
        _ = try await first.apply(.event(try Fixture.decoded(Fixture.event("e1", object: Fixture.customer("c1")))))
        let second = try location.open()
        defer { second.close() }
        // As if another replica committed two changes and they were pruned before this follower read them: the rows
        // and the head move on, the change log has nothing after what the follower applied.
        let body = Array(#"{"id":"c2","email":"late@example.com"}"#.utf8)
        _ = try admin.transaction { connection in
            try connection.execute("INSERT INTO customers (id, state, updated_us, event_us, stale, body, change_seq) VALUES ('c2', 0, 1, 1, false, $1, 3)",
                                   [.bytes(body)])
            try connection.execute("INSERT INTO customers (id, state, updated_us, event_us, stale, body, change_seq) VALUES ('c3', 1, 1, 1, false, '', 3)")
            try connection.execute("UPDATE change_head SET seq = seq + 2")
        }
        #expect(await eventually { second.record(for: "c2")?.body == body && second.record(for: "c3")?.state == .deleted })
    }

    @Test("forget deletes the row that held PII: no row in the database contains the email any more")
    func forgetDeletesRow() async throws {
        let location = try StoreLocation(.postgres)
        let store = try location.open()
        defer { store.close() }
        let marker = "unique-marker-\(UUID().uuidString)@example.com"
        _ = try await store.apply(.event(try Fixture.decoded(Fixture.event("e1", object: Fixture.customer("c1", email: marker)))))
        _ = try await store.apply(.forget(id: "c1", queueUpstream: true))
        let connection = try #require(location.database).connect()
        #expect(try connection.execute("SELECT count(*) FROM customers WHERE position($1::bytea in body) > 0", [.bytes(Array(marker.utf8))]).integer(0, 0) == 0)
        #expect(try connection.execute("SELECT state FROM customers WHERE id = 'c1'").integer(0, 0) == CustomerRecord.State.forgotten.rawValue)
        #expect(try connection.execute("SELECT customer_id FROM forget_queue").rows == [["c1"]])
    }

    @Test("a writer session killed while idle is noticed and replaced before the next batch, which commits at the first try")
    func writerReconnects() async throws {
        let location = try StoreLocation(.postgres)
        let store = try location.open()
        defer { store.close() }
        _ = try await store.apply(.event(try Fixture.decoded(Fixture.event("e1", object: Fixture.customer("c1")))))
        let admin = try #require(location.database).connect()
        // The writer's session is the store's one that is not the follower's (LISTEN, change_head, the change log).
        // The timeout makes the call wait until the session is gone, as a server shutdown does before it returns.
        let killed = try admin.execute("""
            SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity
            WHERE pid <> pg_backend_pid() AND datname = current_database() AND application_name = 'customer-cache'
              AND query NOT LIKE 'LISTEN%' AND query <> 'SELECT seq FROM change_head' AND query NOT LIKE '%customer_changes c LEFT JOIN%'
            """)
        #expect(killed.count >= 1)
        let event = try Fixture.decoded(Fixture.event("e2", object: Fixture.customer("c2")))
        var failures = 0
        var outcome: ApplyOutcome?
        for _ in 0..<5 where outcome == nil {
            do { outcome = try await store.apply(.event(event)) } catch { failures += 1 }
        }
        // The server's FATAL and EOF are read before the batch starts, so no caller is refused for a connection that
        // was already gone (PostgresOutageTests covers the same through a PostgreSQL restart).
        #expect(failures == 0)
        #expect(outcome == .applied)
        #expect(store.record(for: "c2")?.state == .live)
    }
}
