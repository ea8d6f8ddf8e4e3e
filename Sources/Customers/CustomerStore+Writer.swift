import Foundation
import SQLite

/// What one grouped transaction produced, handed back to memory only after COMMIT returned.
struct CommittedBatch {
    var outcomes: [[ApplyOutcome]] = []
    var records: [CustomerRecord] = []
    var checkpoints: [(String, String?)] = []
    /// Ids queued by this batch, with the batch time (an id already queued keeps its own).
    var forgetsQueued: [String: Int64] = [:]
    var forgetsDelivered: Set<String> = []
    var forgetsParked: [String: QueuedForget.Parked] = [:]
    var seenEvents: Set<String> = []
    /// PostgreSQL: the change sequence of each of `records` (empty with SQLite).
    var sequences: [Int64] = []
    /// Customers this batch forgot or deleted: their old bytes must leave the WAL before the purge is complete.
    var purged: Set<String> = []
    /// PostgreSQL: the change sequences this batch appended, and the writer session's `pg_backend_pid()` (the
    /// sender of its NOTIFY), so this replica's follower can step over them.
    var changes: ClosedRange<Int64>?
    var writerPID: Int32 = 0
}

/// The writer thread's SQLite side: one connection, statements prepared once, one transaction per batch.
/// Not Sendable in spirit; it is only ever used from the writer thread (`@unchecked` for the hand-off at start).
final class Writer: @unchecked Sendable {
    let configuration: StoreConfiguration
    let stopped = DispatchGroup()
    private var connection: SQLiteConnection?
    private var statements: Statements?
    private var lastPrune: Int64 = 0
    /// Processed event ids; only this thread touches it, and only after a commit succeeded.
    private var seen: SeenEvents
    /// Published commit and purge state; only this thread changes it.
    let health: StoreHealthMonitor
    /// Checkpoint+truncate retries while a purge is pending.
    private var purgeRetry: RetrySchedule
    /// Probe writes while commits fail, so readiness recovers without waiting for traffic.
    private var probeRetry: RetrySchedule

    fileprivate struct Statements {
        let upsert: SQLiteStatement
        let selectOne: SQLiteStatement
        let markSeen: SQLiteStatement
        let oldestSeen: SQLiteStatement
        let prune: SQLiteStatement
        let setCheckpoint: SQLiteStatement
        let deleteCheckpoint: SQLiteStatement
        let queueForget: SQLiteStatement
        let unqueueForget: SQLiteStatement
        let parkForget: SQLiteStatement
        let probe: SQLiteStatement
    }

    init(connection: SQLiteConnection, configuration: StoreConfiguration, seen: SeenEvents, health: StoreHealthMonitor) {
        self.connection = connection
        self.seen = seen
        self.configuration = configuration
        self.health = health
        purgeRetry = RetrySchedule(first: configuration.retryFirstSeconds, maximum: configuration.purgeRetryMaxSeconds)
        probeRetry = RetrySchedule(first: configuration.retryFirstSeconds, maximum: configuration.probeRetryMaxSeconds)
        stopped.enter()
    }

    /// Releases the statements and the connection, so SQLite checkpoints and removes the WAL. A purge still
    /// pending gets one last attempt first; if that fails too, the next start retries it.
    func close() {
        if health.current.pendingPurgeCount > 0 { truncateWAL(newlyPurged: []) }
        statements = nil
        connection = nil
        stopped.leave()
    }

    /// The WAL a previous run left behind (after SIGKILL, or a shutdown on a full disk) may still hold the bytes
    /// of purged customers; truncate it before anything else, and keep retrying if that fails.
    func purgeLeftoverWAL() {
        guard let size = walSize(), size > 0 else { return }
        health.update { $0.walUnverifiedSinceOpen = true }
        truncateWAL(newlyPurged: [])
    }

    /// When the writer must wake without a write to retry a purge or probe the disk; nil when nothing is pending.
    var nextWake: DispatchTime? {
        [purgeRetry.due, probeRetry.due].compactMap { $0 }.min()
    }

    /// Runs whatever retry is due: the pending purge, then the probe write.
    func retryDueWork() {
        let now = DispatchTime.now()
        if purgeRetry.isDue(at: now) { truncateWAL(newlyPurged: []) }
        if probeRetry.isDue(at: now) { probe() }
    }

    /// Size of the -wal file in bytes, nil when there is none.
    private func walSize() -> UInt64? {
        (try? FileManager.default.attributesOfItem(atPath: configuration.path + "-wal"))?[.size] as? UInt64
    }

