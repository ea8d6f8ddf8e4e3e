@testable import Customers
import Foundation
import HTTPTestClient
import PostgreSQL
import Testing

/// What the follower's page query costs on a table PostgreSQL has no statistics for yet (freshly loaded, or
/// growing faster than autovacuum analyzes it): it must read the page's customers by primary key, never scan them all.
@Suite("Change follower query plan", .enabled(if: TestDatabase.isAvailable, "needs CUSTOMER_CACHE_TEST_DATABASE_URL (scripts/test starts a server)"))
struct ChangeFollowerPlanTests {
    @Test("a page of changes reads its customers by primary key, even before ANALYZE")
    func pageReadsByKey() throws {
        let database = try TestDatabase()
        let connection = try database.connect()
        try PostgresBackend.makeMigrator().migrate(connection)
        // No statistics: autovacuum off for these tables, and nothing ever analyzed them.
        try connection.execute("""
            ALTER TABLE customers SET (autovacuum_enabled = false);
            ALTER TABLE customer_changes SET (autovacuum_enabled = false);
            INSERT INTO customers (id, state, updated_us, event_us, body, change_seq)
                SELECT 'c' || g, 0, g, g, decode(repeat('ab', 300), 'hex'), g FROM generate_series(1, 6600) g;
            INSERT INTO customer_changes (seq, customer_id) SELECT g, 'c' || g FROM generate_series(1, 6600) g;
            UPDATE change_head SET seq = 6600;
            """)
        let applied: Int64 = 6471
        let plan = try connection.execute("EXPLAIN " + ChangeFollower.pageQuery, [.integer(applied), .integer(applied + Int64(ChangeFollower.pageSize))])
            .rows.compactMap { $0[0] }.joined(separator: "\n")
        #expect(!plan.contains("Seq Scan on customers"), "\(plan)")
        #expect(plan.contains("Index Scan using customers_pkey"), "\(plan)")
        // The follower's statement is prepared once per session, so after a few runs PostgreSQL may plan it for any
        // parameters: that generic plan must read by key too.
        try connection.execute("PREPARE page(bigint, bigint) AS " + ChangeFollower.pageQuery + "; SET plan_cache_mode = force_generic_plan")
        let generic = try connection.execute("EXPLAIN EXECUTE page(\(applied), \(applied + Int64(ChangeFollower.pageSize)))")
            .rows.compactMap { $0[0] }.joined(separator: "\n")
        #expect(!generic.contains("Seq Scan on customers") && !generic.contains("Seq Scan on customer_changes"), "\(generic)")
        #expect(generic.contains("Index Scan using customers_pkey") && generic.contains("customer_changes_pkey"), "\(generic)")
        try connection.execute("RESET plan_cache_mode")
        let page = try connection.execute(ChangeFollower.pageQuery, [.integer(applied), .integer(applied + Int64(ChangeFollower.pageSize))])
        #expect(page.count == 129)
        #expect(page.integer(0, 0) == applied + 1 && page.text(0, 2) == "c\(applied + 1)" && page.integer(0, 8) == 6600)
    }
}
