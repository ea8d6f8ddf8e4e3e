extension SQLiteConnection {
    /// How a connection is opened; the defaults favour durability and erasure over speed.
    public struct Options: Sendable {
        /// Open with SQLITE_OPEN_READONLY. Default `false`.
        public var readOnly = false
        /// Create the file if it does not exist (ignored when `readOnly`). Default `true`.
        public var create = true
        /// How long a statement waits for another connection's lock before failing with `.busy`. Default 5000 ms.
        public var busyTimeoutMilliseconds: Int32 = 5000
        /// Journal mode for file databases; WAL lets readers run while the writer commits. Default `.wal`.
        /// Not applied on read-only connections: the writer decides the mode, readers follow the file.
        public var journalMode: JournalMode = .wal
        /// `.full` makes a commit that returned durable across power loss. Default `.full`.
        public var synchronous: Synchronous = .full
        /// Overwrite deleted content with zeros so purged personal data is really gone from the file. Default `true`.
        public var secureDelete = true
        /// Enforce FOREIGN KEY constraints (SQLite's own default is off). Default `true`.
        public var foreignKeys = true

        public init() {}
    }

    /// SQLite's `PRAGMA journal_mode` values.
    public enum JournalMode: String, Sendable, CaseIterable {
        case wal, delete, truncate, persist, memory, off
    }

    /// SQLite's `PRAGMA synchronous` levels.
    public enum Synchronous: Int32, Sendable, CaseIterable {
        case off = 0, normal = 1, full = 2, extra = 3
    }

    /// Which lock `BEGIN` takes; `.immediate` takes the write lock up front so a writer never fails midway with `.busy`.
    public enum TransactionKind: String, Sendable {
        case deferred = "DEFERRED", immediate = "IMMEDIATE", exclusive = "EXCLUSIVE"
    }

    /// `sqlite3_wal_checkpoint_v2` modes; `.truncate` also empties the -wal file.
    public enum CheckpointMode: Sendable {
        case passive, full, restart, truncate
    }
}
