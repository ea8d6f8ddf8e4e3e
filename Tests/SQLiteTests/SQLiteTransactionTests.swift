import SQLite
import Testing

private struct Boom: Error, Equatable {}

@Suite("SQLite transactions and concurrency")
struct SQLiteTransactionTests {
    @Test("a transaction commits and returns the body's value")
    func commits() throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/tx.db"
            let db = try SQLiteConnection(path: path, options: testOptions())
            try db.execute("CREATE TABLE t(x)")
            let inserted = try db.transaction {
                #expect(db.isInTransaction)
                try db.prepare("INSERT INTO t VALUES (?)").run([.integer(1)])
                return db.changes
            }
            #expect(inserted == 1)
            #expect(!db.isInTransaction)
            let other = try SQLiteConnection(path: path, options: testOptions())
            #expect(try other.scalar("SELECT count(*) FROM t") == 1)
        }
    }

    @Test("a throwing body rolls back and its own error surfaces")
    func rollsBack() throws {
        let db = try SQLiteConnection(path: ":memory:")
        try db.execute("CREATE TABLE t(x)")
        #expect(throws: Boom()) {
            try db.transaction {
                try db.prepare("INSERT INTO t VALUES (?)").run([.integer(1)])
                throw Boom()
            }
        }
        #expect(!db.isInTransaction)
        #expect(try db.scalar("SELECT count(*) FROM t") == 0)
    }

    @Test("a failing rollback does not mask the body's error")
    func rollbackFailureDoesNotMask() throws {
        let db = try SQLiteConnection(path: ":memory:")
        try db.execute("CREATE TABLE t(x)")
        // The body ends the transaction itself, so there is nothing left to roll back.
        #expect(throws: Boom()) {
            try db.transaction {
                try db.execute("ROLLBACK")
                throw Boom()
            }
        }
        // A SQLite error from the body surfaces as itself too.
        let error = #expect(throws: SQLiteError.self) {
            try db.transaction { try db.execute("INSERT INTO nowhere VALUES (1)") }
        }
        #expect(error?.message.contains("no such table") == true)
        #expect(!db.isInTransaction)
    }

    @Test("a failing COMMIT rolls back and throws the commit error")
    func commitFailure() throws {
        let db = try SQLiteConnection(path: ":memory:")
        try db.execute(
            """
            CREATE TABLE parent(id INTEGER PRIMARY KEY);
            CREATE TABLE child(parent_id INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED);
            """)
        let error = #expect(throws: SQLiteError.self) {
            try db.transaction { try db.prepare("INSERT INTO child VALUES (?)").run([.integer(5)]) }
        }
        #expect(error?.code == .constraint)
        #expect(error?.sql == "COMMIT")
        #expect(!db.isInTransaction)
        #expect(try db.scalar("SELECT count(*) FROM child") == 0)
    }

    @Test("transactions do not nest: an inner one fails and the outer rolls back")
    func noNesting() throws {
        let db = try SQLiteConnection(path: ":memory:")
        try db.execute("CREATE TABLE t(x)")
        let error = #expect(throws: SQLiteError.self) {
            try db.transaction {
                try db.prepare("INSERT INTO t VALUES (1)").run()
                try db.transaction {}
            }
        }
        #expect(error?.code == .error)
        #expect(error?.message.contains("within a transaction") == true)
        #expect(try db.scalar("SELECT count(*) FROM t") == 0)
    }

    @Test("a reader connection sees committed data and is not blocked by an open write (WAL)")
    func concurrentReader() throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/wal.db"
            let writer = try SQLiteConnection(path: path, options: testOptions())
            try writer.execute("CREATE TABLE t(x)")
            let insert = try writer.prepare("INSERT INTO t VALUES (?)")
            try writer.transaction { try insert.run([.integer(1)]) }

            var readOnly = testOptions(busyTimeoutMilliseconds: 0)  // a blocked read would fail at once
            readOnly.readOnly = true
            let reader = try SQLiteConnection(path: path, options: readOnly)
            #expect(try reader.scalar("SELECT count(*) FROM t") == 1)

            // While the writer holds an open write transaction, the reader still reads the last commit.
            try writer.execute("BEGIN IMMEDIATE")
            try insert.run([.integer(2)])
            #expect(try reader.scalar("SELECT count(*) FROM t") == 1)
            try writer.execute("COMMIT")
            #expect(try reader.scalar("SELECT count(*) FROM t") == 2)

            // A read transaction keeps its snapshot while the writer commits underneath it.
            try reader.transaction(.deferred) {
                #expect(try reader.scalar("SELECT count(*) FROM t") == 2)
                try writer.transaction { try insert.run([.integer(3)]) }
                #expect(try reader.scalar("SELECT count(*) FROM t") == 2)
            }
            #expect(try reader.scalar("SELECT count(*) FROM t") == 3)
        }
    }

    @Test("a second writer gets .busy once its busy timeout has passed")
    func busyWriter() throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/busy.db"
            let first = try SQLiteConnection(path: path, options: testOptions())
            try first.execute("CREATE TABLE t(x)")
            let second = try SQLiteConnection(path: path, options: testOptions(busyTimeoutMilliseconds: 100))

            try first.execute("BEGIN IMMEDIATE")
            let clock = ContinuousClock()
            let started = clock.now
            let error = #expect(throws: SQLiteError.self) {
                try second.transaction { try second.prepare("INSERT INTO t VALUES (?)").run([.integer(1)]) }
            }
            let waited = clock.now - started
            #expect(error?.code == .busy)
            #expect(error.map { ResultCode.busy ~= $0 } == true)
            #expect(waited >= .milliseconds(90), "SQLite retried for the busy timeout before giving up")
            #expect(!second.isInTransaction)

            try first.execute("COMMIT")
            try second.transaction { try second.prepare("INSERT INTO t VALUES (?)").run([.integer(1)]) }
            #expect(try first.scalar("SELECT count(*) FROM t") == 1)
        }
    }
}
