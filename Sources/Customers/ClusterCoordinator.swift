import Foundation
import PostgreSQL
import Synchronization

/// What replicas sharing one PostgreSQL database agree on through it, beyond the store's own transactions: who creates
/// a new customer at Digital River (a session advisory lock per id), who delivers each queued forget (a lease on its
/// `forget_queue` row), and the committed warm-up checkpoints. Every call borrows a connection from a small pool of
/// its own, so a create waiting on Digital River never holds up the store's writer or follower.
public final class ClusterCoordinator: Sendable {
    /// First key of the two-key advisory locks taken around creates ("ensr"), apart from the migrations' one-key lock.
    static let createLockNamespace: Int32 = 0x656E_7372
    /// Pause between tries of a create lock another replica holds.
    static let createLockPollMilliseconds = 25

    private let database: PostgresConfiguration
    /// Written into `forget_queue.claimed_by`: host, process and a random part, so a restarted process is a new owner.
    public let replicaName: String
    private let pool: Mutex<Pool>
    private let maxConnections: Int

    private struct Pool {
        var idle: [PooledConnection] = []
        var open = 0
    }

    /// `maxConnections` bounds this replica's coordination sessions (each create in flight holds one).
    public init(database: PostgresConfiguration, maxConnections: Int = 8) {
        var configuration = database
        configuration.applicationName = "customer-cache coordination"
        self.database = configuration
        self.maxConnections = max(1, maxConnections)
        pool = Mutex(Pool())
        let random = (0..<4).map { _ in String(UInt8.random(in: 0...255), radix: 16) }.joined()
        replicaName = "\(ProcessInfo.processInfo.hostName)/\(ProcessInfo.processInfo.processIdentifier)/\(random)"
    }

    // MARK: single flight of creates

    /// Held while this replica creates one customer at Digital River; no other replica gets it until `release`, or
    /// until this session ends (a crashed process's socket closes, and PostgreSQL drops its advisory locks).
    public struct CreateLock: Sendable {
        fileprivate let session: PooledConnection
        fileprivate let id: String
        /// The row committed for the id when the lock was taken: another replica created it first.
        public let committed: CustomerRecord?
    }

    /// How waiting for an id's create lock ended.
    public enum CreateTurn: Sendable {
        /// This replica may create; check `committed` first.
        case holder(CreateLock)
        /// `found` saw the record appear (the holder's commit reached this replica's memory) while waiting.
        case found(CustomerRecord)
        /// Another replica held the lock the whole time.
        case timedOut
    }

    /// Waits (polling, so a waiter holds no connection) until this replica holds `id`'s create lock, `found` returns
    /// a record, or `waitSeconds` pass. Throws when PostgreSQL cannot be reached: a create then could not be recorded.
    public func awaitCreateTurn(for id: String, waitSeconds: Double,
                                found: @Sendable () -> CustomerRecord?) async throws(StoreError) -> CreateTurn {
        let deadline = ContinuousClock.now + .milliseconds(Int(waitSeconds * 1000))
        while true {
            if let record = found() { return .found(record) }
            let session = try await checkOut()
            let taken: Result<CustomerRecord??, StoreError> = await blocking {
                let locked = try session.connection.execute("SELECT pg_try_advisory_lock($1::int4, hashtext($2))",
                                                            [.integer(Int64(Self.createLockNamespace)), .text(id)]).boolean(0, 0) ?? false
                guard locked else { return nil }
                let rows = try session.connection.execute("SELECT id, state, updated_us, event_us, stale, body FROM customers WHERE id = $1",
                                                          [.text(id)])
                return .some(rows.count > 0 ? PostgresBackend.record(rows, 0) : nil)
            }
            switch taken {
            case .failure(let error):
                // Whether the lock was taken is unknown: closing the session drops it if it was.
                discard(session)
                throw error
            case .success(.some(let committed)):
                return .holder(CreateLock(session: session, id: id, committed: committed))
            case .success(.none):
                checkIn(session)
            }
            guard ContinuousClock.now < deadline else { return .timedOut }
            try? await Task.sleep(for: .milliseconds(Self.createLockPollMilliseconds))
        }
    }

