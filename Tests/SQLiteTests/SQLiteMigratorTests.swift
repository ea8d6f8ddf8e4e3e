import SQLite
import Testing

private struct MigrationBroke: Error {}

/// Records the order in which migrations ran.
private final class RunLog {
    var versions: [Int32] = []
}

private func makeMigrator(_ log: RunLog, upTo last: Int32 = 3) -> SQLiteMigrator {
    var migrator = SQLiteMigrator()
    // Registered out of order on purpose: versions decide the order.
    if last >= 2 {
        migrator.register(version: 2, name: "add email") { db in
            log.versions.append(2)
            try db.execute("ALTER TABLE customers ADD COLUMN email TEXT")
        }
    }
    migrator.register(version: 1, name: "create customers") { db in
        log.versions.append(1)
        try db.execute("CREATE TABLE customers(id TEXT PRIMARY KEY)")
    }
    if last >= 3 {
        migrator.register(version: 3, name: "index email") { db in
            log.versions.append(3)
            try db.execute("CREATE INDEX customers_email ON customers(email)")
        }
    }
    return migrator
}

@Suite("SQLite migrations")
struct SQLiteMigratorTests {
    @Test("migrations run in version order and set user_version")
    func runInOrder() throws {
        try withTemporaryDirectory { dir in
            let db = try SQLiteConnection(path: dir + "/m.db", options: testOptions())
            let log = RunLog()
            let migrator = makeMigrator(log)
            #expect(migrator.latestVersion == 3)
            let result = try migrator.migrate(db)
            #expect(result.from == 0 && result.to == 3)
            #expect(log.versions == [1, 2, 3])
            #expect(try SQLiteMigrator.userVersion(db) == 3)
            try db.prepare("INSERT INTO customers(id, email) VALUES (?, ?)").run([.text("c1"), .text("a@b.c")])
        }
    }

    @Test("migrating again is a no-op, and new code only runs the new migrations")
    func idempotentAndIncremental() throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/m.db"
            let log = RunLog()
            do {
                let db = try SQLiteConnection(path: path, options: testOptions())
                let first = try makeMigrator(log, upTo: 2).migrate(db)
                #expect(first.from == 0 && first.to == 2)
                let again = try makeMigrator(log, upTo: 2).migrate(db)
                #expect(again.from == 2 && again.to == 2)
                #expect(log.versions == [1, 2])
            }
            let reopened = try SQLiteConnection(path: path, options: testOptions())
            let upgrade = try makeMigrator(log).migrate(reopened)
            #expect(upgrade.from == 2 && upgrade.to == 3)
            #expect(log.versions == [1, 2, 3])
        }
    }

    @Test("a failing migration rolls back its changes and leaves user_version unchanged")
    func failureLeavesVersion() throws {
        try withTemporaryDirectory { dir in
            let db = try SQLiteConnection(path: dir + "/m.db", options: testOptions())
            let log = RunLog()
            var migrator = makeMigrator(log, upTo: 1)
            migrator.register(version: 2, name: "half done") { db in
                try db.execute("CREATE TABLE half(x)")
                throw MigrationBroke()
            }
            let error = #expect(throws: SQLiteMigrationError.self) { try migrator.migrate(db) }
            #expect(error?.code == .migrationFailed)
            #expect(error?.migrationVersion == 2)
            #expect(error?.migrationName == "half done")
            #expect(error?.databaseVersion == 1)
            #expect(error?.underlying is MigrationBroke)
            #expect(try SQLiteMigrator.userVersion(db) == 1)  // migration 1 stays applied
            #expect(try db.scalar("SELECT count(*) FROM sqlite_schema WHERE name = 'half'") == 0)
            #expect(!db.isInTransaction)
            #expect(try db.scalar("PRAGMA foreign_keys") == 1)  // switched back on after the failure
        }
    }

    @Test("a database with a higher user_version is refused with a clear error")
    func newerDatabaseRefused() throws {
        try withTemporaryDirectory { dir in
            let db = try SQLiteConnection(path: dir + "/m.db", options: testOptions())
            try db.execute("PRAGMA user_version = 7")
            let log = RunLog()
            let error = #expect(throws: SQLiteMigrationError.self) { try makeMigrator(log).migrate(db) }
            #expect(error?.code == .databaseNewerThanCode)
            #expect(error?.databaseVersion == 7)
            #expect(error?.message.contains("7") == true)
            #expect(error?.message.contains("newer") == true)
            #expect(log.versions.isEmpty)
            #expect(try SQLiteMigrator.userVersion(db) == 7)
        }
    }

    @Test("duplicate or non-positive versions are refused before anything runs")
    func invalidRegistration() throws {
        let db = try SQLiteConnection(path: ":memory:")
        let log = RunLog()
        var duplicate = makeMigrator(log)
        duplicate.register(version: 2, name: "again") { _ in }
        let error = #expect(throws: SQLiteMigrationError.self) { try duplicate.migrate(db) }
        #expect(error?.code == .invalidRegistration)
        #expect(log.versions.isEmpty)

        var zero = SQLiteMigrator()
        zero.register(version: 0, name: "zero") { _ in }
        #expect(throws: SQLiteMigrationError.self) { try zero.migrate(db) }
    }

    @Test("rebuilding a parent table in a migration does not cascade-delete its children")
    func tableRebuildKeepsChildren() throws {
        let db = try SQLiteConnection(path: ":memory:")
        var migrator = SQLiteMigrator()
        migrator.register(version: 1, name: "schema") { db in
            try db.execute(
                """
                CREATE TABLE parent(id INTEGER PRIMARY KEY, name TEXT);
                CREATE TABLE child(id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent(id) ON DELETE CASCADE);
                INSERT INTO parent VALUES (1, 'p');
                INSERT INTO child VALUES (10, 1);
                """)
        }
        migrator.register(version: 2, name: "rebuild parent") { db in
            try db.execute(
                """
                CREATE TABLE parent_new(id INTEGER PRIMARY KEY, name TEXT NOT NULL);
                INSERT INTO parent_new SELECT id, name FROM parent;
                DROP TABLE parent;
                ALTER TABLE parent_new RENAME TO parent;
                """)
        }
        try migrator.migrate(db)
        #expect(try db.scalar("SELECT count(*) FROM child") == 1)
    }

    @Test("a migration that leaves a broken foreign key is rolled back")
    func foreignKeyCheck() throws {
        let db = try SQLiteConnection(path: ":memory:")
        var migrator = SQLiteMigrator()
        migrator.register(version: 1, name: "orphan") { db in
            try db.execute(
                """
                CREATE TABLE parent(id INTEGER PRIMARY KEY);
                CREATE TABLE child(parent_id INTEGER REFERENCES parent(id));
                INSERT INTO child VALUES (42);
                """)
        }
        let error = #expect(throws: SQLiteMigrationError.self) { try migrator.migrate(db) }
        #expect(error?.code == .foreignKeyViolation)
        #expect(error?.message.contains("child") == true)
        #expect(try SQLiteMigrator.userVersion(db) == 0)
        #expect(try db.scalar("SELECT count(*) FROM sqlite_schema") == 0)
    }
}
