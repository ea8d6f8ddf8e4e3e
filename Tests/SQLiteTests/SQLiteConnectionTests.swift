import Foundation
import SQLite
import Testing

@Suite("SQLite connection")
struct SQLiteConnectionTests {
    @Test("opening a missing file creates the database")
    func createsFile() throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/new.db"
            #expect(!FileManager.default.fileExists(atPath: path))
            let db = try SQLiteConnection(path: path, options: testOptions())
            try db.execute("CREATE TABLE t(x)")
            #expect(FileManager.default.fileExists(atPath: path))
            #expect(db.path == path)
        }
    }

    @Test("create: false refuses a missing file with .cantopen and SQLite's message")
    func createFalseRefusesMissingFile() throws {
        try withTemporaryDirectory { dir in
            var options = testOptions()
            options.create = false
            let error = #expect(throws: SQLiteError.self) {
                _ = try SQLiteConnection(path: dir + "/missing.db", options: options)
            }
            #expect(error?.code == .cantopen)
            #expect(error?.operation == "open")
            #expect(error?.message.isEmpty == false)
            #expect(!FileManager.default.fileExists(atPath: dir + "/missing.db"))
        }
    }

    @Test("a read-only connection cannot write and says .readonly")
    func readOnlyRefusesWrites() throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/ro.db"
            let writer = try SQLiteConnection(path: path, options: testOptions())
            try writer.execute("CREATE TABLE t(x)")
            var options = testOptions()
            options.readOnly = true
            let reader = try SQLiteConnection(path: path, options: options)
            let error = #expect(throws: SQLiteError.self) {
                try reader.prepare("INSERT INTO t VALUES (?)").run([.integer(1)])
            }
            #expect(error?.code == .readonly)
        }
    }

    @Test("a file that is not a database is refused at open with .notadb")
    func notADatabase() throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/garbage.db"
            try Data(repeating: 0x41, count: 8192).write(to: URL(fileURLWithPath: path))
            let error = #expect(throws: SQLiteError.self) { _ = try SQLiteConnection(path: path, options: testOptions()) }
            #expect(error?.code == .notadb)
        }
    }

    @Test("a file database is in WAL mode, and the -wal file appears on write")
    func walIsOn() throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/wal.db"
            let db = try SQLiteConnection(path: path, options: testOptions())
            #expect(try db.scalarText("PRAGMA journal_mode") == "wal")
            try db.execute("CREATE TABLE t(x)")
            #expect(FileManager.default.fileExists(atPath: path + "-wal"))
        }
    }

    @Test("synchronous is FULL, secure_delete and foreign_keys are on, busy_timeout is set")
    func durabilityPragmas() throws {
        try withTemporaryDirectory { dir in
            let db = try SQLiteConnection(path: dir + "/p.db", options: testOptions(busyTimeoutMilliseconds: 1234))
            #expect(try db.scalar("PRAGMA synchronous") == 2)  // 2 = FULL
            #expect(try db.scalar("PRAGMA secure_delete") == 1)
            #expect(try db.scalar("PRAGMA foreign_keys") == 1)
            #expect(try db.scalar("PRAGMA busy_timeout") == 1234)
        }
    }

    @Test("options other than the defaults are applied and read back")
    func nonDefaultOptions() throws {
        try withTemporaryDirectory { dir in
            var options = testOptions()
            options.journalMode = .delete
            options.synchronous = .normal
            options.secureDelete = false
            options.foreignKeys = false
            let db = try SQLiteConnection(path: dir + "/o.db", options: options)
            #expect(try db.scalarText("PRAGMA journal_mode") == "delete")
            #expect(try db.scalar("PRAGMA synchronous") == 1)
            #expect(try db.scalar("PRAGMA secure_delete") == 0)
            #expect(try db.scalar("PRAGMA foreign_keys") == 0)
        }
    }

    @Test(":memory: opens even though it cannot do WAL")
    func inMemory() throws {
        let db = try SQLiteConnection(path: ":memory:")
        #expect(try db.scalarText("PRAGMA journal_mode") == "memory")
        try db.execute("CREATE TABLE t(x); INSERT INTO t VALUES (42);")
        #expect(try db.scalar("SELECT x FROM t") == 42)
    }

    @Test("double-quoted strings are identifiers only, so a misspelt column is an error")
    func noDoubleQuotedStringLiterals() throws {
        let db = try SQLiteConnection(path: ":memory:")
        try db.execute("CREATE TABLE t(name TEXT)")
        let error = #expect(throws: SQLiteError.self) { _ = try db.prepare(#"SELECT "nmae" FROM t"#) }
        #expect(error?.code == .error)
        #expect(error?.message.contains("no such column") == true)
    }

    @Test("committed data survives closing and reopening the file")
    func survivesReopen() throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/durable.db"
            do {
                let db = try SQLiteConnection(path: path, options: testOptions())
                try db.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT)")
                try db.transaction {
                    try db.prepare("INSERT INTO t(name) VALUES (?)").run([.text("kept")])
                }
            }  // connection closed here
            let reopened = try SQLiteConnection(path: path, options: testOptions())
            #expect(try reopened.scalarText("SELECT name FROM t") == "kept")
            #expect(try reopened.scalarText("PRAGMA journal_mode") == "wal")  // WAL is persistent
        }
    }

    @Test("checkpoint(.truncate) moves the log into the file and empties the -wal file")
    func checkpointTruncates() throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/ck.db"
            let db = try SQLiteConnection(path: path, options: testOptions())
            try db.execute("CREATE TABLE t(x); INSERT INTO t VALUES (1);")
            #expect(try walSize(path) > 0)
            let result = try db.checkpoint(.truncate)
            #expect(result.logFrames == 0)
            #expect(try walSize(path) == 0)
        }
    }

    @Test("with secure_delete a deleted value is gone from the files; without it the bytes remain")
    func secureDeleteErases() throws {
        #expect(try markerSurvivesDelete(secureDelete: true) == false)
        // Control: proves the check can see leftover bytes at all.
        #expect(try markerSurvivesDelete(secureDelete: false) == true)
    }

    private func markerSurvivesDelete(secureDelete: Bool) throws -> Bool {
        try withTemporaryDirectory { dir in
            let path = dir + "/erase.db"
            var options = testOptions()
            options.secureDelete = secureDelete
            let db = try SQLiteConnection(path: path, options: options)
            try db.execute("CREATE TABLE people(id INTEGER PRIMARY KEY, email TEXT)")
            let marker = "purge-me-\(UUID().uuidString)@example.com"
            let insert = try db.prepare("INSERT INTO people(email) VALUES (?)")
            try db.transaction {
                for index in 0..<20 { try insert.run([.text("keep-\(index)@example.com")]) }
                try insert.run([.text(marker)])
            }
            try db.checkpoint(.truncate)
            #expect(try filesContain(path, marker), "sanity: the value reached the database file")

            try db.transaction { try db.prepare("DELETE FROM people WHERE email = ?").run([.text(marker)]) }
            try db.checkpoint(.truncate)
            return try filesContain(path, marker)
        }
    }

    private func walSize(_ path: String) throws -> Int {
        let attributes = try FileManager.default.attributesOfItem(atPath: path + "-wal")
        return (attributes[.size] as? Int) ?? -1
    }

    private func filesContain(_ path: String, _ text: String) throws -> Bool {
        let needle = Data(text.utf8)
        for file in [path, path + "-wal"] where FileManager.default.fileExists(atPath: file) {
            if try Data(contentsOf: URL(fileURLWithPath: file)).range(of: needle) != nil { return true }
        }
        return false
    }
}
