/// Ordered, versioned schema migrations recorded in `schema_migrations`, safe when many processes start at once:
/// everything runs in one transaction under `pg_advisory_xact_lock(lockKey)`, so one process migrates and the
/// others wait, then find nothing left to do. PostgreSQL's DDL is transactional, so a failed migration leaves the
/// schema as it was. Refuses a database migrated by newer code.
public struct PostgresMigrator: Sendable {
    private struct Migration: Sendable {
        let version: Int
        let name: String
        let sql: String
    }

    private var migrations: [Migration] = []
    /// The advisory lock every migrating process takes; pick one per application.
    public let lockKey: Int64

    public init(lockKey: Int64) {
        self.lockKey = lockKey
    }

    /// Adds a migration; `sql` may hold several statements.
    public mutating func register(version: Int, name: String, sql: String) {
        migrations.append(Migration(version: version, name: name, sql: sql))
    }

    /// The highest registered version.
    public var latestVersion: Int { migrations.map(\.version).max() ?? 0 }

    /// Applies every migration newer than the database's and returns the versions before and after.
    @discardableResult
    public func migrate(_ connection: PostgresConnection) throws -> (from: Int, to: Int) {
        let ordered = migrations.sorted { $0.version < $1.version }
        let latest = ordered.last?.version ?? 0
        return try connection.transaction { connection in
            try connection.advisoryTransactionLock(lockKey)
            try connection.execute("""
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())
                """)
            let start = Int(try connection.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").integer(0, 0) ?? 0)
            guard start <= latest else {
                throw PostgresError(.statement, message: "database schema version \(start) is newer than the newest this code knows (\(latest)); refusing to use it with older code")
            }
            for migration in ordered where migration.version > start {
                try connection.execute(migration.sql)
                try connection.execute("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                                       [.integer(Int64(migration.version)), .text(migration.name)])
            }
            return (start, max(start, latest))
        }
    }
}
