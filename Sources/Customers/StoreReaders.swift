import Foundation
import PostgreSQL
import SQLite
import Synchronization

/// One committed row as a store reader found it, with the change sequence it reflects (0 with SQLite).
struct StoredRow: Sendable {
    var record: CustomerRecord?
    var sequence: Int64
}

/// Reads single committed rows for customers memory does not hold (bounded memory) or for `consistency: "store"`,
/// on connections of their own so a read never waits for the writer's batch. SQLite: read-only connections used on
/// the calling thread (WAL readers do not block the writer, nor it them); PostgreSQL: a pool of at most
/// `maxPostgresConnections`, used from dispatch threads (libpq blocks).
final class StoreReaders: Sendable {
    enum Source: Sendable {
        case sqlite(path: String)
        case postgres(PostgresConfiguration)
    }

    static let maxPostgresConnections = 8
    /// Idle SQLite connections kept for reuse; more callers at once open (and then drop) extra ones.
    static let maxIdleSQLiteConnections = 8

    private let source: Source
    private let idle = Mutex<[ReaderConnection]>([])
    /// PostgreSQL: connections open (idle or in use), so the pool never grows past its bound.
    private let open = Mutex(0)
    private let returned = NSCondition()
    /// Whether PostgreSQL is known to be unreachable right now (the writer's view), to fail fast instead of
    /// making callers wait for a connect timeout each.
    private let isUnreachable: @Sendable () -> String?

    init(_ source: Source, isUnreachable: @escaping @Sendable () -> String? = { nil }) {
        self.source = source
        self.isUnreachable = isUnreachable
    }

    static let sqliteRowQuery = "SELECT id, state, updated_us, event_us, stale, body FROM customers WHERE id = ?"
    static let postgresRowQuery = "SELECT id, state, updated_us, event_us, stale, body, change_seq FROM customers WHERE id = $1"

    /// The committed row for `id`. With SQLite this runs on the calling thread (a primary-key read, microseconds);
    /// with PostgreSQL, callers in async code should use `readAsync`.
    func read(_ id: String) throws(StoreError) -> StoredRow {
        let pooled = try take()
        var keep = true
        defer { give(pooled, keep: keep) }
        do {
            switch (source, pooled) {
            case (.sqlite, .sqlite(let box)):
                let rows = try box.statement.query([.text(id)]) { row -> CustomerRecord? in
                    guard let id = row.text(at: 0), let state = CustomerRecord.State(rawValue: row.int64(at: 1)) else { return nil }
                    return CustomerRecord(id: id, state: state, updatedTime: row.int64(at: 2), eventTime: row.int64(at: 3),
                                          stale: row.int64(at: 4) != 0, body: row.blob(at: 5) ?? [])
                }
                return StoredRow(record: rows.first ?? nil, sequence: 0)
            case (.postgres, .postgres(let box)):
                let rows = try box.connection.execute(Self.postgresRowQuery, [.text(id)], binaryResults: true)
                guard rows.count > 0 else { return StoredRow(record: nil, sequence: 0) }
                return StoredRow(record: PostgresBackend.record(rows, 0), sequence: rows.integer(0, 6) ?? 0)
            default:
                return StoredRow(record: nil, sequence: 0)
            }
        } catch let error as PostgresError {
            keep = false
            throw PostgresBackend.storeError(error)
        } catch let error as SQLiteError {
            keep = false
            throw StoreError(.commitFailed, error.description)
        } catch {
            keep = false
            throw StoreError(.commitFailed, "\(error)")
        }
    }

    /// `read` off the async executors when it may block on the network (PostgreSQL); inline for SQLite.
    func readAsync(_ id: String) async throws(StoreError) -> StoredRow {
        if case .sqlite = source { return try read(id) }
        let result: Result<StoredRow, StoreError> = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                do throws(StoreError) {
                    continuation.resume(returning: .success(try self.read(id)))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
        }
        return try result.get()
    }

    /// Closes every idle connection (in-use ones close when returned).
    func close() {
        let connections = idle.withLock { pool in
            defer { pool = [] }
            return pool
        }
        for case .postgres(let box) in connections { box.connection.close() }
        open.withLock { $0 -= connections.filter { if case .postgres = $0 { true } else { false } }.count }
    }

    // MARK: pool

    private func take() throws(StoreError) -> ReaderConnection {
        if let pooled = idle.withLock({ $0.popLast() }) {
            if case .postgres(let box) = pooled, !box.connection.checkAlive() {
                // PostgreSQL dropped it while idle (a restart): replace it.
                box.connection.close()
                open.withLock { $0 -= 1 }
            } else {
                return pooled
            }
        }
        switch source {
        case .sqlite(let path):
            do {
                var options = SQLiteConnection.Options()
                options.readOnly = true
                let connection = try SQLiteConnection(path: path, options: options)
                let statement = try connection.prepare(Self.sqliteRowQuery)
                return .sqlite(SQLiteReader(connection: connection, statement: statement))
            } catch {
                throw StoreError(.commitFailed, error.description)
            }
        case .postgres(let configuration):
            if let reason = isUnreachable() { throw StoreError(.unreachable, reason) }
            // Wait for a connection to come back when the pool is at its bound.
            returned.lock()
            while open.withLock({ count in
                guard count < Self.maxPostgresConnections else { return true }
                count += 1
                return false
            }) {
                if let pooled = idle.withLock({ $0.popLast() }) {
                    returned.unlock()
                    return pooled
                }
                _ = returned.wait(until: Date(timeIntervalSinceNow: 0.05))
            }
            returned.unlock()
            do throws(PostgresError) {
                return .postgres(PostgresReader(connection: try PostgresConnection(configuration)))
            } catch {
                open.withLock { $0 -= 1 }
                throw PostgresBackend.storeError(error)
            }
        }
    }

    private func give(_ pooled: ReaderConnection, keep: Bool) {
        switch pooled {
        case .sqlite:
            guard keep else { return }
            idle.withLock { pool in
                if pool.count < Self.maxIdleSQLiteConnections { pool.append(pooled) }
            }
        case .postgres(let box):
            if keep {
                idle.withLock { $0.append(pooled) }
            } else {
                box.connection.close()
                open.withLock { $0 -= 1 }
            }
            returned.lock()
            returned.signal()
            returned.unlock()
        }
    }
}

/// A pooled connection; each is used by one thread at a time (taken from the pool, then given back).
private enum ReaderConnection: Sendable {
    case sqlite(SQLiteReader)
    case postgres(PostgresReader)
}

/// A read-only SQLite connection and its prepared row query.
private final class SQLiteReader: @unchecked Sendable {
    // @unchecked: used by one thread at a time, handed over through the pool's mutex.
    let connection: SQLiteConnection
    let statement: SQLiteStatement
    init(connection: SQLiteConnection, statement: SQLiteStatement) {
        self.connection = connection
        self.statement = statement
    }
}

/// A PostgreSQL reader connection.
private final class PostgresReader: @unchecked Sendable {
    // @unchecked: used by one thread at a time, handed over through the pool's mutex.
    let connection: PostgresConnection
    init(connection: PostgresConnection) { self.connection = connection }
}
