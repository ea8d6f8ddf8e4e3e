import CSQLite

/// A prepared statement with typed binds; finalized in deinit.
///
/// Text and blob binds are copied by SQLite (SQLITE_TRANSIENT), so the Swift value may go away right
/// after `bind` returns. Column readers must only be called while `step()` has just returned `true`;
/// calling them otherwise, or with a column out of range, is a programming error and traps.
public final class SQLiteStatement {
    let handle: OpaquePointer
    /// Keeps the database handle open for as long as this statement exists.
    let connection: SQLiteConnection
    /// The statement's SQL text (never contains values).
    public let sql: String
    /// True while the statement sits on a row, which is when column readers are valid.
    private var hasRow = false

    init(handle: OpaquePointer, connection: SQLiteConnection, sql: String) {
        self.handle = handle
        self.connection = connection
        self.sql = sql
    }

    deinit {
        sqlite3_finalize(handle)
    }

    /// Number of `?` parameters the statement expects.
    public var parameterCount: Int32 { sqlite3_bind_parameter_count(handle) }

    /// Number of result columns (0 for statements that return no rows).
    public var columnCount: Int32 { sqlite3_column_count(handle) }

    /// The name of a result column, as SQLite names it (`AS` alias if any).
    public func columnName(at column: Int32) -> String? {
        precondition(column >= 0 && column < columnCount, "column \(column) out of range")
        return sqlite3_column_name(handle, column).map { String(cString: $0) }
    }

    // MARK: - Binding

    /// Binds `value` to the 1-based parameter `index`. Text and blobs are copied (SQLITE_TRANSIENT),
    /// so no Swift buffer needs to outlive this call; an empty string or blob stays empty, never NULL.
    public func bind(_ value: SQLiteValue, at index: Int32) throws(SQLiteError) {
        let rc: Int32
        switch value {
        case .null:
            rc = sqlite3_bind_null(handle, index)
        case .integer(let number):
            rc = sqlite3_bind_int64(handle, index, number)
        case .real(let number):
            rc = sqlite3_bind_double(handle, index, number)
        case .text(let text):
            var text = text  // withUTF8 needs a mutable copy to make the storage contiguous
            rc = text.withUTF8 { bytes in
                csqlite_bind_text(handle, index, UnsafeRawPointer(bytes.baseAddress), sqlite3_uint64(bytes.count))
            }
        case .blob(let bytes):
            rc = bytes.withUnsafeBytes { raw in
                csqlite_bind_blob(handle, index, raw.baseAddress, sqlite3_uint64(raw.count))
            }
        }
        try connection.check(rc, "bind", sql: sql)
    }

    /// Binds bytes straight from a buffer (e.g. inside `Data.withUnsafeBytes`) as a blob, without
    /// building an array first. SQLite copies them, so the buffer need not outlive this call; an
    /// empty buffer (nil base address) binds an empty blob, not NULL.
    public func bind(blob bytes: UnsafeRawBufferPointer, at index: Int32) throws(SQLiteError) {
        try connection.check(csqlite_bind_blob(handle, index, bytes.baseAddress, sqlite3_uint64(bytes.count)), "bind", sql: sql)
    }

    /// Binds UTF-8 bytes from a buffer as text (copied, like every bind); an empty buffer binds
    /// the empty string, not NULL. The bytes must be valid UTF-8.
    public func bind(utf8Text bytes: UnsafeRawBufferPointer, at index: Int32) throws(SQLiteError) {
        try connection.check(csqlite_bind_text(handle, index, bytes.baseAddress, sqlite3_uint64(bytes.count)), "bind", sql: sql)
    }

    /// Binds `values` to parameters 1…n; the count must match the statement's parameters exactly.
    public func bind(_ values: [SQLiteValue]) throws(SQLiteError) {
        guard values.count == Int(parameterCount) else {
            throw SQLiteError(
                code: .range,
                message: "statement takes \(parameterCount) parameters, got \(values.count)",
                operation: "bind",
                sql: sql
            )
        }
        for (offset, value) in values.enumerated() {
            try bind(value, at: Int32(offset + 1))
        }
    }

    /// Binds `value` to a named parameter such as `:id`, `@id` or `$id` (the prefix is part of the name).
    public func bind(_ value: SQLiteValue, named name: String) throws(SQLiteError) {
        let index = sqlite3_bind_parameter_index(handle, name)
        guard index > 0 else {
            throw SQLiteError(code: .range, message: "no parameter named \(name)", operation: "bind", sql: sql)
        }
        try bind(value, at: index)
    }

    // MARK: - Stepping