    /// Checkpoint plus truncate: copies the WAL into the database (whose pages secure_delete has zeroed) and empties
    /// it, so purged bytes are in no file any more. Success is judged by the file, not only by SQLite's answer.
    private func truncateWAL(newlyPurged: Set<String>) {
        guard let connection else { return }
        var failure: String?
        do {
            try connection.checkpoint(.truncate)
            if let size = walSize(), size > 0 { failure = "the WAL still holds \(size) bytes after checkpoint+truncate" }
        } catch {
            failure = error.description
        }
        if let failure {
            purgeRetry.failed(at: .now())
            var pending = 0
            health.update { state in
                state.purgesPending.formUnion(newlyPurged)
                state.lastPurgeError = failure
                state.purgeFailures += 1
                pending = state.pendingPurgeCount
            }
            health.onEvent(.purgeFailed(error: failure, pending: pending, attempt: purgeRetry.attempts))
            return
        }
        let attempts = purgeRetry.attempts
        purgeRetry.reset()
        var purged = 0
        health.update { state in
            purged = state.pendingPurgeCount
            state.purgesPending = []
            state.walUnverifiedSinceOpen = false
            state.lastPurgeError = nil
        }
        if purged > 0 { health.onEvent(.purgeCompleted(purged: purged, attempts: attempts + 1)) }
    }

    /// A tiny durable write with some headroom (a 32 KiB blob), to learn whether commits would succeed again.
    private func probe() {
        do {
            let statements = try prepared()
            guard let connection else { return }
            try connection.transaction(.immediate) {
                try statements.probe.run([.integer(Int64(Date().timeIntervalSince1970))])
            }
            commitSucceeded()
        } catch {
            commitFailed(Self.describe(error))
        }
    }

    private func commitSucceeded() {
        guard !health.current.committing else { return }
        probeRetry.reset()
        health.commitSucceeded()
    }

    private func commitFailed(_ error: StoreError) {
        probeRetry.failed(at: .now())
        health.commitFailed(error)
    }

    private static func describe(_ error: any Error) -> StoreError {
        switch error {
        case let error as StoreError: error
        case let error as SQLiteError: StoreError(.commitFailed, error.description)
        default: StoreError(.commitFailed, "\(error)")
        }
    }

    private func prepared() throws -> Statements {
        if let statements { return statements }
        guard let connection else { throw StoreError(.closed, "store is closed") }
        let made = Statements(
            upsert: try connection.prepare("""
                INSERT INTO customers (id, state, updated_us, event_us, stale, body) VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT(id) DO UPDATE SET state = excluded.state, updated_us = excluded.updated_us,
                    event_us = excluded.event_us, stale = excluded.stale, body = excluded.body
                """),
            selectOne: try connection.prepare(StoreReaders.sqliteRowQuery),
            markSeen: try connection.prepare("INSERT INTO processed_events (id, received_s) VALUES (?, ?)"),
            oldestSeen: try connection.prepare("SELECT received_s FROM processed_events ORDER BY rowid LIMIT 1"),
            prune: try connection.prepare("""
                DELETE FROM processed_events WHERE rowid IN
                    (SELECT rowid FROM processed_events ORDER BY rowid LIMIT 5000) AND received_s < ?
                """),
            setCheckpoint: try connection.prepare("""
                INSERT INTO checkpoints (name, value, updated_s) VALUES (?, ?, ?)
                ON CONFLICT(name) DO UPDATE SET value = excluded.value, updated_s = excluded.updated_s
                """),
            deleteCheckpoint: try connection.prepare("DELETE FROM checkpoints WHERE name = ?"),
            queueForget: try connection.prepare("INSERT OR IGNORE INTO forget_queue (customer_id, queued_s) VALUES (?, ?)"),
            unqueueForget: try connection.prepare("DELETE FROM forget_queue WHERE customer_id = ?"),
            parkForget: try connection.prepare("UPDATE forget_queue SET parked_reason = ?, parked_s = ? WHERE customer_id = ?"),
            probe: try connection.prepare("""
                INSERT INTO store_probe (id, written_s, headroom) VALUES (1, ?, zeroblob(32768))
                ON CONFLICT(id) DO UPDATE SET written_s = excluded.written_s, headroom = excluded.headroom
                """)
        )
        statements = made
        return made
    }

