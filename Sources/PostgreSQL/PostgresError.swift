/// A failure from libpq or the server, with the server's SQLSTATE when there is one. The message is the server's
/// primary message only (DETAIL, which may quote row values, is never kept), and never contains the password.
public struct PostgresError: Error, Sendable, CustomStringConvertible {
    /// Which side failed, stable for logs and metrics.
    public enum Code: String, Sendable {
        /// Could not connect, or the connection broke (the caller may reconnect and retry).
        case connection
        /// The server refused a statement; `sqlState` says why.
        case statement
        /// The server answered with something this module does not read (a bug, never a user error).
        case protocolViolation = "protocol_violation"
        /// The connection string could not be read.
        case invalidConnectionString = "invalid_connection_string"
    }

    public let code: Code
    /// The server's five-character SQLSTATE (`23505` unique violation, `40P01` deadlock, `57P01` shutdown, …).
    public let sqlState: String?
    public let message: String
    /// The statement's SQL text (values are always parameters, never spliced in).
    public let sql: String?

    public init(_ code: Code, sqlState: String? = nil, message: String, sql: String? = nil) {
        self.code = code
        self.sqlState = sqlState
        self.message = message
        self.sql = sql
    }

    /// True when retrying on a fresh connection or transaction may succeed: the connection broke, the server is
    /// shutting down or restarting (class 57, 08), or a serialization failure or deadlock (class 40).
    public var isTransient: Bool {
        if code == .connection { return true }
        guard let sqlState else { return false }
        return sqlState.hasPrefix("08") || sqlState.hasPrefix("57") || sqlState.hasPrefix("40")
    }

    /// True when the server could not be reached or dropped the session (connection failures, class 08, and the
    /// shutdown / crash / "starting up" codes 57P01-57P03), as opposed to a statement the server refused.
    public var isConnectionLoss: Bool {
        if code == .connection { return true }
        guard let sqlState else { return false }
        return sqlState.hasPrefix("08") || ["57P01", "57P02", "57P03"].contains(sqlState)
    }

    public var description: String {
        var text = "\(code.rawValue)"
        if let sqlState { text += " SQLSTATE \(sqlState)" }
        text += ": \(message)"
        if let sql { text += " [SQL: \(sql)]" }
        return text
    }
}
