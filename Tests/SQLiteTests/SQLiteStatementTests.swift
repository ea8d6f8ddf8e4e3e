import SQLite
import Testing

/// 1 MiB of a repeating, non-constant pattern.
let oneMebibyte: [UInt8] = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }

@Suite("SQLite statement")
struct SQLiteStatementTests {
    static let roundTripValues: [(SQLiteValue, String)] = [
        (.null, "null"),
        (.integer(0), "integer"),
        (.integer(-1), "integer"),
        (.integer(.min), "integer"),
        (.integer(.max), "integer"),
        (.real(3.141592653589793), "real"),
        (.real(-1e300), "real"),
        (.real(.greatestFiniteMagnitude), "real"),
        (.real(.infinity), "real"),
        (.text(""), "text"),
        (.text("plain ascii"), "text"),
        (.text("héllo wörld, 日本語, emoji 🎉👩‍👩‍👧, RTL עברית"), "text"),
        (.text("embedded\u{0}nul"), "text"),
        (.blob([]), "blob"),
        (.blob([0]), "blob"),
        (.blob([0, 1, 2, 0x7F, 0x80, 0xFF]), "blob"),
        (.blob(oneMebibyte), "blob"),
    ]

    @Test("every value type round-trips with its storage class", arguments: roundTripValues)
    func roundTrip(value: SQLiteValue, storageClass: String) throws {
        let db = try SQLiteConnection(path: ":memory:")
        try db.execute("CREATE TABLE t(v)")  // no declared type: no affinity conversions
        try db.prepare("INSERT INTO t(v) VALUES (?)").run([value])

        let select = try db.prepare("SELECT v, typeof(v) FROM t")
        #expect(try select.step())
        #expect(select.value(at: 0) == value)
        #expect(select.text(at: 1) == storageClass)  // empty text/blob must not turn into NULL
        #expect(select.isNull(at: 0) == (value == .null))
        switch value {
        case .null:
            #expect(select.text(at: 0) == nil)
            #expect(select.blob(at: 0) == nil)
        case .integer(let number):
            #expect(select.int64(at: 0) == number)
        case .real(let number):
            #expect(select.double(at: 0) == number)
        case .text(let text):
            #expect(select.text(at: 0) == text)
        case .blob(let bytes):
            #expect(select.blob(at: 0) == bytes)
            #expect(select.withBlob(at: 0) { $0.elementsEqual(bytes) })
        }
        #expect(try select.step() == false)
    }

    @Test("a 1 MiB blob is readable without copying through withBlob")
    func zeroCopyBlob() throws {
        let db = try SQLiteConnection(path: ":memory:")
        try db.execute("CREATE TABLE t(v BLOB)")
        try db.prepare("INSERT INTO t(v) VALUES (?)").run([.blob(oneMebibyte)])
        let select = try db.prepare("SELECT v FROM t")
        #expect(try select.step())
        let (count, checksum) = select.withBlob(at: 0) { buffer in
            (buffer.count, buffer.reduce(UInt64(0)) { $0 &* 31 &+ UInt64($1) })
        }
        #expect(count == 1 << 20)
        #expect(checksum == oneMebibyte.reduce(UInt64(0)) { $0 &* 31 &+ UInt64($1) })
    }

    @Test("an empty buffer with no base address binds an empty blob and empty text, not NULL")
    func emptyBuffersWithoutBaseAddress() throws {
        let db = try SQLiteConnection(path: ":memory:")
        let select = try db.prepare("SELECT typeof(?1), length(?1), typeof(?2), length(?2)")
        let empty = UnsafeRawBufferPointer(start: nil, count: 0)
        try select.bind(blob: empty, at: 1)
        try select.bind(utf8Text: empty, at: 2)
        #expect(try select.step())
        #expect(select.text(at: 0) == "blob")
        #expect(select.int64(at: 1) == 0)
        #expect(select.text(at: 2) == "text")
        #expect(select.int64(at: 3) == 0)
    }

