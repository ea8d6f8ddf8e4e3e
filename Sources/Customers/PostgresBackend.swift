import Foundation
import PostgreSQL

/// The PostgreSQL side of `CustomerStore`, shared by every replica. The database, not one process's memory, enforces
/// the rules: event ids are deduplicated by a primary key, the rows a batch touches are read `FOR UPDATE` inside the
/// transaction and decided by `CustomerRules`, and every committed change appends to a gap-free change sequence
/// that the other replicas' followers apply.
///
/// Each transaction first locks the single `change_head` row. That serialises writers across replicas (each one
/// still commits a whole batch per transaction), makes the sequence gap-free in commit order (a follower never
/// skips a change that commits late), and means row locks are always taken by one writer at a time, so replicas
/// never deadlock on each other's customers.
final class PostgresBackend: StoreBackend, @unchecked Sendable {
    // @unchecked: `connection`, `lastPrune` and `lastCommitSequence` are only touched on the writer thread.
    static let notifyChannel = "customer_cache_changes"
    /// pg_advisory_xact_lock key of the migrations (an arbitrary constant: "custcach").
    static let migrationLockKey: Int64 = 0x6375_7374_6361_6368

    let configuration: StoreConfiguration
    private let database: PostgresConfiguration
    private var connection: PostgresConnection?
    private var lastPrune: Int64 = 0
    private(set) var lastCommitSequence: Int64 = 0
    private let stopped = DispatchGroup()
    private let health: StoreHealthMonitor
    /// Reconnect attempts while PostgreSQL is unreachable. Between them a batch fails at once (503 in microseconds,
    /// not after a connect timeout), and the writer wakes for each one itself, so readiness recovers without traffic.
    private var reconnect: RetrySchedule
    /// libpq's message for the last failed connect, answered to batches that arrive before the next attempt.
    private var lastConnectError = ""
    /// How long the last failed connect took. A quick refusal (server down or starting up) costs a batch about a
    /// millisecond, so a batch may try again before the backoff is due; a slow one (a network that swallows
    /// packets, up to `connect_timeout`) may not, so webhooks keep getting their 503 at once.
    private var lastConnectSeconds = 0.0
    /// How often an idle, healthy writer looks at its connection, so a PostgreSQL that went away shows in
    /// readiness within about a second even when no write arrives (a poll of the socket, no round trip).
    private let livenessInterval = 1.0

    var maxBatch: Int { configuration.maxBatch }
    /// Round trips the writer's current connection has made (a batch costs two), for tests and benchmarks.
    var roundTrips: Int { connection?.roundTrips ?? 0 }

    private init(configuration: StoreConfiguration, database: PostgresConfiguration, connection: PostgresConnection, health: StoreHealthMonitor) {
        self.configuration = configuration
        self.health = health
        self.database = database
        self.connection = connection
        reconnect = RetrySchedule(first: configuration.reconnectFirstSeconds, maximum: configuration.reconnectMaxSeconds, jitter: 0.5)
        stopped.enter()
    }

    /// Connects, migrates (safe with N replicas starting at once) and reads everything, consistent with one change sequence.
    static func open(_ configuration: StoreConfiguration, database: PostgresConfiguration,
                     health: StoreHealthMonitor) throws(StoreError) -> (PostgresBackend, StoreSnapshot) {
        do {
            let connection = try writerConnection(database)
            try makeMigrator().migrate(connection)
            let snapshot = try loadSnapshot(connection, limit: configuration.maxCachedCustomers)
            let backend = PostgresBackend(configuration: configuration, database: database, connection: connection, health: health)
            backend.lastCommitSequence = snapshot.sequence
            return (backend, snapshot)
        } catch let error as PostgresError {
            // Unreachable is worth waiting for (the owner retries); anything else, such as a newer schema, is not.
            throw StoreError(error.isConnectionLoss ? .unreachable : .openFailed, error.description)
        } catch {
            throw StoreError(.openFailed, "\(error)")
        }
    }

