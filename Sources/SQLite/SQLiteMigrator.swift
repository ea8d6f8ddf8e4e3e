/// Ordered, named schema migrations tracked in PRAGMA user_version; each runs in its own transaction; refuses a database newer than the code knows.
///
/// `user_version` holds the version of the last migration applied. Versions must be positive and
/// unique; they run in ascending order whatever the registration order. While a migration runs,
/// foreign-key enforcement is switched off (SQLite's documented recipe for rebuilding a table:
/// otherwise `DROP TABLE` would cascade deletes) and `PRAGMA foreign_key_check` must come back
/// empty before the migration commits.
public struct SQLiteMigrator {
    private struct Migration {
        let version: Int32
        let name: String
        let migrate: (SQLiteConnection) throws -> Void
    }

    private var migrations: [Migration] = []

    public init() {}

    /// Adds a migration. `migrate` must only change the schema and data; the migrator owns the
    /// transaction and `user_version`.
    public mutating func register(version: Int32, name: String, _ migrate: @escaping (SQLiteConnection) throws -> Void) {
        migrations.append(Migration(version: version, name: name, migrate: migrate))
    }

    /// The highest registered version: what `migrate` brings a database to.
    public var latestVersion: Int32 { migrations.map(\.version).max() ?? 0 }

    /// Applies every migration newer than the database's `user_version`, each in its own
    /// `BEGIN IMMEDIATE` transaction, and returns the version before and after.
    ///
    /// Throws `SQLiteMigrationError` (`.invalidRegistration`, `.databaseNewerThanCode`,
    /// `.migrationFailed`, `.foreignKeyViolation`) or the `SQLiteError` of reading `user_version`.
    /// A failed migration is rolled back, leaving `user_version` at the last one that succeeded.
    @discardableResult
    public func migrate(_ db: SQLiteConnection) throws -> (from: Int32, to: Int32) {
        let ordered = migrations.sorted { $0.version < $1.version }
        try validate(ordered)
        let latest = ordered.last?.version ?? 0

        let start = try Self.userVersion(db)
        guard start <= latest else {
            throw SQLiteMigrationError(
                code: .databaseNewerThanCode,
                databaseVersion: start,
                message: "database schema version \(start) is newer than the newest this code knows (\(latest)); refusing to open it with older code"
            )
        }

        var current = start
        for migration in ordered where migration.version > current {
            current = try apply(migration, to: db, latest: latest)
        }
        return (start, current)
    }

    private func validate(_ ordered: [Migration]) throws(SQLiteMigrationError) {
        var previous: Int32 = 0
        for migration in ordered {
            guard migration.version > previous else {
                let reason = migration.version <= 0 ? "versions must be positive" : "version registered twice"
                throw SQLiteMigrationError(
                    code: .invalidRegistration,
                    databaseVersion: 0,
                    migrationVersion: migration.version,
                    migrationName: migration.name,
                    message: "invalid migration \(migration.version) \"\(migration.name)\": \(reason)"
                )
            }
            previous = migration.version
        }
    }

    /// Runs one migration in its own transaction and returns the database's version afterwards.
    private func apply(_ migration: Migration, to db: SQLiteConnection, latest: Int32) throws -> Int32 {
        // PRAGMA foreign_keys is a no-op inside a transaction, so switch it around the transaction.
        let enforcedForeignKeys = try Self.pragmaInt64(db, "foreign_keys") != 0
        if enforcedForeignKeys { try db.execute("PRAGMA foreign_keys = OFF") }
        defer {
            if enforcedForeignKeys { try? db.execute("PRAGMA foreign_keys = ON") }
        }

        return try db.transaction(.immediate) {
            // Re-read under the write lock: another process may have migrated since we looked.
            let version = try Self.userVersion(db)
            guard version < migration.version else {
                guard version <= latest else {
                    throw SQLiteMigrationError(
                        code: .databaseNewerThanCode,
                        databaseVersion: version,
                        message: "database schema version \(version) is newer than the newest this code knows (\(latest))"
                    )
                }
                return version
            }
            do {
                try migration.migrate(db)
            } catch {
                throw SQLiteMigrationError(
                    code: .migrationFailed,
                    databaseVersion: version,
                    migrationVersion: migration.version,
                    migrationName: migration.name,
                    message: "migration \(migration.version) \"\(migration.name)\" failed: \(error)",
                    underlying: error
                )
            }
            if enforcedForeignKeys {
                let violations = try db.prepare("PRAGMA foreign_key_check").query { $0.text(at: 0) ?? "" }
                guard violations.isEmpty else {
                    throw SQLiteMigrationError(
                        code: .foreignKeyViolation,
                        databaseVersion: version,
                        migrationVersion: migration.version,
                        migrationName: migration.name,
                        message:
                            "migration \(migration.version) \"\(migration.name)\" left \(violations.count) foreign key violation(s) in table(s) \(Set(violations).sorted().joined(separator: ", "))"
                    )
                }
            }
            // The version is our own Int32, not outside input; PRAGMA cannot take a bound parameter.
            try db.execute("PRAGMA user_version = \(migration.version)")
            return migration.version
        }
    }

    /// The database's `PRAGMA user_version`.
    public static func userVersion(_ db: SQLiteConnection) throws(SQLiteError) -> Int32 {
        Int32(truncatingIfNeeded: try pragmaInt64(db, "user_version"))
    }

    private static func pragmaInt64(_ db: SQLiteConnection, _ name: String) throws(SQLiteError) -> Int64 {
        let statement = try db.prepare("PRAGMA \(name)")
        guard try statement.step() else {
            throw SQLiteError(code: .error, message: "PRAGMA \(name) returned no row", operation: "step", sql: statement.sql)
        }
        return statement.int64(at: 0)
    }
}

// Not Sendable: migrations are plain closures run on the connection's own thread.
@available(*, unavailable)
extension SQLiteMigrator: Sendable {}

/// Why `SQLiteMigrator.migrate` refused or failed; `code` is stable, `message` is for people.
public struct SQLiteMigrationError: Error, CustomStringConvertible {
    /// Stable identifier of the failure kind.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let description: String
        private init(_ description: String) { self.description = description }

        /// The database's `user_version` is above every registered migration (written by newer code).
        public static let databaseNewerThanCode = Code("databaseNewerThanCode")
        /// Two migrations share a version, or a version is not positive.
        public static let invalidRegistration = Code("invalidRegistration")
        /// A migration's closure threw; `underlying` holds its error.
        public static let migrationFailed = Code("migrationFailed")
        /// A migration left rows that break a foreign key.
        public static let foreignKeyViolation = Code("foreignKeyViolation")
    }

    public let code: Code
    /// `user_version` when the failure happened (unchanged by a failed migration).
    public let databaseVersion: Int32
    public let migrationVersion: Int32?
    public let migrationName: String?
    public let message: String
    /// The error the migration threw, for `.migrationFailed`.
    public let underlying: (any Error)?

    public init(
        code: Code,
        databaseVersion: Int32,
        migrationVersion: Int32? = nil,
        migrationName: String? = nil,
        message: String,
        underlying: (any Error)? = nil
    ) {
        self.code = code
        self.databaseVersion = databaseVersion
        self.migrationVersion = migrationVersion
        self.migrationName = migrationName
        self.message = message
        self.underlying = underlying
    }

    public var description: String { message }
}
