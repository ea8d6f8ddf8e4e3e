/// A value bound to or read from SQLite.
public enum SQLiteValue: Sendable, Hashable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])
}

extension SQLiteValue: CustomStringConvertible {
    /// Shows the kind and size only, so a value printed into a log cannot leak its content.
    public var description: String {
        switch self {
        case .null: "NULL"
        case .integer: "INTEGER"
        case .real: "REAL"
        case .text(let text): "TEXT(\(text.utf8.count) bytes)"
        case .blob(let bytes): "BLOB(\(bytes.count) bytes)"
        }
    }
}