    /// Every row (or, when memory is bounded, the rows of `ids`, else the first `limit`), the checkpoints, the forget
    /// queue and the change head in one REPEATABLE READ snapshot, so the follower can start exactly after `sequence`.
    static func loadSnapshot(_ connection: PostgresConnection, limit: Int, ids: [String]? = nil) throws -> StoreSnapshot {
        try connection.transaction("REPEATABLE READ") { connection in
            var snapshot = StoreSnapshot()
            snapshot.sequence = try connection.execute("SELECT seq FROM change_head").integer(0, 0) ?? 0
            let columns = "SELECT id, state, updated_us, event_us, stale, body FROM customers"
            let rows = if let ids, limit > 0 {
                try connection.execute(columns + " WHERE id = ANY($1::text[]) LIMIT \(limit)", [.textArray(ids)], binaryResults: true)
            } else {
                try connection.execute(columns + (limit > 0 ? " LIMIT \(limit)" : ""), binaryResults: true)
            }
            snapshot.records.reserveCapacity(rows.count)
            for index in 0..<rows.count {
                if let record = record(rows, index) { snapshot.records[record.id] = record }
            }
            for row in try connection.execute("SELECT name, value FROM checkpoints").rows {
                if let name = row[0], let value = row[1] { snapshot.checkpoints[name] = value }
            }
            for row in try connection.execute("SELECT customer_id, queued_s, parked_reason, parked_s FROM forget_queue").rows {
                guard let id = row[0] else { continue }
                snapshot.forgets[id] = QueuedForget(id: id, queuedSeconds: row[1].flatMap { Int64($0) } ?? 0,
                                                    parked: row[2].map { QueuedForget.Parked(reason: $0, atSeconds: row[3].flatMap { Int64($0) } ?? 0) })
            }
            return snapshot
        }
    }

    /// A record from columns (id, state, updated_us, event_us, stale, body) starting at `first`.
    static func record(_ rows: PostgresRows, _ index: Int, first: Int = 0) -> CustomerRecord? {
        guard let id = rows.text(index, first), let stateValue = rows.integer(index, first + 1),
              let state = CustomerRecord.State(rawValue: stateValue) else { return nil }
        return CustomerRecord(id: id, state: state, updatedTime: rows.integer(index, first + 2) ?? 0, eventTime: rows.integer(index, first + 3) ?? 0,
                              stale: rows.boolean(index, first + 4) ?? false, body: rows.bytes(index, first + 5) ?? [])
    }

    func close() {
        connection?.close()
        connection = nil
        stopped.leave()
    }

    func waitUntilClosed() { stopped.wait() }

    var nextWake: DispatchTime? {
        if !health.current.committing, let due = reconnect.due { return due }
        return .now() + livenessInterval
    }

    /// Idle and healthy: notices a lost connection (a restart's FATAL, an EOF, failed keepalives) and reconnects at
    /// once, reporting the store unreachable only if that fails. While commits fail: one reconnect attempt each
    /// time the backoff says so, and the store is healthy again as soon as PostgreSQL answers.
    func retryDueWork() {
        if health.current.committing {
            guard let current = connection, !current.checkAlive() else { return }
            current.close()
            connection = nil
        } else if reconnect.isScheduled, !reconnect.isDue(at: .now()) {
            return
        }
        do {
            try connected().execute("SELECT 1")
            commitSucceeded()
        } catch let error as StoreError {
            _ = commitFailed(error)
        } catch let error as PostgresError {
            connection = nil
            _ = commitFailed(Self.storeError(error))
        } catch {
            _ = commitFailed(StoreError(.unreachable, "\(error)"))
        }
    }

    /// A libpq failure as the store reports it: `.unreachable` when the server could not be reached or dropped the session.
    static func storeError(_ error: PostgresError) -> StoreError {
        StoreError(error.isConnectionLoss ? .unreachable : .commitFailed, error.description)
    }

    private func commitSucceeded() { health.commitSucceeded() }

    private func commitFailed(_ error: StoreError) -> StoreError {
        health.commitFailed(error)
        return error
    }

