import CSQLite

/// One SQLite database handle; not Sendable on purpose: a connection belongs to the one thread (the store's writer) that uses it.
///
/// Opened with SQLITE_OPEN_NOMUTEX because a single owner needs no SQLite-side locking.
/// The handle closes when the connection and every statement prepared from it are gone
/// (statements keep their connection alive, so a statement can never outlive its handle).
public final class SQLiteConnection {
    let handle: OpaquePointer
    /// The path given to `init`, kept for diagnostics.
    public let path: String

    /// Opens (and by default creates) the database at `path`, or `":memory:"`, and applies `options`.
    ///
    /// Throws `SQLiteError` with operation "open" when the file cannot be opened, and "configure"
    /// when a pragma did not take effect (for example WAL could not be enabled on a file database).
    public init(path: String, options: Options = .init()) throws(SQLiteError) {
        var flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE
        if options.readOnly {
            flags |= SQLITE_OPEN_READONLY
        } else {
            flags |= SQLITE_OPEN_READWRITE
            if options.create { flags |= SQLITE_OPEN_CREATE }
        }
        var db: OpaquePointer?
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            // sqlite3_open_v2 usually hands back a handle even on failure, carrying the message.
            let error = SQLiteError(resultCode: rc, db: db, operation: "open")
            sqlite3_close_v2(db)
            throw error
        }
        self.handle = db
        self.path = path
        // From here on deinit closes the handle if configuration throws.
        try configure(options)
    }

    deinit {
        // close_v2 defers the close until remaining statements are finalized; statements retain
        // their connection, so by now there are none and this closes at once.
        sqlite3_close_v2(handle)
    }

    private func configure(_ options: Options) throws(SQLiteError) {
        sqlite3_extended_result_codes(handle, 1)
        try check(sqlite3_busy_timeout(handle, options.busyTimeoutMilliseconds), "configure")

        // Hardening: no schema corruption through writable_schema & co, no double-quoted string
        // literals (a misspelt "column" would silently become a string), no side-effecting SQL
        // functions from views or triggers.
        try setDatabaseConfig(SQLITE_DBCONFIG_DEFENSIVE, 1)
        try setDatabaseConfig(SQLITE_DBCONFIG_DQS_DML, 0)
        try setDatabaseConfig(SQLITE_DBCONFIG_DQS_DDL, 0)
        try setDatabaseConfig(SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0)
        try setDatabaseConfig(SQLITE_DBCONFIG_ENABLE_FKEY, options.foreignKeys ? 1 : 0)

        if !options.readOnly {
            let mode = try pragmaText("journal_mode = \(options.journalMode.rawValue)")
            // In-memory and temporary databases always report "memory"; only a file can do WAL.
            if mode.lowercased() != options.journalMode.rawValue, !isInMemoryOrTemporary {
                throw SQLiteError(
                    code: .error,
                    message: "journal_mode \(options.journalMode.rawValue) requested but the database is in \(mode) mode",
                    operation: "configure"
                )
            }
        }

        let synchronous = try pragmaInt64("synchronous = \(options.synchronous.rawValue)", readBack: "synchronous")
        guard synchronous == Int64(options.synchronous.rawValue) else {
            throw SQLiteError(code: .error, message: "synchronous is \(synchronous), wanted \(options.synchronous.rawValue)", operation: "configure")
        }
        let secureDelete = try pragmaInt64("secure_delete = \(options.secureDelete ? 1 : 0)", readBack: "secure_delete")
        guard (secureDelete != 0) == options.secureDelete else {
            throw SQLiteError(code: .error, message: "secure_delete is \(secureDelete)", operation: "configure")
        }
    }

    /// True for `:memory:` and temporary (empty path) databases, which have no file to put a WAL beside.
    private var isInMemoryOrTemporary: Bool {
        guard let name = sqlite3_db_filename(handle, "main") else { return true }
        return name.pointee == 0
    }

    /// Calls the variadic `sqlite3_db_config` through the shim and verifies the setting stuck.
    private func setDatabaseConfig(_ option: Int32, _ value: Int32) throws(SQLiteError) {
        var actual: Int32 = -1
        try check(csqlite_db_config_int(handle, option, value, &actual), "configure")
        guard actual == value else {
            throw SQLiteError(code: .error, message: "sqlite3_db_config(\(option)) is \(actual), wanted \(value)", operation: "configure")
        }
    }

    /// Runs `PRAGMA <assignment>` and returns the first column of its row (journal_mode answers with the mode in force).
    private func pragmaText(_ assignment: String) throws(SQLiteError) -> String {
        let statement = try prepare("PRAGMA \(assignment)")
        guard try statement.step(), let text = statement.text(at: 0) else {
            throw SQLiteError(code: .error, message: "PRAGMA \(assignment) returned no row", operation: "configure")
        }
        return text
    }

    /// Sets a pragma, then reads it back (these pragmas return nothing when assigned).
    private func pragmaInt64(_ assignment: String, readBack name: String) throws(SQLiteError) -> Int64 {
        try execute("PRAGMA \(assignment)")
        let statement = try prepare("PRAGMA \(name)")
        guard try statement.step() else {
            throw SQLiteError(code: .error, message: "PRAGMA \(name) returned no row", operation: "configure")
        }
        return statement.int64(at: 0)
    }

    func check(_ resultCode: Int32, _ operation: String, sql: String? = nil) throws(SQLiteError) {
        guard resultCode == SQLITE_OK else {
            throw SQLiteError(resultCode: resultCode, db: handle, operation: operation, sql: sql)
        }
    }

    // MARK: - Statements

    /// Runs fixed SQL text (schema, pragmas); may hold several statements separated by `;`.
    /// Never build this text from values: bind them through `prepare` instead. Result rows are discarded.
    public func execute(_ sql: String) throws(SQLiteError) {
        // withCString's closure cannot throw a typed error, so failures travel out as a Result.
        let outcome: Result<Void, SQLiteError> = sql.withCString { start in
            var cursor: UnsafePointer<CChar>? = start
            while let current = cursor, current.pointee != 0 {
                var statement: OpaquePointer?
                var tail: UnsafePointer<CChar>?
                let rc = sqlite3_prepare_v2(handle, current, -1, &statement, &tail)
                guard rc == SQLITE_OK else {
                    return .failure(SQLiteError(resultCode: rc, db: handle, operation: "prepare", sql: sql))
                }
                cursor = tail
                // Whitespace or a trailing comment compiles to no statement.
                guard let statement else { continue }
                var step: Int32
                repeat { step = sqlite3_step(statement) } while step == SQLITE_ROW
                if step != SQLITE_DONE {
                    let error = SQLiteError(resultCode: step, db: handle, operation: "execute", sql: sql)
                    sqlite3_finalize(statement)
                    return .failure(error)
                }
                sqlite3_finalize(statement)
            }
            return .success(())
        }
        try outcome.get()
    }

    /// Compiles exactly one statement; trailing text other than whitespace or comments is refused
    /// (SQLite would silently ignore it), so use `execute` for scripts.
    public func prepare(_ sql: String) throws(SQLiteError) -> SQLiteStatement {
        let outcome: Result<OpaquePointer, SQLiteError> = sql.withCString { start in
            var statement: OpaquePointer?
            var tail: UnsafePointer<CChar>?
            let rc = sqlite3_prepare_v2(handle, start, -1, &statement, &tail)
            guard rc == SQLITE_OK else {
                sqlite3_finalize(statement)
                return .failure(SQLiteError(resultCode: rc, db: handle, operation: "prepare", sql: sql))
            }
            guard let statement else {
                return .failure(SQLiteError(code: .misuse, message: "no SQL statement in the text", operation: "prepare", sql: sql))
            }
            if let tail, tail.pointee != 0 {
                var extra: OpaquePointer?
                let extraRC = sqlite3_prepare_v2(handle, tail, -1, &extra, nil)
                sqlite3_finalize(extra)
                if extraRC != SQLITE_OK || extra != nil {
                    sqlite3_finalize(statement)
                    return .failure(
                        SQLiteError(
                            code: .misuse,
                            message: "text after the first statement; prepare takes one statement, execute takes scripts",
                            operation: "prepare",
                            sql: sql
                        ))
                }
            }
            return .success(statement)
        }
        return SQLiteStatement(handle: try outcome.get(), connection: self, sql: sql)
    }

    // MARK: - Transactions

    /// Runs `body` inside `BEGIN <kind>` … `COMMIT` and returns its result.
    ///
    /// If `body` throws, the transaction is rolled back and the body's error is rethrown; a failing
    /// ROLLBACK never masks it. If COMMIT fails the transaction is rolled back and the commit error is thrown.
    /// Not reentrant: calling it inside another transaction throws SQLite's "cannot start a transaction
    /// within a transaction".
    public func transaction<T>(_ kind: TransactionKind = .immediate, _ body: () throws -> T) throws -> T {
        try execute("BEGIN \(kind.rawValue)")
        let result: T
        do {
            result = try body()
        } catch {
            rollbackIfActive()
            throw error
        }
        do {
            try execute("COMMIT")
        } catch {
            rollbackIfActive()
            throw error
        }
        return result
    }

    /// Rolls back if a transaction is still open; errors like SQLITE_FULL or SQLITE_IOERR may already
    /// have rolled it back, and a second failure must not replace the error being reported.
    private func rollbackIfActive() {
        guard isInTransaction else { return }
        try? execute("ROLLBACK")
    }

    /// True between BEGIN and COMMIT/ROLLBACK (the handle is out of autocommit mode).
    public var isInTransaction: Bool { sqlite3_get_autocommit(handle) == 0 }

    // MARK: - State

    /// Rows changed by the most recent INSERT, UPDATE or DELETE on this connection.
    public var changes: Int { Int(sqlite3_changes64(handle)) }

    /// Rowid of the most recent successful INSERT on this connection.
    public var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }

    /// Copies WAL content into the database file. `.truncate` (the default) also empties the -wal
    /// file, e.g. after a purge so erased pages are not left in the log. Returns the log size and
    /// frames checkpointed, both -1 when the database is not in WAL mode.
    @discardableResult
    public func checkpoint(_ mode: CheckpointMode = .truncate) throws(SQLiteError) -> (logFrames: Int32, checkpointedFrames: Int32) {
        let cMode: Int32 =
            switch mode {
            case .passive: SQLITE_CHECKPOINT_PASSIVE
            case .full: SQLITE_CHECKPOINT_FULL
            case .restart: SQLITE_CHECKPOINT_RESTART
            case .truncate: SQLITE_CHECKPOINT_TRUNCATE
            }
        var logFrames: Int32 = 0
        var checkpointed: Int32 = 0
        try check(sqlite3_wal_checkpoint_v2(handle, nil, cMode, &logFrames, &checkpointed), "checkpoint")
        return (logFrames, checkpointed)
    }
}

// Explicitly not Sendable: see the type's documentation.
@available(*, unavailable)
extension SQLiteConnection: Sendable {}
