import Foundation
import HTTPTestClient
@testable import PostgreSQL
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("PostgreSQL connection (real server)", .enabled(if: TestDatabase.isAvailable, "needs CUSTOMER_CACHE_TEST_DATABASE_URL (scripts/test starts a server)"))
struct PostgresConnectionTests {
    @Test("parameters round-trip as text, integers, booleans, NULL and arbitrary bytes")
    func parameters() throws {
        let database = try TestDatabase()
        let connection = try database.connect()
        let bytes: [UInt8] = [0, 1, 0x5C, 0x27, 0xFF, 0x22]
        let rows = try connection.execute("SELECT $1::text, $2::bigint, $3::boolean, $4::text IS NULL, $5::bytea, length($5::bytea)",
                                          [.text("o'hara \\ \"x\" ünï"), .integer(-9_000_000_000), .boolean(true), .null, .bytes(bytes)])
        #expect(rows.text(0, 0) == "o'hara \\ \"x\" ünï")
        #expect(rows.integer(0, 1) == -9_000_000_000)
        #expect(rows.boolean(0, 2) == true)
        #expect(rows.boolean(0, 3) == true)
        #expect(rows.bytes(0, 4) == bytes)
        #expect(rows.integer(0, 5) == 6)
    }

    @Test("array literals survive quotes, backslashes and commas in elements")
    func arrays() throws {
        let database = try TestDatabase()
        let connection = try database.connect()
        let texts = ["a,b", "q\"uote", "back\\slash", "", "{}"]
        let rows = try connection.execute("SELECT unnest($1::text[]), unnest($2::bytea[]), unnest($3::bigint[]), unnest($4::boolean[])",
                                          [.textArray(texts), .bytesArray([[1], [0xAB, 0], [], [0x22], [0x5C]]),
                                           .integerArray([1, 2, 3, 4, 5]), .booleanArray([true, false, true, false, true])])
        #expect(rows.rows.map { $0[0] } == texts)
        #expect((0..<5).map { rows.bytes($0, 1) } == [[1], [0xAB, 0], [], [0x22], [0x5C]])
        #expect((0..<5).map { rows.integer($0, 2) } == [1, 2, 3, 4, 5])
    }

    @Test("binary-format rows read the same as text-format ones: every integer width, booleans, bytea, text and NULL")
    func binaryRows() throws {
        let database = try TestDatabase()
        let connection = try database.connect()
        let bytes: [UInt8] = [0, 0x5C, 0x78, 0xFF, 0x7B]
        let sql = """
            SELECT $1::smallint, $2::integer, $3::bigint, true, false, $4::bytea, 'ünï'::text, NULL::bigint, NULL::bytea, ''::bytea, 7::bigint::text
            """
        let parameters: [PostgresValue] = [.integer(-32768), .integer(-2_000_000_000), .integer(Int64.min), .bytes(bytes)]
        let text = try connection.execute(sql, parameters)
        let binary = try connection.execute(sql, parameters, binaryResults: true)
        for rows in [text, binary] {
            #expect(rows.integer(0, 0) == -32768)
            #expect(rows.integer(0, 1) == -2_000_000_000)
            #expect(rows.integer(0, 2) == Int64.min)
            #expect(rows.boolean(0, 3) == true)
            #expect(rows.boolean(0, 4) == false)
            #expect(rows.bytes(0, 5) == bytes)
            #expect(rows.text(0, 6) == "ünï")
            #expect(rows.integer(0, 7) == nil)
            #expect(rows.bytes(0, 8) == nil)
            #expect(rows.bytes(0, 9) == [])
            #expect(rows.integer(0, 10) == 7)
        }
        // A pipelined statement may ask for binary rows too.
        let piped = try connection.pipeline([PostgresStatement("SELECT $1::bigint, $2::bytea", [.integer(42), .bytes(bytes)], binaryResults: true)])
        #expect(piped[0].integer(0, 0) == 42)
        #expect(piped[0].bytes(0, 1) == bytes)
    }

    @Test("empty arrays of every element type are valid parameters")
    func emptyArrays() throws {
        let database = try TestDatabase()
        let connection = try database.connect()
        let rows = try connection.execute("SELECT cardinality($1::text[]), cardinality($2::bytea[]), cardinality($3::bigint[]), cardinality($4::boolean[])",
                                          [.textArray([]), .bytesArray([]), .integerArray([]), .booleanArray([])])
        #expect((0..<4).map { rows.integer(0, $0) } == [0, 0, 0, 0])
        // A bigint[] may be cast to the column's narrower type.
        #expect(try connection.execute("SELECT sum(x) FROM unnest($1::smallint[]) x", [.integerArray([1, 2, 300])]).integer(0, 0) == 303)
    }