    /// Lets the next replica (or caller) waiting for the id in; call after the created customer was committed.
    public func release(_ lock: CreateLock) async {
        let unlocked: Result<Bool, StoreError> = await blocking {
            try lock.session.connection.execute("SELECT pg_advisory_unlock($1::int4, hashtext($2))",
                                                [.integer(Int64(Self.createLockNamespace)), .text(lock.id)]).boolean(0, 0) ?? false
        }
        // A session whose unlock failed may still hold the lock: only closing it is sure to drop it.
        if case .success(true) = unlocked { checkIn(lock.session) } else { discard(lock.session) }
    }

    // MARK: the shared forget queue

    /// Leases the oldest queued forget that is due and that nobody holds: unparked (or parked before
    /// `parkedBeforeSeconds`), not backing off, not in `skipping`. `afterRestart` also takes parked and backed-off
    /// entries (a restart is an operator's retry), but never one another replica holds. `FOR UPDATE SKIP LOCKED`
    /// makes two replicas claiming at once take different rows.
    public func claimNextForget(parkedBeforeSeconds: Int64, afterRestart: Bool, skipping: [String],
                                leaseSeconds: Double) async throws(StoreError) -> QueuedForget? {
        let rows = try await run("""
            UPDATE forget_queue SET claimed_by = $1, claimed_until = now() + $2 * interval '1 millisecond'
            WHERE customer_id = (
                SELECT customer_id FROM forget_queue
                WHERE (claimed_until IS NULL OR claimed_until < now() OR ($3::boolean AND claimed_by IS NULL))
                  AND (parked_reason IS NULL OR parked_s <= $4 OR $3::boolean)
                  AND customer_id <> ALL($5::text[])
                ORDER BY queued_s, customer_id LIMIT 1 FOR UPDATE SKIP LOCKED)
            RETURNING customer_id, queued_s, parked_reason, parked_s
            """, [.text(replicaName), .integer(Int64(leaseSeconds * 1000)), .boolean(afterRestart),
                  .integer(parkedBeforeSeconds), .textArray(skipping)])
        guard rows.count > 0, let id = rows.text(0, 0) else { return nil }
        return QueuedForget(id: id, queuedSeconds: rows.integer(0, 1) ?? 0,
                            parked: rows.text(0, 2).map { QueuedForget.Parked(reason: $0, atSeconds: rows.integer(0, 3) ?? 0) })
    }

    /// Leases one queued forget for an attempt now (`customer.forget` called for it), unless another replica holds
    /// it: backing off or parked does not stop an explicit call. False when the id is not queued or is held.
    public func claimForget(_ id: String, leaseSeconds: Double) async throws(StoreError) -> Bool {
        try await run("""
            UPDATE forget_queue SET claimed_by = $2, claimed_until = now() + $3 * interval '1 millisecond'
            WHERE customer_id = $1 AND (claimed_by IS NULL OR claimed_until IS NULL OR claimed_until < now())
            """, [.text(id), .text(replicaName), .integer(Int64(leaseSeconds * 1000))]).affectedRows > 0
    }

    /// Extends this replica's lease while its attempt is still running (a slow Digital River), so nobody else starts one.
    public func renewForget(_ id: String, leaseSeconds: Double) async throws(StoreError) {
        try await run("UPDATE forget_queue SET claimed_until = now() + $3 * interval '1 millisecond' WHERE customer_id = $1 AND claimed_by = $2",
                      [.text(id), .text(replicaName), .integer(Int64(leaseSeconds * 1000))])
    }

    /// Ends this replica's lease. After an outage (`backingOff`) the entry waits `intervalSeconds * 2^failures`
    /// (at most `maxBackoffSeconds`) before any replica tries it again; otherwise it is free at once.
    public func releaseForget(_ id: String, backingOff: Bool, intervalSeconds: Double, maxBackoffSeconds: Double) async throws(StoreError) {
        if backingOff {
            try await run("""
                UPDATE forget_queue SET claimed_by = NULL, failures = failures + 1,
                    claimed_until = now() + LEAST($3::float8, $4::float8 * power(2, LEAST(failures, 20))) * interval '1 second'
                WHERE customer_id = $1 AND claimed_by = $2
                """, [.text(id), .text(replicaName), .text(String(maxBackoffSeconds)), .text(String(max(intervalSeconds, 0.001)))])
        } else {
            try await run("UPDATE forget_queue SET claimed_by = NULL, claimed_until = NULL, failures = 0 WHERE customer_id = $1 AND claimed_by = $2",
                          [.text(id), .text(replicaName)])
        }
    }

