/// SQLite's primary result codes with names; match a thrown error with `case .busy = error` style `~=`.
public struct ResultCode: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: Int32

    public init(rawValue: Int32) {
        self.rawValue = rawValue
    }

    /// The primary code of an extended result code (the low 8 bits).
    public init(extended: Int32) {
        self.rawValue = extended & 0xFF
    }

    public static let ok = ResultCode(rawValue: 0)
    public static let error = ResultCode(rawValue: 1)
    public static let `internal` = ResultCode(rawValue: 2)
    public static let perm = ResultCode(rawValue: 3)
    public static let abort = ResultCode(rawValue: 4)
    public static let busy = ResultCode(rawValue: 5)
    public static let locked = ResultCode(rawValue: 6)
    public static let nomem = ResultCode(rawValue: 7)
    public static let readonly = ResultCode(rawValue: 8)
    public static let interrupt = ResultCode(rawValue: 9)
    public static let ioerr = ResultCode(rawValue: 10)
    public static let corrupt = ResultCode(rawValue: 11)
    public static let notfound = ResultCode(rawValue: 12)
    public static let full = ResultCode(rawValue: 13)
    public static let cantopen = ResultCode(rawValue: 14)
    public static let `protocol` = ResultCode(rawValue: 15)
    public static let empty = ResultCode(rawValue: 16)
    public static let schema = ResultCode(rawValue: 17)
    public static let toobig = ResultCode(rawValue: 18)
    public static let constraint = ResultCode(rawValue: 19)
    public static let mismatch = ResultCode(rawValue: 20)
    public static let misuse = ResultCode(rawValue: 21)
    public static let nolfs = ResultCode(rawValue: 22)
    public static let auth = ResultCode(rawValue: 23)
    public static let format = ResultCode(rawValue: 24)
    public static let range = ResultCode(rawValue: 25)
    public static let notadb = ResultCode(rawValue: 26)
    public static let notice = ResultCode(rawValue: 27)
    public static let warning = ResultCode(rawValue: 28)
    public static let row = ResultCode(rawValue: 100)
    public static let done = ResultCode(rawValue: 101)

    /// The C name, e.g. `SQLITE_BUSY`; stable, so fit for logs and metrics labels.
    public var name: String {
        switch rawValue {
        case 0: "SQLITE_OK"
        case 1: "SQLITE_ERROR"
        case 2: "SQLITE_INTERNAL"
        case 3: "SQLITE_PERM"
        case 4: "SQLITE_ABORT"
        case 5: "SQLITE_BUSY"
        case 6: "SQLITE_LOCKED"
        case 7: "SQLITE_NOMEM"
        case 8: "SQLITE_READONLY"
        case 9: "SQLITE_INTERRUPT"
        case 10: "SQLITE_IOERR"
        case 11: "SQLITE_CORRUPT"
        case 12: "SQLITE_NOTFOUND"
        case 13: "SQLITE_FULL"
        case 14: "SQLITE_CANTOPEN"
        case 15: "SQLITE_PROTOCOL"
        case 16: "SQLITE_EMPTY"
        case 17: "SQLITE_SCHEMA"
        case 18: "SQLITE_TOOBIG"
        case 19: "SQLITE_CONSTRAINT"
        case 20: "SQLITE_MISMATCH"
        case 21: "SQLITE_MISUSE"
        case 22: "SQLITE_NOLFS"
        case 23: "SQLITE_AUTH"
        case 24: "SQLITE_FORMAT"
        case 25: "SQLITE_RANGE"
        case 26: "SQLITE_NOTADB"
        case 27: "SQLITE_NOTICE"
        case 28: "SQLITE_WARNING"
        case 100: "SQLITE_ROW"
        case 101: "SQLITE_DONE"
        default: "SQLITE_\(rawValue)"
        }
    }

    public var description: String { name }

    /// Lets `catch ResultCode.busy` style patterns match a thrown `SQLiteError`.
    public static func ~= (pattern: ResultCode, error: any Error) -> Bool {
        (error as? SQLiteError)?.code == pattern
    }
}

/// Extended result codes worth branching on (which constraint failed, why a lock was busy); the raw value is SQLite's.
public struct ExtendedResultCode: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: Int32

    public init(rawValue: Int32) {
        self.rawValue = rawValue
    }

    /// The primary code this extended code refines.
    public var primary: ResultCode { ResultCode(extended: rawValue) }

    // Values are SQLite's `primary | (n << 8)`; sqlite3.h spells them as macros Swift cannot import.
    public static let busyRecovery = ExtendedResultCode(rawValue: 5 | (1 << 8))
    public static let busySnapshot = ExtendedResultCode(rawValue: 5 | (2 << 8))
    public static let busyTimeout = ExtendedResultCode(rawValue: 5 | (3 << 8))
    public static let readonlyDirectory = ExtendedResultCode(rawValue: 8 | (6 << 8))
    public static let constraintCheck = ExtendedResultCode(rawValue: 19 | (1 << 8))
    public static let constraintForeignKey = ExtendedResultCode(rawValue: 19 | (3 << 8))
    public static let constraintNotNull = ExtendedResultCode(rawValue: 19 | (5 << 8))
    public static let constraintPrimaryKey = ExtendedResultCode(rawValue: 19 | (6 << 8))
    public static let constraintTrigger = ExtendedResultCode(rawValue: 19 | (7 << 8))
    public static let constraintUnique = ExtendedResultCode(rawValue: 19 | (8 << 8))

    public var description: String {
        switch self {
        case .busyRecovery: "SQLITE_BUSY_RECOVERY"
        case .busySnapshot: "SQLITE_BUSY_SNAPSHOT"
        case .busyTimeout: "SQLITE_BUSY_TIMEOUT"
        case .readonlyDirectory: "SQLITE_READONLY_DIRECTORY"
        case .constraintCheck: "SQLITE_CONSTRAINT_CHECK"
        case .constraintForeignKey: "SQLITE_CONSTRAINT_FOREIGNKEY"
        case .constraintNotNull: "SQLITE_CONSTRAINT_NOTNULL"
        case .constraintPrimaryKey: "SQLITE_CONSTRAINT_PRIMARYKEY"
        case .constraintTrigger: "SQLITE_CONSTRAINT_TRIGGER"
        case .constraintUnique: "SQLITE_CONSTRAINT_UNIQUE"
        default: rawValue == primary.rawValue ? primary.name : "\(primary.name)(\(rawValue))"
        }
    }
}
