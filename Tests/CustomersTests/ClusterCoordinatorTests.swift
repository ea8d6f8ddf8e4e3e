import Customers
import Foundation
import HTTPTestClient
import JSON
import PostgreSQL
import Testing

/// Two `ClusterCoordinator`s on one schema are two replicas agreeing through PostgreSQL.
@Suite("Cluster coordination on PostgreSQL: create locks and forget leases",
       .enabled(if: TestDatabase.isAvailable, "needs CUSTOMER_CACHE_TEST_DATABASE_URL (scripts/test starts a server)"))
struct ClusterCoordinatorTests {
    private func coordinators(_ location: StoreLocation) throws -> (ClusterCoordinator, ClusterCoordinator) {
        let database = try #require(location.configuration.database)
        return (ClusterCoordinator(database: database), ClusterCoordinator(database: database))
    }

    /// Claims until nothing is left, as one replica's round does.
    private func claimAll(_ coordinator: ClusterCoordinator) async throws -> [String] {
        var claimed: [String] = []
        while let entry = try await coordinator.claimNextForget(parkedBeforeSeconds: 0, afterRestart: false, skipping: claimed, leaseSeconds: 60) {
            claimed.append(entry.id)
        }
        return claimed
    }

    @Test("two replicas claiming at once take different forgets; a held one is refused; a lease nobody renews passes on")
    func forgetLeases() async throws {
        let location = try StoreLocation(.postgres)
        let store = try location.open()
        defer { store.close() }
        for index in 0..<40 { _ = try await store.apply(.forget(id: "f\(index)", queueUpstream: true)) }
        let (first, second) = try coordinators(location)
        async let claimedByFirst = claimAll(first)
        async let claimedBySecond = claimAll(second)
        let (one, other) = try await (claimedByFirst, claimedBySecond)
        #expect(Set(one).isDisjoint(with: other))
        #expect(Set(one + other) == Set((0..<40).map { "f\($0)" }))
        let held = try #require(one.first ?? other.first)
        let holder = one.isEmpty ? second : first
        let stranger = one.isEmpty ? first : second
        #expect(try await stranger.claimForget(held, leaseSeconds: 60) == false)

        _ = try await store.apply(.forget(id: "short", queueUpstream: true))
        #expect(try await holder.claimForget("short", leaseSeconds: 1.5))
        #expect(try await stranger.claimForget("short", leaseSeconds: 60) == false)
        // The holder died (nobody renews): the lease runs out and the other replica's round takes the entry.
        try await Task.sleep(for: .seconds(2))
        let taken = try await stranger.claimNextForget(parkedBeforeSeconds: 0, afterRestart: false, skipping: [], leaseSeconds: 60)
        #expect(taken?.id == "short")
    }

    @Test("after an outage the entry backs off for every replica, except a restarted one's first round; a refusal frees it")
    func sharedBackoff() async throws {
        let location = try StoreLocation(.postgres)
        let store = try location.open()
        defer { store.close() }
        _ = try await store.apply(.forget(id: "down", queueUpstream: true))
        let (first, second) = try coordinators(location)
        #expect(try await first.claimForget("down", leaseSeconds: 60))
        try await first.releaseForget("down", backingOff: true, intervalSeconds: 30, maxBackoffSeconds: 600)
        #expect(try await second.claimNextForget(parkedBeforeSeconds: 0, afterRestart: false, skipping: [], leaseSeconds: 60) == nil)
        #expect(try await second.claimNextForget(parkedBeforeSeconds: 0, afterRestart: true, skipping: ["down"], leaseSeconds: 60) == nil)
        #expect(try await second.claimNextForget(parkedBeforeSeconds: 0, afterRestart: true, skipping: [], leaseSeconds: 60)?.id == "down")
        try await second.releaseForget("down", backingOff: false, intervalSeconds: 30, maxBackoffSeconds: 600)
        #expect(try await first.claimNextForget(parkedBeforeSeconds: 0, afterRestart: false, skipping: [], leaseSeconds: 60)?.id == "down")
        let summary = try await first.forgetQueueSummary()
        #expect(summary.waiting == 1 && summary.parkedByReason.isEmpty)
        #expect(try await first.isForgetQueued("down"))
        #expect(try await first.isForgetQueued("never") == false)
    }

    @Test("one create lock per id: others wait, find the committed row after release, and take over when the holder's session dies")
    func createLock() async throws {
        let location = try StoreLocation(.postgres)
        let store = try location.open()
        defer { store.close() }
        let (first, second) = try coordinators(location)
        guard case .holder(let lock) = try await first.awaitCreateTurn(for: "n1", waitSeconds: 1, found: { nil }) else {
            Issue.record("the first replica did not get the lock")
            return
        }
        #expect(lock.committed == nil)
        guard case .timedOut = try await second.awaitCreateTurn(for: "n1", waitSeconds: 0.3, found: { nil }) else {
            Issue.record("the second replica got a lock the first holds")
            return
        }
        // Meanwhile the holder's create is committed; whoever comes next reads it instead of creating again.
        _ = try await store.apply(.snapshot(try Customer(json: Fixture.customer("n1")), observedAt: 1))
        await first.release(lock)
        guard case .holder(let next) = try await second.awaitCreateTurn(for: "n1", waitSeconds: 5, found: { nil }) else {
            Issue.record("the lock was not passed on after release")
            return
        }
        #expect(next.committed?.id == "n1")
        await second.release(next)

        // A holder whose process dies: PostgreSQL ends its session and drops the lock with it.
        guard case .holder = try await first.awaitCreateTurn(for: "n2", waitSeconds: 1, found: { nil }) else {
            Issue.record("no lock for n2")
            return
        }
        let admin = try #require(location.database).connect()
        try admin.execute("SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid()")
        guard case .holder(let takenOver) = try await second.awaitCreateTurn(for: "n2", waitSeconds: 10, found: { nil }) else {
            Issue.record("the lock of a dead session was not released")
            return
        }
        #expect(takenOver.committed == nil)
        await second.release(takenOver)
        // A record already in memory ends the wait at once.
        let live = CustomerRecord(id: "n3", state: .live, updatedTime: 1, eventTime: 1, stale: false, body: [])
        guard case .found(let found) = try await second.awaitCreateTurn(for: "n3", waitSeconds: 1, found: { live }) else {
            Issue.record("a record in memory did not end the wait")
            return
        }
        #expect(found.id == "n3")
    }
}
