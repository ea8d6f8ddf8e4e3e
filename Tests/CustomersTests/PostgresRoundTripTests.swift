@testable import Customers
import Foundation
import HTTPTestClient
import JSON
import Testing

/// The writer's cost per batch on PostgreSQL, counted in round trips (steady however loaded the machine is): a batch
/// is one pipeline of reads and one of writes plus COMMIT, whatever it holds.
@Suite("PostgreSQL batch round trips", .enabled(if: TestDatabase.isAvailable, "needs CUSTOMER_CACHE_TEST_DATABASE_URL (scripts/test starts a server)"))
struct PostgresRoundTripTests {
    private func open(_ database: TestDatabase) throws -> PostgresBackend {
        var configuration = StoreConfiguration(path: "/nonexistent")
        configuration.database = database.configuration
        let (backend, _) = try PostgresBackend.open(configuration, database: database.configuration, health: StoreHealthMonitor(onEvent: { _ in }))
        return backend
    }

    private func events(_ range: Range<Int>) throws -> [[StoreOperation]] {
        try range.map { index in
            [.event(try Fixture.decoded(Fixture.event("rt-\(index)", object: Fixture.customer("rt-c\(index % 40)", updated: "2024-01-01T00:\(String(format: "%02d:%02d", index / 60, index % 60))Z"))))]
        }
    }

    private func commit(_ backend: PostgresBackend, _ requests: [[StoreOperation]]) throws -> (CommittedBatch, roundTrips: Int) {
        let before = backend.roundTrips
        let batch = try backend.commit(requests, now: 1_704_067_200_000_000, current: { _ in .absent }).get()
        return (batch, backend.roundTrips - before)
    }

    @Test("a batch of 64 webhook events commits in two round trips, as does a batch of one")
    func eventBatch() throws {
        let database = try TestDatabase()
        let backend = try open(database)
        defer { backend.close() }
        _ = try commit(backend, [[.setCheckpoint(name: "start", value: "1")]])  // the first commit also prunes (every 60 s)
        let (one, single) = try commit(backend, try events(0..<1))
        #expect(single == 2)
        #expect(one.outcomes == [[.applied]])
        let (batch, many) = try commit(backend, try events(1..<65))
        #expect(many == 2)
        #expect(batch.outcomes.count == 64)
        #expect(batch.outcomes.allSatisfy { $0 == [.applied] })
        #expect(batch.records.count == 40)  // 64 events on 40 customers: one row and one change each
        #expect(backend.lastCommitSequence == 41)
        let (again, duplicates) = try commit(backend, try events(0..<64))
        #expect(duplicates == 2)
        #expect(again.outcomes.allSatisfy { $0 == [.duplicate] })
        let rows = try database.connect().execute("SELECT count(*), max(seq) FROM customer_changes")
        #expect(rows.integer(0, 0) == 41)
        #expect(rows.integer(0, 1) == 41)
    }

    @Test("forget queueing, parking, delivery and checkpoints ride in the same two round trips, and park only queued ids")
    func sideTables() throws {
        let database = try TestDatabase()
        let backend = try open(database)
        defer { backend.close() }
        _ = try commit(backend, try events(0..<1))
        let (batch, trips) = try commit(backend, [
            [.markStale(id: "rt-c0"), .setCheckpoint(name: "warm", value: "page-2")],
            [.forget(id: "gone", queueUpstream: true), .forgetParked(id: "gone", reason: "400")],
            [.forgetParked(id: "never-queued", reason: "400"), .forgetDelivered(id: "never-queued")],
        ])
        // Two for the batch, one for the VACUUM that follows a forget.
        #expect(trips == 3)
        #expect(batch.outcomes == [[.markedStale, .applied], [.forgotten, .unchanged], [.unchanged, .unchanged]])
        #expect(Set(batch.forgetsParked.keys) == ["gone"])
        let connection = try database.connect()
        #expect(try connection.execute("SELECT customer_id, parked_reason FROM forget_queue").rows == [["gone", "400"]])
        #expect(try connection.execute("SELECT value FROM checkpoints WHERE name = 'warm'").rows == [["page-2"]])
        #expect(try connection.execute("SELECT stale FROM customers WHERE id = 'rt-c0'").boolean(0, 0) == true)
    }
}
