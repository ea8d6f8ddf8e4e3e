import CSQLite

/// A failure from SQLite keeping its primary and extended result codes and message (never any bound values).
public struct SQLiteError: Error, Sendable, CustomStringConvertible {
    /// The primary result code, e.g. `.constraint`, `.busy`.
    public let code: ResultCode
    /// The extended result code as SQLite reported it (equal to `code.rawValue` when there is no refinement).
    public let extendedCode: Int32
    /// SQLite's own message (`sqlite3_errmsg`), captured right after the failing call.
    public let message: String
    /// Which step failed: "open", "configure", "prepare", "bind", "step", "execute", "checkpoint", ...
    public let operation: String
    /// The statement's SQL text. It never contains values: values are always bound, never spliced in.
    public let sql: String?

    public init(code: ResultCode, extendedCode: Int32? = nil, message: String, operation: String, sql: String? = nil) {
        self.code = code
        self.extendedCode = extendedCode ?? code.rawValue
        self.message = message
        self.operation = operation
        self.sql = sql
    }

    /// The extended code as a typed value, for `== .constraintUnique` checks.
    public var extended: ExtendedResultCode { ExtendedResultCode(rawValue: extendedCode) }

    public var description: String {
        var text = "\(extended) during \(operation): \(message)"
        if let sql { text += " [SQL: \(sql)]" }
        return text
    }
}

extension SQLiteError {
    /// Builds the error from a failing call's result code, reading `sqlite3_errmsg` now, before
    /// any other call on the handle can overwrite it.
    init(resultCode: Int32, db: OpaquePointer?, operation: String, sql: String? = nil) {
        let message: String
        if let db, let text = sqlite3_errmsg(db) {
            message = String(cString: text)
        } else if let text = sqlite3_errstr(resultCode) {
            message = String(cString: text)
        } else {
            message = "unknown error"
        }
        // With extended result codes enabled every call returns the extended code; fall back to
        // the handle's extended code in case a call only reported the primary one.
        var extended = resultCode
        if extended & 0xFF == extended, let db {
            let fromHandle = sqlite3_extended_errcode(db)
            if fromHandle & 0xFF == resultCode { extended = fromHandle }
        }
        self.init(code: ResultCode(extended: extended), extendedCode: extended, message: message, operation: operation, sql: sql)
    }
}