    /// One transaction for the whole batch, in two round trips however many events it holds: `BEGIN`, the
    /// `change_head` lock, the rows involved `FOR UPDATE` and the multi-row `processed_events` insert go in one
    /// pipeline; `CustomerRules` decide; then every write, the change sequence, the NOTIFY and `COMMIT` go in a
    /// second. `current` (memory) is not consulted: the rows read `FOR UPDATE` are the truth, since another
    /// replica may have written them.
    func commit(_ requests: [[StoreOperation]], now: Int64, current _: (String) -> MemoryView) -> Result<CommittedBatch, StoreError> {
        do {
            let connection = try connected()
            let nowSeconds = now / 1_000_000
            var vacuumNeeded = false
            let touched = BatchApplier.touched(requests)
            var reads = [PostgresStatement("SELECT seq FROM change_head FOR UPDATE")]
            if !touched.customers.isEmpty {
                reads.append(PostgresStatement("""
                    SELECT id, state, updated_us, event_us, stale, body FROM customers WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE
                    """, [.textArray(touched.customers)], binaryResults: true))
            }
            if !touched.events.isEmpty {
                reads.append(PostgresStatement("""
                    INSERT INTO processed_events (id, received_s) SELECT DISTINCT unnest($1::text[]), $2::bigint
                    ON CONFLICT (id) DO NOTHING RETURNING id
                    """, [.textArray(touched.events), .integer(nowSeconds)]))
            }
            if !touched.parked.isEmpty {
                reads.append(PostgresStatement("SELECT customer_id FROM forget_queue WHERE customer_id = ANY($1::text[]) FOR UPDATE",
                                               [.textArray(touched.parked)]))
            }
            let (batch, newHead) = try connection.pipelinedTransaction(reads) { rows -> (writes: [PostgresStatement], value: (CommittedBatch, Int64?)) in
                var results = rows.makeIterator()
                let head = results.next()?.integer(0, 0) ?? 0
                var stored: [String: CustomerRecord] = [:]
                if !touched.customers.isEmpty, let found = results.next() {
                    for index in 0..<found.count {
                        if let record = Self.record(found, index) { stored[record.id] = record }
                    }
                }
                var effects = PostgresBatchEffects(nowSeconds: nowSeconds)
                if !touched.events.isEmpty, let inserted = results.next() {
                    effects.fresh = Set((0..<inserted.count).compactMap { inserted.text($0, 0) })
                }
                if !touched.parked.isEmpty, let queued = results.next() {
                    effects.queued = Set((0..<queued.count).compactMap { queued.text($0, 0) })
                }
                var batch = try BatchApplier.apply(requests, now: now, lookup: { stored[$0] }, effects: &effects)
                var writes = effects.writes
                let records = batch.records
                guard !records.isEmpty else { return (writes, (batch, nil)) }
                // Forget is a DELETE of the row that held PII; the tombstone is a new row without any.
                let purged = records.filter { $0.state == .forgotten && stored[$0.id]?.state != .forgotten }.map(\.id)
                if !purged.isEmpty {
                    writes.append(PostgresStatement("DELETE FROM customers WHERE id = ANY($1::text[])", [.textArray(purged)]))
                    vacuumNeeded = true
                }
                let newHead = head + Int64(records.count)
                let sequences = Array(head + 1...newHead)
                batch.sequences = sequences
                batch.changes = head + 1...newHead
                batch.writerPID = connection.backendPID
                // The rows, the change log, the new head and the wake-up in one statement (data-modifying CTEs always
                // run): one Bind/Execute per batch instead of two, and the ids and sequences cross the wire once.
                writes.append(PostgresStatement("""
                    WITH upserted AS (INSERT INTO customers (id, state, updated_us, event_us, stale, body, change_seq)
                        SELECT * FROM unnest($1::text[], $2::smallint[], $3::bigint[], $4::bigint[], $5::boolean[], $6::bytea[], $7::bigint[])
                        ON CONFLICT (id) DO UPDATE SET state = excluded.state, updated_us = excluded.updated_us, event_us = excluded.event_us,
                            stale = excluded.stale, body = excluded.body, change_seq = excluded.change_seq),
                         changes AS (INSERT INTO customer_changes (seq, customer_id) SELECT * FROM unnest($7::bigint[], $1::text[])),
                         moved AS (UPDATE change_head SET seq = $8::bigint)
                    SELECT pg_notify($9, $8::bigint::text)
                    """, [.textArray(records.map(\.id)), .integerArray(records.map(\.state.rawValue)), .integerArray(records.map(\.updatedTime)),
                          .integerArray(records.map(\.eventTime)), .booleanArray(records.map(\.stale)), .bytesArray(records.map(\.body)),
                          .integerArray(sequences), .integer(newHead), .text(Self.notifyChannel)]))
                return (writes, (batch, newHead))
            }
            if let newHead { lastCommitSequence = newHead }
            if vacuumNeeded {
                // The deleted row's bytes stay in its heap page until VACUUM prunes it and the space is reused.
                _ = try? connection.execute("VACUUM customers")
            }
            if nowSeconds - lastPrune >= 60 {
                lastPrune = nowSeconds
                prune(connection, nowSeconds: nowSeconds)
            }
            commitSucceeded()
            return .success(batch)
        } catch let error as PostgresError {
            if !(connection?.isConnected ?? false) { connection = nil }
            return .failure(commitFailed(Self.storeError(error)))
        } catch let error as StoreError {
            return .failure(commitFailed(error))
        } catch {
            return .failure(commitFailed(StoreError(.commitFailed, "\(error)")))
        }
    }