    /// Whether a forget of `id` is still queued by any replica.
    public func isForgetQueued(_ id: String) async throws(StoreError) -> Bool {
        try await run("SELECT 1 FROM forget_queue WHERE customer_id = $1", [.text(id)]).count > 0
    }

    /// The whole cluster's forget queue: entries waiting, and the parked ones by reason.
    public struct ForgetQueueSummary: Sendable, Hashable {
        public var waiting = 0
        public var parkedByReason: [String: Int] = [:]
        public init() {}
    }

    public func forgetQueueSummary() async throws(StoreError) -> ForgetQueueSummary {
        var summary = ForgetQueueSummary()
        for row in try await run("SELECT parked_reason, count(*) FROM forget_queue GROUP BY parked_reason").rows {
            let count = row[1].flatMap { Int($0) } ?? 0
            summary.waiting += count
            if let reason = row[0] { summary.parkedByReason[reason] = count }
        }
        return summary
    }

    // MARK: checkpoints

    /// The committed value of a warm-up checkpoint, whichever replica saved it.
    public func checkpoint(_ name: String) async throws(StoreError) -> String? {
        let rows = try await run("SELECT value FROM checkpoints WHERE name = $1", [.text(name)])
        return rows.count > 0 ? rows.text(0, 0) : nil
    }

    // MARK: sessions

    /// One statement on a pooled session, off the cooperative threads (libpq blocks).
    @discardableResult
    private func run(_ sql: String, _ parameters: [PostgresValue] = []) async throws(StoreError) -> PostgresRows {
        let session = try await checkOut()
        let result: Result<PostgresRows, StoreError> = await blocking { try session.connection.execute(sql, parameters) }
        switch result {
        case .success(let rows):
            checkIn(session)
            return rows
        case .failure(let error):
            if session.connection.isConnected { checkIn(session) } else { discard(session) }
            throw error
        }
    }

    private func checkOut() async throws(StoreError) -> PooledConnection {
        while true {
            let reserved: PooledConnection?? = pool.withLock { pool in
                if let session = pool.idle.popLast() { return .some(session) }
                guard pool.open < maxConnections else { return nil }
                pool.open += 1
                return .some(nil)
            }
            switch reserved {
            case .some(.some(let session)):
                return session
            case .some(.none):
                let database = database
                let opened: Result<PooledConnection, StoreError> = await blocking {
                    let connection = try PostgresConnection(database)
                    try connection.execute("SET synchronous_commit = on")
                    // Over TCP, notice a vanished peer (its host died, not just its process) within about 25 s, so a
                    // dead replica's create lock does not outlive it by the kernel's two-hour default.
                    try connection.execute("SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 5; SET tcp_keepalives_count = 3")
                    return PooledConnection(connection)
                }
                switch opened {
                case .success(let session): return session
                case .failure(let error):
                    pool.withLock { $0.open -= 1 }
                    throw error
                }
            case .none:
                try? await Task.sleep(for: .milliseconds(5))
            }
        }
    }

    private func checkIn(_ session: PooledConnection) {
        guard session.connection.isConnected else { return discard(session) }
        pool.withLock { $0.idle.append(session) }
    }

    private func discard(_ session: PooledConnection) {
        session.connection.close()
        pool.withLock { $0.open -= 1 }
    }

    /// Runs `body` on a dispatch thread, where blocking in libpq does not starve the async executors.
    private func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async -> Result<T, StoreError> {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                do {
                    continuation.resume(returning: .success(try body()))
                } catch let error as PostgresError {
                    continuation.resume(returning: .failure(StoreError(.commitFailed, error.description)))
                } catch {
                    continuation.resume(returning: .failure(StoreError(.commitFailed, "\(error)")))
                }
            }
        }
    }

    /// Closes every idle session (those in use close as they come back broken, or at deinit).
    public func close() {
        let idle = pool.withLock { pool in
            let idle = pool.idle
            pool.idle = []
            pool.open -= idle.count
            return idle
        }
        for session in idle { session.connection.close() }
    }
}

/// A pooled session; used by one task at a time, handed between tasks only through the pool's mutex.
final class PooledConnection: @unchecked Sendable {
    let connection: PostgresConnection
    init(_ connection: PostgresConnection) { self.connection = connection }
}