    /// Advances to the next row: `true` when a row is available, `false` when the statement is done.
    /// On failure the statement is reset (so it can be reused) and the error thrown.
    public func step() throws(SQLiteError) -> Bool {
        let rc = sqlite3_step(handle)
        switch rc {
        case SQLITE_ROW:
            hasRow = true
            return true
        case SQLITE_DONE:
            hasRow = false
            return false
        default:
            hasRow = false
            let error = SQLiteError(resultCode: rc, db: connection.handle, operation: "step", sql: sql)
            sqlite3_reset(handle)
            throw error
        }
    }

    /// Rewinds the statement so it can run again, keeping its bindings, and releases any read
    /// snapshot it held (a half-read SELECT otherwise pins the WAL and blocks checkpoints).
    public func reset() {
        hasRow = false
        // reset repeats the last step's error, which step() already reported.
        sqlite3_reset(handle)
    }

    /// Sets every parameter back to NULL.
    public func clearBindings() {
        sqlite3_clear_bindings(handle)
    }

    /// Resets, binds `values`, and steps until done, ignoring any rows; then resets again so the
    /// statement holds no lock. Read `connection.changes` or `lastInsertRowID` afterwards.
    public func run(_ values: [SQLiteValue] = []) throws(SQLiteError) {
        reset()
        try bind(values)
        defer { reset() }
        while try step() {}
    }

    /// Resets, binds `values`, and maps every row through `transform`, then resets again.
    /// The statement passed to `transform` is this one, positioned on the current row.
    public func query<T>(_ values: [SQLiteValue] = [], _ transform: (SQLiteStatement) throws -> T) throws -> [T] {
        reset()
        try bind(values)
        defer { reset() }
        var rows: [T] = []
        while try step() {
            rows.append(try transform(self))
        }
        return rows
    }

    // MARK: - Reading columns (0-based)

    private func checkColumn(_ column: Int32) {
        precondition(hasRow, "column read without a current row; call step() first")
        precondition(column >= 0 && column < sqlite3_data_count(handle), "column \(column) out of range")
    }

    /// True when the column holds SQL NULL.
    public func isNull(at column: Int32) -> Bool {
        checkColumn(column)
        return sqlite3_column_type(handle, column) == SQLITE_NULL
    }

    /// The column as an integer, converted by SQLite's rules (NULL is 0).
    public func int64(at column: Int32) -> Int64 {
        checkColumn(column)
        return sqlite3_column_int64(handle, column)
    }

    /// The column as a double, converted by SQLite's rules (NULL is 0).
    public func double(at column: Int32) -> Double {
        checkColumn(column)
        return sqlite3_column_double(handle, column)
    }

    /// The column as UTF-8 text; `nil` only for NULL. Embedded NUL bytes are kept.
    public func text(at column: Int32) -> String? {
        checkColumn(column)
        guard sqlite3_column_type(handle, column) != SQLITE_NULL else { return nil }
        // Pointer first, then length: the docs' order, since fetching text may convert the value.
        guard let bytes = sqlite3_column_text(handle, column) else { return "" }
        let count = Int(sqlite3_column_bytes(handle, column))
        return String(decoding: UnsafeBufferPointer(start: bytes, count: count), as: UTF8.self)
    }

    /// The column as bytes (copied); `nil` only for NULL, `[]` for an empty blob.
    public func blob(at column: Int32) -> [UInt8]? {
        checkColumn(column)
        guard sqlite3_column_type(handle, column) != SQLITE_NULL else { return nil }
        return withBlob(at: column) { Array($0) }
    }

    /// Passes the column's bytes to `body` without copying. The buffer is valid only inside
    /// `body` (SQLite reuses it on the next step or reset), so never let it escape. NULL and
    /// empty blobs arrive as an empty buffer.
    public func withBlob<T>(at column: Int32, _ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
        checkColumn(column)
        // sqlite3_column_blob returns NULL for a zero-length blob; that is an empty buffer, not an error.
        let start = sqlite3_column_blob(handle, column)
        let count = Int(sqlite3_column_bytes(handle, column))
        return try body(UnsafeRawBufferPointer(start: start, count: start == nil ? 0 : count))
    }

    /// The column as whichever `SQLiteValue` case matches its storage class.
    public func value(at column: Int32) -> SQLiteValue {
        checkColumn(column)
        switch sqlite3_column_type(handle, column) {
        case SQLITE_INTEGER: return .integer(sqlite3_column_int64(handle, column))
        case SQLITE_FLOAT: return .real(sqlite3_column_double(handle, column))
        case SQLITE_TEXT: return .text(text(at: column) ?? "")
        case SQLITE_BLOB: return .blob(blob(at: column) ?? [])
        default: return .null
        }
    }
}

// Explicitly not Sendable: a statement belongs to its connection's thread.
@available(*, unavailable)
extension SQLiteStatement: Sendable {}