    /// PostgreSQL's side tables: each write becomes one statement of the batch's write pipeline, in operation order.
    private struct PostgresBatchEffects: BatchEffects {
        let nowSeconds: Int64
        /// Event ids this batch's `processed_events` insert added (the others were already there: duplicates).
        var fresh: Set<String> = []
        /// Ids of the batch's `forgetParked` operations found in the forget queue (locked with the batch's reads).
        var queued: Set<String> = []
        private(set) var writes: [PostgresStatement] = []

        init(nowSeconds: Int64) { self.nowSeconds = nowSeconds }

        func claim(eventID: String) -> Bool { fresh.contains(eventID) }

        mutating func queueForget(_ id: String) {
            writes.append(PostgresStatement("INSERT INTO forget_queue (customer_id, queued_s) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                                            [.text(id), .integer(nowSeconds)]))
            queued.insert(id)
        }

        mutating func unqueueForget(_ id: String) {
            writes.append(PostgresStatement("DELETE FROM forget_queue WHERE customer_id = $1", [.text(id)]))
            queued.remove(id)
        }

        mutating func parkForget(_ id: String, reason: String) -> Bool {
            guard queued.contains(id) else { return false }
            writes.append(PostgresStatement("UPDATE forget_queue SET parked_reason = $1, parked_s = $2 WHERE customer_id = $3",
                                            [.text(reason), .integer(nowSeconds), .text(id)]))
            return true
        }

        mutating func setCheckpoint(_ name: String, _ value: String?) {
            if let value {
                writes.append(PostgresStatement("""
                    INSERT INTO checkpoints (name, value, updated_s) VALUES ($1, $2, $3)
                    ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_s = excluded.updated_s
                    """, [.text(name), .text(value), .integer(nowSeconds)]))
            } else {
                writes.append(PostgresStatement("DELETE FROM checkpoints WHERE name = $1", [.text(name)]))
            }
        }
    }

    /// Bounded clean-up outside the batch transaction: expired event ids (same retention as SQLite) and changes
    /// older than an hour that every follower has long applied (a follower further behind reloads everything).
    private func prune(_ connection: PostgresConnection, nowSeconds: Int64) {
        _ = try? connection.execute("""
            DELETE FROM processed_events WHERE id IN (SELECT id FROM processed_events WHERE received_s < $1 LIMIT 5000)
            """, [.integer(nowSeconds - configuration.dedupRetentionSeconds)])
        _ = try? connection.execute("""
            DELETE FROM customer_changes WHERE seq IN (SELECT seq FROM customer_changes WHERE committed_at < now() - interval '1 hour'
                ORDER BY seq LIMIT 50000)
            """)
    }

    /// The writer's connection. One that broke while idle (PostgreSQL restarted) is replaced before the batch
    /// starts, so a restart costs no 503 by itself. While PostgreSQL stays unreachable, a new connection is tried
    /// only when the backoff allows; in between this throws `.unreachable` at once.
    private func connected() throws -> PostgresConnection {
        if let connection, connection.checkAlive() { return connection }
        connection?.close()
        connection = nil
        if reconnect.isScheduled, !reconnect.isDue(at: .now()), lastConnectSeconds > 0.1 {
            throw StoreError(.unreachable, "connection: \(lastConnectError) (next reconnect attempt pending)")
        }
        let started = DispatchTime.now()
        do {
            let fresh = try Self.writerConnection(database)
            reconnect.reset()
            connection = fresh
            return fresh
        } catch {
            let now = DispatchTime.now()
            lastConnectSeconds = Double(now.uptimeNanoseconds - started.uptimeNanoseconds) / 1e9
            // A batch's quick retry does not push the writer's own schedule further out.
            if !reconnect.isScheduled || reconnect.isDue(at: now) { reconnect.failed(at: now) }
            lastConnectError = (error as? PostgresError)?.message ?? "\(error)"
            throw error
        }
    }

    /// A connection set up for the writer: durable commits, and a session the server ends if it sits idle inside a
    /// transaction (a frozen replica would otherwise hold the `change_head` lock, and so every writer, forever).
    private static func writerConnection(_ database: PostgresConfiguration) throws -> PostgresConnection {
        let connection = try PostgresConnection(database)
        try connection.execute("SET synchronous_commit = on")
        if let timeout = database.deadConnectionTimeoutMilliseconds {
            try connection.execute("SET idle_in_transaction_session_timeout = \(timeout)")
        }
        return connection
    }

    static func makeMigrator() -> PostgresMigrator {
        var migrator = PostgresMigrator(lockKey: migrationLockKey)
        migrator.register(version: 1, name: "customers, dedup, checkpoints, forget queue, change sequence", sql: """
            CREATE TABLE customers (
                id text PRIMARY KEY,
                state smallint NOT NULL,
                updated_us bigint NOT NULL,
                event_us bigint NOT NULL,
                stale boolean NOT NULL DEFAULT false,
                body bytea NOT NULL,
                change_seq bigint NOT NULL DEFAULT 0
            );
            CREATE TABLE processed_events (
                id text PRIMARY KEY,
                received_s bigint NOT NULL
            );
            CREATE INDEX processed_events_received ON processed_events (received_s);
            CREATE TABLE checkpoints (
                name text PRIMARY KEY,
                value text NOT NULL,
                updated_s bigint NOT NULL
            );
            CREATE TABLE forget_queue (
                customer_id text PRIMARY KEY,
                queued_s bigint NOT NULL
            );
            CREATE TABLE change_head (
                only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
                seq bigint NOT NULL
            );
            INSERT INTO change_head (seq) VALUES (0);
            CREATE TABLE customer_changes (
                seq bigint PRIMARY KEY,
                customer_id text NOT NULL,
                committed_at timestamptz NOT NULL DEFAULT now()
            );
            """)
        migrator.register(version: 2, name: "forget queue: parked refusals", sql: """
            ALTER TABLE forget_queue ADD COLUMN parked_reason text, ADD COLUMN parked_s bigint;
            """)
        migrator.register(version: 3, name: "forget queue: delivery leases shared by replicas", sql: """
            ALTER TABLE forget_queue ADD COLUMN claimed_by text, ADD COLUMN claimed_until timestamptz,
                ADD COLUMN failures integer NOT NULL DEFAULT 0;
            """)
        return migrator
    }
}