    @Test("bound bytes are copied: changing the buffer after bind does not change the value")
    func bindCopies() throws {
        let db = try SQLiteConnection(path: ":memory:")
        let select = try db.prepare("SELECT ?, ?")
        var bytes: [UInt8] = Array("original".utf8)
        try bytes.withUnsafeBytes { try select.bind(blob: $0, at: 1) }
        try bytes.withUnsafeBytes { try select.bind(utf8Text: $0, at: 2) }
        bytes.withUnsafeMutableBytes { $0.copyBytes(from: "CLOBBERD".utf8) }
        #expect(try select.step())
        #expect(select.blob(at: 0) == Array("original".utf8))
        #expect(select.text(at: 1) == "original")
    }

    @Test("binding NaN stores NULL, as SQLite defines")
    func nanBindsNull() throws {
        let db = try SQLiteConnection(path: ":memory:")
        let select = try db.prepare("SELECT ?")
        try select.bind([.real(.nan)])
        #expect(try select.step())
        #expect(select.value(at: 0) == .null)
    }

    @Test("a UNIQUE violation is .constraint with SQLite's message and never the bound value")
    func uniqueViolation() throws {
        let db = try SQLiteConnection(path: ":memory:")
        try db.execute("CREATE TABLE people(id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE)")
        let insert = try db.prepare("INSERT INTO people(email) VALUES (?)")
        try insert.run([.text("secret@example.com")])
        let error = #expect(throws: SQLiteError.self) { try insert.run([.text("secret@example.com")]) }
        #expect(error?.code == .constraint)
        #expect(error?.extended == .constraintUnique)
        #expect(error?.extendedCode == 2067)
        #expect(error?.operation == "step")
        #expect(error?.message == "UNIQUE constraint failed: people.email")
        #expect(error?.sql == "INSERT INTO people(email) VALUES (?)")
        #expect(error.map { "\($0)".contains("secret@example.com") } == false)
        #expect(error.map { ResultCode.constraint ~= $0 } == true)
        // The statement was reset by the failure and is usable again.
        try insert.run([.text("other@example.com")])
        #expect(try db.scalar("SELECT count(*) FROM people") == 2)
    }