    @Test("a statement is prepared once per session, in the round trip of its first use; a failed Prepare is not remembered")
    func preparedOnce() throws {
        let database = try TestDatabase()
        let connection = try database.connect()
        try connection.execute("CREATE TABLE t (id text PRIMARY KEY)")
        let insert = PostgresStatement("INSERT INTO t SELECT unnest($1::text[])", [.textArray(["a"])])
        let before = connection.roundTrips
        try connection.pipeline([insert, PostgresStatement(insert.sql, [.textArray(["b", "c"])])])
        #expect(connection.roundTrips - before == 1)
        try connection.pipeline([PostgresStatement(insert.sql, [.textArray(["d"])])])
        let prepared = try connection.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement = $1", [.text(insert.sql)])
        #expect(prepared.integer(0, 0) == 1)
        #expect(try connection.execute("SELECT count(*) FROM t").integer(0, 0) == 4)
        // A statement that fails to prepare (no such table yet) fails, and works once the table exists.
        let later = PostgresStatement("INSERT INTO later VALUES ($1)", [.text("x")])
        #expect(throws: PostgresError.self) { try connection.pipeline([later]) }
        #expect(throws: PostgresError.self) { try connection.execute(later.sql, later.parameters) }
        try connection.execute("CREATE TABLE later (id text)")
        try connection.pipeline([later])
        try connection.execute(later.sql, later.parameters)
        #expect(try connection.execute("SELECT count(*) FROM later").integer(0, 0) == 2)
        // Skipped after an earlier failure in the same pipeline: not prepared, so the next use prepares it.
        let skipped = PostgresStatement("SELECT $1::bigint + 1", [.integer(1)])
        #expect(throws: PostgresError.self) { try connection.pipeline([PostgresStatement("SELECT 1/0"), skipped]) }
        #expect(try connection.pipeline([skipped])[0].integer(0, 0) == 2)
    }

    @Test("a unique violation carries SQLSTATE 23505 and no row values in its message")
    func uniqueViolation() throws {
        let database = try TestDatabase()
        let connection = try database.connect()
        try connection.execute("CREATE TABLE t (id text PRIMARY KEY)")
        try connection.execute("INSERT INTO t VALUES ($1)", [.text("secret-value@example.com")])
        let error = #expect(throws: PostgresError.self) { try connection.execute("INSERT INTO t VALUES ($1)", [.text("secret-value@example.com")]) }
        #expect(error?.sqlState == "23505")
        #expect(error?.code == .statement)
        #expect(error?.description.contains("secret-value") == false)
        // The connection stays usable after a statement error.
        #expect(try connection.execute("SELECT count(*) FROM t").integer(0, 0) == 1)
    }