    /// Runs every request's operations in one IMMEDIATE transaction. Any failure rolls the whole batch back and
    /// fails every request in it: callers answer 503 and Digital River retries, so nothing half-applied is acked.
    /// Decides against memory, which is the committed state for every resident customer because this is the only
    /// writer; a customer memory does not hold (bounded memory) is read from the file inside the transaction, never
    /// taken for unknown (that would let a late event resurrect a tombstone or beat a newer version).
    func commit(_ requests: [[StoreOperation]], now: Int64, current: (String) -> MemoryView) -> Result<CommittedBatch, StoreError> {
        do {
            let statements = try prepared()
            guard let connection else { throw StoreError(.closed, "store is closed") }
            let nowSeconds = now / 1_000_000
            let (batch, claimedKeys) = try connection.transaction(.immediate) { () throws -> (CommittedBatch, [SeenEvents.Key]) in
                var effects = SQLiteBatchEffects(statements: statements, connection: connection, seen: seen, nowSeconds: nowSeconds)
                var readFailure: (any Error)?
                let batch = try BatchApplier.apply(requests, now: now, lookup: { id in
                    switch current(id) {
                    case .resident(let record): return record
                    case .absent: return nil
                    case .notResident:
                        do {
                            return try statements.selectOne.query([.text(id)]) { row -> CustomerRecord? in
                                guard let state = CustomerRecord.State(rawValue: row.int64(at: 1)) else { return nil }
                                return CustomerRecord(id: id, state: state, updatedTime: row.int64(at: 2), eventTime: row.int64(at: 3),
                                                      stale: row.int64(at: 4) != 0, body: row.blob(at: 5) ?? [])
                            }.first ?? nil
                        } catch {
                            readFailure = error
                            return nil
                        }
                    }
                }, effects: &effects)
                // A row that could not be read must not be decided as unknown: the whole batch fails (503, retried).
                if let readFailure { throw readFailure }
                for record in batch.records {
                    try statements.upsert.run([.text(record.id), .integer(record.state.rawValue), .integer(record.updatedTime),
                                               .integer(record.eventTime), .integer(record.stale ? 1 : 0), .blob(record.body)])
                }
                if nowSeconds - lastPrune >= 60 {
                    // Bounded work per batch: at most 5,000 of the oldest ids, and only when the oldest has expired.
                    let cutoff = nowSeconds - configuration.dedupRetentionSeconds
                    if let oldest = try statements.oldestSeen.query([]) { $0.int64(at: 0) }.first, oldest < cutoff {
                        try statements.prune.run([.integer(cutoff)])
                    }
                }
                return (batch, effects.claimedKeys)
            }
            // The keys hashed by `claim` are exactly this batch's new ids; reusing them saves hashing each id again.
            for key in claimedKeys { seen.insert(key, receivedSeconds: nowSeconds) }
            if nowSeconds - lastPrune >= 60 {
                lastPrune = nowSeconds
                seen.expire(before: nowSeconds - configuration.dedupRetentionSeconds)
            }
            commitSucceeded()
            if !batch.purged.isEmpty || purgeRetry.isDue(at: .now()) {
                // The WAL still holds the pre-purge page images; truncating it makes the purge real on disk now,
                // not at some later automatic checkpoint. Forgets and deletes are rare, so the cost is too. When it
                // fails (a full disk), the purge is recorded as pending and retried with backoff.
                truncateWAL(newlyPurged: batch.purged)
            }
            return .success(batch)
        } catch {
            let failure = Self.describe(error)
            commitFailed(failure)
            return .failure(failure)
        }
    }
}

/// SQLite's side tables, written at once through the writer's prepared statements.
private struct SQLiteBatchEffects: BatchEffects {
    let statements: Writer.Statements
    let connection: SQLiteConnection
    /// Ids committed by earlier batches; this batch's own join it only after COMMIT.
    let seen: SeenEvents
    let nowSeconds: Int64
    /// Keys of the ids claimed so far, for the writer to add to `seen` after COMMIT.
    var claimedKeys: [SeenEvents.Key] = []

    mutating func claim(eventID: String) throws -> Bool {
        let key = seen.key(eventID)
        guard !seen.contains(key) else { return false }
        try statements.markSeen.run([.text(eventID), .integer(nowSeconds)])
        claimedKeys.append(key)
        return true
    }

    func queueForget(_ id: String) throws { try statements.queueForget.run([.text(id), .integer(nowSeconds)]) }

    func unqueueForget(_ id: String) throws { try statements.unqueueForget.run([.text(id)]) }

    func parkForget(_ id: String, reason: String) throws -> Bool {
        try statements.parkForget.run([.text(reason), .integer(nowSeconds), .text(id)])
        return connection.changes > 0
    }

    func setCheckpoint(_ name: String, _ value: String?) throws {
        if let value {
            try statements.setCheckpoint.run([.text(name), .text(value), .integer(nowSeconds)])
        } else {
            try statements.deleteCheckpoint.run([.text(name)])
        }
    }
}