    @Test("a missing parent row is a foreign key violation, because foreign keys are enforced")
    func foreignKeyViolation() throws {
        let db = try SQLiteConnection(path: ":memory:")
        try db.execute(
            """
            CREATE TABLE parent(id INTEGER PRIMARY KEY);
            CREATE TABLE child(id INTEGER PRIMARY KEY, parent_id INTEGER NOT NULL REFERENCES parent(id));
            """)
        let error = #expect(throws: SQLiteError.self) {
            try db.prepare("INSERT INTO child(parent_id) VALUES (?)").run([.integer(99)])
        }
        #expect(error?.code == .constraint)
        #expect(error?.extended == .constraintForeignKey)
        #expect(error?.message == "FOREIGN KEY constraint failed")
    }

    @Test("a syntax error fails at prepare with .error, the operation and the SQL")
    func syntaxError() throws {
        let db = try SQLiteConnection(path: ":memory:")
        let error = #expect(throws: SQLiteError.self) { _ = try db.prepare("SELEC 1") }
        #expect(error?.code == .error)
        #expect(error?.operation == "prepare")
        #expect(error?.message.contains("syntax error") == true)
        #expect(error?.sql == "SELEC 1")
        #expect(error.map { "\($0)".contains("during prepare") } == true)
    }

    @Test("prepare refuses text holding a second statement, and empty text")
    func prepareTakesOneStatement() throws {
        let db = try SQLiteConnection(path: ":memory:")
        try db.execute("CREATE TABLE t(x)")
        let two = #expect(throws: SQLiteError.self) { _ = try db.prepare("SELECT 1; DROP TABLE t") }
        #expect(two?.code == .misuse)
        let empty = #expect(throws: SQLiteError.self) { _ = try db.prepare("  -- nothing\n") }
        #expect(empty?.code == .misuse)
        // Trailing whitespace, semicolons and comments are fine.
        #expect(try db.scalar("SELECT 7;  -- done\n") == 7)
        #expect(try db.scalar("SELECT count(*) FROM t") == 0)  // t still exists
    }

    @Test("binding the wrong number of values is .range")
    func bindCountMismatch() throws {
        let db = try SQLiteConnection(path: ":memory:")
        let statement = try db.prepare("SELECT ?, ?")
        #expect(statement.parameterCount == 2)
        let error = #expect(throws: SQLiteError.self) { try statement.bind([.integer(1)]) }
        #expect(error?.code == .range)
        let outOfRange = #expect(throws: SQLiteError.self) { try statement.bind(.integer(1), at: 3) }
        #expect(outOfRange?.code == .range)
        #expect(outOfRange?.operation == "bind")
    }

    @Test("named parameters bind by name")
    func namedParameters() throws {
        let db = try SQLiteConnection(path: ":memory:")
        let statement = try db.prepare("SELECT :a - :b")
        try statement.bind(.integer(10), named: ":a")
        try statement.bind(.integer(3), named: ":b")
        #expect(try statement.step())
        #expect(statement.int64(at: 0) == 7)
        #expect(throws: SQLiteError.self) { try statement.bind(.null, named: ":missing") }
    }

    @Test("a statement is reusable; changes and lastInsertRowID follow each run")
    func reuse() throws {
        let db = try SQLiteConnection(path: ":memory:")
        try db.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, n INTEGER)")
        let insert = try db.prepare("INSERT INTO t(n) VALUES (?)")
        for n in 1...3 {
            try insert.run([.integer(Int64(n * 10))])
            #expect(db.lastInsertRowID == Int64(n))
            #expect(db.changes == 1)
        }
        try db.prepare("UPDATE t SET n = n + 1 WHERE n >= ?").run([.integer(20)])
        #expect(db.changes == 2)

        let select = try db.prepare("SELECT id, n FROM t WHERE n > ? ORDER BY id")
        #expect(select.columnCount == 2)
        #expect(select.columnName(at: 1) == "n")
        let rows = try select.query([.integer(0)]) { [$0.int64(at: 0), $0.int64(at: 1)] }
        #expect(rows == [[1, 10], [2, 21], [3, 31]])
        let fewer = try select.query([.integer(25)]) { $0.int64(at: 0) }
        #expect(fewer == [3])
    }

    @Test("reset and clearBindings let a statement run again with NULL parameters")
    func resetAndClear() throws {
        let db = try SQLiteConnection(path: ":memory:")
        let select = try db.prepare("SELECT ?")
        try select.bind(.text("x"), at: 1)
        #expect(try select.step())
        #expect(select.text(at: 0) == "x")
        select.reset()
        #expect(try select.step())
        #expect(select.text(at: 0) == "x")  // bindings survive reset
        select.reset()
        select.clearBindings()
        #expect(try select.step())
        #expect(select.isNull(at: 0))
    }

    @Test("execute runs a script of several statements")
    func executeScript() throws {
        let db = try SQLiteConnection(path: ":memory:")
        try db.execute(
            """
            CREATE TABLE a(x);  -- first
            INSERT INTO a VALUES (1), (2);
            PRAGMA user_version = 3;
            """)
        #expect(try db.scalar("SELECT sum(x) FROM a") == 3)
        #expect(try db.scalar("PRAGMA user_version") == 3)
        let error = #expect(throws: SQLiteError.self) { try db.execute("INSERT INTO a VALUES (3); SELEC 2;") }
        #expect(error?.operation == "prepare")
        #expect(try db.scalar("SELECT count(*) FROM a") == 3)  // statements before the bad one ran
    }

    @Test("reading a column without a current row traps instead of reading garbage")
    func readWithoutRowTraps() async {
        await #expect(processExitsWith: .failure) {
            let db = try SQLiteConnection(path: ":memory:")
            let statement = try db.prepare("SELECT 1")
            _ = statement.int64(at: 0)
        }
    }
}