    @Test("a transaction that throws rolls back; one that commits is visible to another session")
    func transactions() throws {
        let database = try TestDatabase()
        let connection = try database.connect()
        let other = try database.connect()
        try connection.execute("CREATE TABLE t (n bigint)")
        struct Abort: Error {}
        #expect(throws: Abort.self) {
            try connection.transaction { connection in
                try connection.execute("INSERT INTO t VALUES (1)")
                throw Abort()
            }
        }
        _ = try connection.transaction { connection in try connection.execute("INSERT INTO t VALUES (2)") }
        #expect(try other.execute("SELECT n FROM t").rows == [["2"]])
    }

    @Test("COMMIT of a transaction the server aborted is an error, not a silent rollback")
    func abortedCommit() throws {
        let database = try TestDatabase()
        let connection = try database.connect()
        try connection.execute("CREATE TABLE t (n bigint PRIMARY KEY)")
        #expect(throws: PostgresError.self) {
            try connection.transaction { connection in
                try connection.execute("INSERT INTO t VALUES (1)")
                _ = try? connection.execute("INSERT INTO t VALUES (1)")  // aborts the transaction; swallowed here
            }
        }
        #expect(try connection.execute("SELECT count(*) FROM t").integer(0, 0) == 0)
    }

    @Test("a wrong password fails with a connection error that does not contain the password")
    func wrongPassword() throws {
        let server = try #require(TestDatabase.server)
        let error = #expect(throws: PostgresError.self) {
            try PostgresConnection(PostgresConfiguration(connectionString: server.url, password: "hunter2-wrong"))
        }
        #expect(error?.code == .connection)
        #expect(error?.description.contains("hunter2") == false)
    }

    @Test("redaction hides passwords in URLs and key/value strings")
    func redaction() {
        #expect(PostgresConfiguration.redact("postgres://u:s3cret@h:5432/db") == "postgres://u:***@h:5432/db")
        #expect(PostgresConfiguration.redact("postgres://h/db?password=s3cret&sslmode=require") == "postgres://h/db?password=***&sslmode=require")
        #expect(PostgresConfiguration.redact("host=h password=s3cret dbname=x") == "host=h password=*** dbname=x")
        #expect(PostgresConfiguration.redact("postgres://u@h/db") == "postgres://u@h/db")
    }

    @Test("LISTEN receives a NOTIFY sent by another session only after that session commits")
    func listenNotify() throws {
        let database = try TestDatabase()
        let listener = try database.connect()
        let sender = try database.connect()
        let channel = "ch_" + database.schema
        try listener.listen(channel)
        try sender.transaction { connection in
            try connection.notify(channel, payload: "42")
            #expect(try listener.waitForNotifications(timeoutMilliseconds: 200).isEmpty)
        }
        var received: [PostgresNotification] = []
        let deadline = Date().addingTimeInterval(10)
        while received.isEmpty, Date() < deadline { received = try listener.waitForNotifications(timeoutMilliseconds: 500) }
        #expect(received.map(\.channel) == [channel])
        #expect(received.map(\.payload) == ["42"])
    }

    @Test("a transaction advisory lock makes a second session wait until the first commits")
    func advisoryLock() throws {
        let database = try TestDatabase()
        let first = try database.connect()
        let second = try database.connect()
        let key = Int64.random(in: 1...Int64.max)
        try first.execute("BEGIN")
        try first.advisoryTransactionLock(key)
        #expect(try second.tryAdvisoryLock(key) == false)
        try first.execute("COMMIT")
        #expect(try second.tryAdvisoryLock(key) == true)
        try second.advisoryUnlock(key)
    }

    @Test("migrations run once when eight sessions migrate at the same moment, and refuse a newer database")
    func concurrentMigrations() async throws {
        let database = try TestDatabase()
        var migrator = PostgresMigrator(lockKey: Int64.random(in: 1...Int64.max))
        migrator.register(version: 1, name: "t", sql: "CREATE TABLE t (n bigint); INSERT INTO t VALUES (1);")
        migrator.register(version: 2, name: "u", sql: "INSERT INTO t VALUES (2);")
        let finalMigrator = migrator
        let results = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<8 {
                group.addTask { try finalMigrator.migrate(try database.connect()).from }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.filter { $0 == 0 }.count == 1)
        #expect(results.filter { $0 == 2 }.count == 7)
        let connection = try database.connect()
        #expect(try connection.execute("SELECT n FROM t ORDER BY n").rows == [["1"], ["2"]])
        var older = PostgresMigrator(lockKey: migrator.lockKey)
        older.register(version: 1, name: "t", sql: "SELECT 1")
        #expect(throws: PostgresError.self) { try older.migrate(connection) }
    }

    @Test("a server-side terminated session reports a transient connection error, and reset reconnects")
    func terminatedSession() throws {
        let database = try TestDatabase()
        let victim = try database.connect()
        let killer = try database.connect()
        let pid = try #require(try victim.execute("SELECT pg_backend_pid()").integer(0, 0))
        try killer.execute("SELECT pg_terminate_backend($1::int)", [.integer(pid)])
        let error = #expect(throws: PostgresError.self) { try victim.execute("SELECT 1") }
        #expect(error?.isTransient == true)
        try victim.reset()
        #expect(try victim.execute("SELECT 1").integer(0, 0) == 1)
    }

    @Test("a pipeline sends every statement in one round trip and returns each statement's rows in order")
    func pipelineOneRoundTrip() throws {
        let database = try TestDatabase()
        let connection = try database.connect()
        try connection.execute("CREATE TABLE t (id text PRIMARY KEY, n bigint)")
        let before = connection.roundTrips
        let results = try connection.pipeline([
            PostgresStatement("INSERT INTO t SELECT unnest($1::text[]), 1", [.textArray(["a", "b", "c"])]),
            PostgresStatement("UPDATE t SET n = n + $1 WHERE id <> $2", [.integer(41), .text("c")]),
            PostgresStatement("SELECT id, n FROM t ORDER BY id"),
        ])
        #expect(connection.roundTrips - before == 1)
        #expect(results.count == 3)
        #expect(results[0].affectedRows == 3)
        #expect(results[1].affectedRows == 2)
        #expect(results[2].rows == [["a", "42"], ["b", "42"], ["c", "1"]])
    }

    @Test("in a pipeline the first failure is thrown, later statements are skipped, and the connection stays usable")
    func pipelineFailure() throws {
        let database = try TestDatabase()
        let connection = try database.connect()
        try connection.execute("CREATE TABLE t (id text PRIMARY KEY)")
        let error = #expect(throws: PostgresError.self) {
            try connection.pipeline([
                PostgresStatement("INSERT INTO t VALUES ($1)", [.text("x")]),
                PostgresStatement("INSERT INTO t VALUES ($1)", [.text("x")]),
                PostgresStatement("INSERT INTO t VALUES ($1)", [.text("y")]),
            ])
        }
        #expect(error?.sqlState == "23505")
        // Outside BEGIN the statements up to the Sync are one implicit transaction: the failure rolled back the first.
        #expect(try connection.execute("SELECT count(*) FROM t").integer(0, 0) == 0)
        #expect(try connection.pipeline([PostgresStatement("SELECT 7")])[0].integer(0, 0) == 7)
    }

    @Test("a pipelined transaction commits in two round trips, and a failing write rolls back its reads' writes too")
    func pipelinedTransaction() throws {
        let database = try TestDatabase()
        let connection = try database.connect()
        try connection.execute("CREATE TABLE t (id text PRIMARY KEY, n bigint)")
        try connection.execute("INSERT INTO t VALUES ('a', 1)")
        let before = connection.roundTrips
        let read = try connection.pipelinedTransaction([PostgresStatement("SELECT n FROM t WHERE id = 'a' FOR UPDATE")]) { rows in
            (writes: [PostgresStatement("UPDATE t SET n = $1 WHERE id = 'a'", [.integer((rows[0].integer(0, 0) ?? 0) + 1)])], value: rows[0].integer(0, 0))
        }
        #expect(read == 1)
        #expect(connection.roundTrips - before == 2)
        #expect(throws: PostgresError.self) {
            try connection.pipelinedTransaction([PostgresStatement("INSERT INTO t VALUES ('b', 0)")]) { _ in
                (writes: [PostgresStatement("UPDATE t SET n = 100"), PostgresStatement("INSERT INTO t VALUES ('a', 0)")], value: ())
            }
        }
        let other = try database.connect()
        #expect(try other.execute("SELECT id, n FROM t ORDER BY id").rows == [["a", "2"]])
        #expect(try connection.execute("SELECT 1").integer(0, 0) == 1)
    }

    @Test("checkAlive notices a session the server terminated while it sat idle, without a round trip; a live one stays alive")
    func checkAliveNoticesTermination() throws {
        let database = try TestDatabase()
        let victim = try database.connect()
        let killer = try database.connect()
        #expect(victim.checkAlive())
        let pid = try #require(try victim.execute("SELECT pg_backend_pid()").integer(0, 0))
        try killer.execute("SELECT pg_terminate_backend($1::int, 5000)", [.integer(pid)])
        // The FATAL and the EOF arrive together; before this, the next statement was the first to learn of it.
        #expect(victim.checkAlive() == false)
        #expect(killer.checkAlive())
        #expect(try killer.execute("SELECT 1").integer(0, 0) == 1)
    }

    @Test("a refused connection is a one-line connection-loss error")
    func refusedConnection() throws {
        var configuration = PostgresConfiguration(connectionString: "postgres://nobody@127.0.0.1:1/none")
        configuration.connectTimeoutSeconds = 2
        let error = #expect(throws: PostgresError.self) { try PostgresConnection(configuration) }
        #expect(error?.isConnectionLoss == true)
        #expect(error?.message.contains("\n") == false, "libpq's line breaks would split a log record: \(error?.message ?? "")")
    }

    @Test("the dead-connection timeout reaches the socket: keepalives on, first probe after half of it, tcp_user_timeout = it")
    func deadConnectionTimeoutOnTheSocket() throws {
        let database = try TestDatabase()
        var configuration = database.configuration
        configuration.deadConnectionTimeoutMilliseconds = 8_000
        let connection = try PostgresConnection(configuration)
        func option(_ connection: PostgresConnection, _ level: Int32, _ name: Int32) -> Int32 {
            var value: Int32 = -1
            var length = socklen_t(MemoryLayout<Int32>.size)
            _ = getsockopt(connection.socket, level, name, &value, &length)
            return value
        }
        let tcp = Int32(IPPROTO_TCP), userTimeout: Int32 = 18  // TCP_USER_TIMEOUT
        #expect(option(connection, SOL_SOCKET, SO_KEEPALIVE) == 1)
        #expect(option(connection, tcp, TCP_KEEPIDLE) == 4)
        #expect(option(connection, tcp, TCP_KEEPCNT) == 3)
        #expect(option(connection, tcp, userTimeout) == 8_000)
        // Without the setting, libpq's defaults: no user timeout.
        var plain = database.configuration
        plain.deadConnectionTimeoutMilliseconds = nil
        #expect(option(try PostgresConnection(plain), tcp, userTimeout) == 0)
    }
}
