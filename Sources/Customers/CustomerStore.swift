import Foundation
import JSON
import PostgreSQL
import SQLite
import Synchronization
import Timekeeping

/// Why the store could not take a write; the webhook answers 503 so Digital River retries.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    /// Stable code for logs and metrics.
    public enum Code: String, Sendable {
        case commitFailed = "commit_failed"
        /// The shared database could not be reached or dropped the session (PostgreSQL down, restarting, or the
        /// network gone); the writer reconnects with backoff, and nothing of the failed batch was acknowledged.
        case unreachable = "store_unreachable"
        case closed
        case openFailed = "open_failed"
    }

    public let code: Code
    /// SQLite's own message (it never contains bound values, so no PII).
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}

/// One change the store applies under the rules, inside a grouped transaction.
public enum StoreOperation: Sendable {
    /// A webhook event: deduplicated by id, then decided by `CustomerRules.event`.
    case event(CustomerEvent)
    /// A full customer seen at `observedAt` (warm-up page or read-through), decided by `CustomerRules.snapshot`.
    case snapshot(Customer, observedAt: Int64)
    /// A local request to be forgotten; `queueUpstream` also records it durably for delivery to Digital River.
    case forget(id: String, queueUpstream: Bool)
    /// Marks a customer for refetch.
    case markStale(id: String)
    /// Digital River acknowledged a queued forget; drop it from the queue.
    case forgetDelivered(id: String)
    /// Digital River refused a queued forget for good (a 4xx); keep it, marked with `reason` (no PII), so it is
    /// retried rarely instead of on every round.
    case forgetParked(id: String, reason: String)
    /// Saves a named cursor (warm-up progress) in the same durable store.
    case setCheckpoint(name: String, value: String?)
}

/// Tunables of the store.
public struct StoreConfiguration: Sendable {
    /// The SQLite file.
    public var path: String
    /// How long processed event ids are remembered for deduplication. Default 7 days.
    public var dedupRetentionSeconds: Int64 = 7 * 86_400
    /// Most operations grouped into one transaction.
    public var maxBatch: Int = 1024
    /// The shared PostgreSQL database; nil keeps the SQLite file at `path` (the default, one replica).
    public var database: PostgresConfiguration?
    /// First delay before the writer retries a failed purge (checkpoint+truncate) or probes a failing disk; doubles.
    public var retryFirstSeconds: Double = 1
    /// Longest delay between purge retries.
    public var purgeRetryMaxSeconds: Double = 10
    /// Longest delay between probe writes while commits fail (readiness recovers this soon after the disk does).
    public var probeRetryMaxSeconds: Double = 5
    /// PostgreSQL only: first and longest delay between reconnect attempts of the writer and the follower while the
    /// database is unreachable (doubling, jittered so N replicas do not retry in step).
    public var reconnectFirstSeconds: Double = 0.1
    public var reconnectMaxSeconds: Double = 2
    /// Most customers (tombstones included) kept in memory; 0 keeps every one (the default). Beyond it the least
    /// useful are evicted (SIEVE), and a read of one that is not resident reads the store before Digital River.
    public var maxCachedCustomers: Int = 0

    public init(path: String) {
        self.path = path
    }
}

/// The embedded customer store: SQLite is the durable truth, and every record (or, with `maxCachedCustomers`, the
/// most useful ones) is also held in memory so reads never touch disk. One writer thread owns the SQLite connection; concurrent writers' operations are grouped into one
/// transaction (group commit), so a durable fsync is paid once per batch rather than once per event. Memory is
/// updated only after the commit returns, so nothing is visible (or acknowledged) before it is durable.
public final class CustomerStore: Sendable {
    /// The resident customers; with PostgreSQL each entry also keeps the change sequence it reflects, so a follower
    /// reading an older row never overwrites what this replica's writer published after a newer commit.
    private let records: Mutex<ResidentCustomers>
    /// Records per state, kept up to date on every publish so a metrics scrape never walks the whole map while
    /// holding the lock every read needs.
    private let stateCounts: Mutex<[CustomerRecord.State: Int]>
    private let checkpoints: Mutex<[String: String]>
    private let pendingForgets: Mutex<[String: QueuedForget]>
    private let queue: WriteQueue
    private let backend: any StoreBackend
    /// PostgreSQL only; set once right after init (its callbacks need `self`).
    private let followerSlot = Mutex<ChangeFollower?>(nil)
    private var follower: ChangeFollower? { followerSlot.withLock { $0 } }
    private let databaseConfiguration: PostgresConfiguration?
    /// Single-row reads that bypass memory: misses when memory is bounded, and `consistency: "store"`.
    private let readers: StoreReaders
    /// Most customers in memory (0: all).
    public let memoryLimit: Int
    private let clock: @Sendable () -> Int64
    /// Called after each commit with its duration in seconds and the number of operations (for metrics).
    private let onCommit: @Sendable (Double, Int) -> Void
    private let healthMonitor: StoreHealthMonitor

    /// Opens (creating and migrating) the store and loads every record into memory: the SQLite file, or the shared
    /// PostgreSQL database when `configuration.database` is set (then a follower also applies other replicas' changes).
    /// `onHealthEvent` hears of failed and recovered commits and purges, on the writer thread, so the owner can log them.
    public init(configuration: StoreConfiguration, clock: @escaping @Sendable () -> Int64 = SystemClock.wallMicroseconds,
                onCommit: @escaping @Sendable (Double, Int) -> Void = { _, _ in },
                onHealthEvent: @escaping @Sendable (StoreHealthEvent) -> Void = { _ in }) throws(StoreError) {
        self.clock = clock
        self.onCommit = onCommit
        let snapshot: StoreSnapshot
        let healthMonitor = StoreHealthMonitor(onEvent: onHealthEvent)
        self.healthMonitor = healthMonitor
        memoryLimit = max(0, configuration.maxCachedCustomers)
        if let database = configuration.database {
            let opened = try PostgresBackend.open(configuration, database: database, health: healthMonitor)
            backend = opened.0
            snapshot = opened.1
            databaseConfiguration = database
        } else {
            let opened = try Writer.open(configuration, clock: clock, health: healthMonitor)
            backend = opened.0
            snapshot = opened.1
            databaseConfiguration = nil
        }
        var resident = ResidentCustomers(limit: configuration.maxCachedCustomers)
        resident.replaceAll(with: snapshot.records.values, sequence: snapshot.sequence)
        var counts: [CustomerRecord.State: Int] = [:]
        for record in resident.records { counts[record.state, default: 0] += 1 }
        records = Mutex(resident)
        stateCounts = Mutex(counts)
        if let database = configuration.database {
            readers = StoreReaders(.postgres(database), isUnreachable: { [healthMonitor] in
                // While the writer finds PostgreSQL unreachable, answer at once rather than make every caller wait
                // for a connect that may take the whole connect timeout. The writer's backoff clears the state.
                let health = healthMonitor.current
                return !health.committing && health.unreachable ? health.lastCommitError ?? "PostgreSQL is unreachable" : nil
            })
        } else {
            readers = StoreReaders(.sqlite(path: configuration.path))
        }
        checkpoints = Mutex(snapshot.checkpoints)
        pendingForgets = Mutex(snapshot.forgets)
        queue = WriteQueue()
        if let database = configuration.database {
            let follower = ChangeFollower(database: database, startingAfter: snapshot.sequence, memoryLimit: memoryLimit,
                                          residentIDs: { [weak self] in self?.records.withLock { $0.records.map(\.id) } ?? [] },
                                          retryFirstSeconds: configuration.reconnectFirstSeconds, retryMaxSeconds: configuration.reconnectMaxSeconds,
                                          onEvent: onHealthEvent, publish: { [weak self] records, sequences in self?.publish(records, sequences: sequences, fromFollower: true) },
                                          reload: { [weak self] snapshot in self?.replaceAll(snapshot) })
            followerSlot.withLock { $0 = follower }
        }
        let thread = Thread { [self] in runWriter() }
        thread.name = "store-writer"
        thread.start()
    }

    // MARK: reads (memory only)

    /// The record for `id` in memory, live or tombstone; nil when memory does not hold it. With `memoryLimit` 0 that
    /// means the store has never seen it; with a limit the store may still hold it (see `lookup`).
    public func record(for id: String) -> CustomerRecord? {
        records.withLock { $0.record(for: id) }
    }

    /// True when memory holds at most `memoryLimit` customers, so a miss must read the store.
    public var isBounded: Bool { memoryLimit > 0 }

    /// Customers evicted from memory since start.
    public var evictions: Int { records.withLock { $0.evictions } }

    /// Where a `lookup` found its answer.
    public enum LookupSource: Sendable, Hashable {
        /// Memory held it, or memory holds every customer (then nil is definite too).
        case memory
        /// Memory is bounded and did not hold it: the store answered (the record, now resident, or nil).
        case store
    }

    /// The record for `id` from memory, else (bounded memory) from the store, which also makes it resident. nil with
    /// either source means no customer, tombstone included, is stored under `id`.
    public func lookup(_ id: String) async throws(StoreError) -> (record: CustomerRecord?, source: LookupSource) {
        let (cached, generation) = residentOrGeneration(id)
        if let cached { return (cached, .memory) }
        guard isBounded else { return (nil, .memory) }
        return (admit(try await readers.readAsync(id), generation: generation), .store)
    }

    /// Memory's record, or on a miss the stripe counter a store read must find unchanged to be admitted. The counter
    /// is only needed on a miss, so a hit costs no hash of the id.
    private func residentOrGeneration(_ id: String) -> (CustomerRecord?, UInt32) {
        records.withLock { memory in
            if let record = memory.record(for: id) { return (record, 0) }
            return (nil, memory.generation(of: id))
        }
    }

    /// `lookup` without suspending, when the store read cannot block on the network (SQLite, or unbounded memory);
    /// nil when the caller must use `lookup` (PostgreSQL with bounded memory).
    public func lookupWithoutWaiting(_ id: String) throws(StoreError) -> (record: CustomerRecord?, source: LookupSource)? {
        let (cached, generation) = residentOrGeneration(id)
        if let cached { return (cached, .memory) }
        guard isBounded else { return (nil, .memory) }
        guard databaseConfiguration == nil else { return nil }
        return (admit(try readers.read(id), generation: generation), .store)
    }

    /// Makes a row a store reader found resident (unless memory changed for it meanwhile) and returns its record.
    private func admit(_ row: StoredRow, generation: UInt32) -> CustomerRecord? {
        guard let record = row.record else { return nil }
        let (admitted, evicted) = records.withLock { memory in memory.admit(record, sequence: row.sequence, generation: generation) }
        if admitted {
            stateCounts.withLock { counts in
                counts[record.state, default: 0] += 1
                if let evicted { counts[evicted.state, default: 0] -= 1 }
            }
        }
        return record
    }

    /// Customers held in memory, tombstones included.
    public var count: Int { records.withLock { $0.count } }

    /// Counts per state, for metrics.
    public func countsByState() -> [CustomerRecord.State: Int] {
        stateCounts.withLock { $0 }
    }

    public func checkpoint(_ name: String) -> String? { checkpoints.withLock { $0[name] } }

    /// Customer ids whose forget still has to reach Digital River.
    public var queuedForgets: Set<String> { pendingForgets.withLock { Set($0.keys) } }

    /// The forget queue, oldest first (then by id), parked entries included.
    public var forgetQueue: [QueuedForget] {
        pendingForgets.withLock { Array($0.values) }.sorted { ($0.queuedSeconds, $0.id) < ($1.queuedSeconds, $1.id) }
    }

    public var isOpen: Bool { !queue.isClosed }

    /// Whether commits succeed and which purges have not reached disk yet (published by the writer).
    public var health: StoreHealth { healthMonitor.current }

    /// True while bytes `id` had before it was forgotten or deleted may still be in the WAL; read it after the
    /// forget's `apply` returned to learn whether that purge is complete.
    public func isPurgePending(_ id: String) -> Bool { healthMonitor.current.isPurgePending(id) }

    // MARK: writes

    /// Applies operations durably and returns one outcome each; throws when the commit failed (nothing applied).
    public func apply(_ operations: [StoreOperation]) async throws(StoreError) -> [ApplyOutcome] {
        let result: Result<[ApplyOutcome], StoreError> = await withCheckedContinuation { continuation in
            submit(operations) { continuation.resume(returning: $0) }
        }
        return try result.get()
    }

    public func apply(_ operation: StoreOperation) async throws(StoreError) -> ApplyOutcome {
        let outcomes = try await apply([operation])
        return outcomes.first ?? .unchanged
    }

    /// Callback form for callers not in async context.
    public func submit(_ operations: [StoreOperation], completion: @escaping @Sendable (Result<[ApplyOutcome], StoreError>) -> Void) {
        if !queue.push(StoreRequest(operations: operations, completion: completion)) {
            completion(.failure(StoreError(.closed, "store is closed")))
        }
    }

    /// Stops accepting writes, finishes queued ones, and closes the database.
    public func close() {
        queue.close()
        backend.waitUntilClosed()
        follower?.stop()
        readers.close()
    }

    // MARK: writer thread

    private func runWriter() {
        while true {
            let batch: [StoreRequest]
            switch queue.popBatch(maxOperations: backend.maxBatch, wakingAt: backend.nextWake) {
            case .closed:
                backend.close()
                return
            case .idle:
                backend.retryDueWork()
                continue
            case .batch(let requests):
                batch = requests
            }
            let started = DispatchTime.now().uptimeNanoseconds
            let operations = batch.map(\.operations)
            let result = backend.commit(operations, now: clock(), current: { id in self.records.withLock { $0.view(id) } })
            switch result {
            case .success(let committed):
                publish(committed.records, sequences: committed.sequences, fromFollower: false,
                        own: committed.changes.map { ($0, committed.writerPID) })
                if !committed.checkpoints.isEmpty {
                    checkpoints.withLock { map in
                        for (name, value) in committed.checkpoints { map[name] = value }
                    }
                }
                if !committed.forgetsQueued.isEmpty || !committed.forgetsDelivered.isEmpty || !committed.forgetsParked.isEmpty {
                    pendingForgets.withLock { queue in
                        // INSERT OR IGNORE kept an existing entry's time and parking; so does memory.
                        for (id, queuedSeconds) in committed.forgetsQueued where queue[id] == nil {
                            queue[id] = QueuedForget(id: id, queuedSeconds: queuedSeconds, parked: nil)
                        }
                        for (id, parked) in committed.forgetsParked { queue[id]?.parked = parked }
                        for id in committed.forgetsDelivered { queue[id] = nil }
                    }
                }
                onCommit(Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9, batch.reduce(0) { $0 + $1.operations.count })
                for (request, outcomes) in zip(batch, committed.outcomes) { request.completion(.success(outcomes)) }
            case .failure(let error):
                for request in batch { request.completion(.failure(error)) }
            }
        }
    }

    /// Puts committed records into memory. With PostgreSQL both the writer and the follower publish, so a record
    /// only replaces one that reflects an older (or the same) change sequence (`sequences`, one per record; empty
    /// with SQLite). With bounded memory the follower only refreshes resident customers (a change for another one
    /// is skipped, not loaded), and the writer makes what it committed resident. `own` (the writer's commits) tells
    /// the follower, under the same lock, that it need not read those changes back.
    private func publish(_ committed: [CustomerRecord], sequences: [Int64], fromFollower: Bool, own: (ClosedRange<Int64>, Int32)? = nil) {
        guard !committed.isEmpty else { return }
        var delta: [CustomerRecord.State: Int] = [:]
        records.withLock { memory in
            for (index, record) in committed.enumerated() {
                let sequence = index < sequences.count ? sequences[index] : 0
                if let resident = memory.sequence(of: record.id) {
                    if resident > sequence { continue }
                } else if fromFollower, memory.isBounded {
                    memory.invalidate(record.id, skippedSequence: sequence)
                    continue
                } else if !memory.mayAdmitCommitted(record.id, sequence: sequence) {
                    memory.invalidate(record.id)
                    continue
                }
                let (replaced, evicted) = memory.put(record, sequence: sequence)
                if let replaced { delta[replaced.state, default: 0] -= 1 }
                if let evicted { delta[evicted.state, default: 0] -= 1 }
                delta[record.state, default: 0] += 1
            }
            if let (changes, writerPID) = own { follower?.own.published(changes, backendPID: writerPID) }
        }
        stateCounts.withLock { counts in
            for (state, change) in delta where change != 0 { counts[state, default: 0] += change }
        }
    }

    /// Replaces memory with a fresh snapshot (the follower found its changes pruned).
    private func replaceAll(_ snapshot: StoreSnapshot) {
        var counts: [CustomerRecord.State: Int] = [:]
        records.withLock { memory in
            memory.replaceAll(with: snapshot.records.values, sequence: snapshot.sequence)
            for record in memory.records { counts[record.state, default: 0] += 1 }
            // What the writer published before this snapshot replaced it must be read back, not stepped over.
            follower?.own.discardAll()
        }
        stateCounts.withLock { $0 = counts }
        checkpoints.withLock { $0 = snapshot.checkpoints }
        pendingForgets.withLock { $0 = snapshot.forgets }
    }

    /// Replication lag of this replica (nil with SQLite, where memory is the committed state).
    public var replication: ReplicationStatus? { follower?.status }

    /// True when the store is PostgreSQL, shared with other replicas.
    public var isShared: Bool { databaseConfiguration != nil }

    /// The committed record straight from the database, bypassing memory (`consistency: "store"`). With SQLite and
    /// every customer in memory, memory is updated in the same step as the commit, so it is the committed state.
    public func committedRecord(for id: String) async throws(StoreError) -> CustomerRecord? {
        guard databaseConfiguration != nil || isBounded else { return record(for: id) }
        return try await readers.readAsync(id).record
    }

    static func makeMigrator() -> SQLiteMigrator {
        var migrator = SQLiteMigrator()
        migrator.register(version: 1, name: "customers, dedup, checkpoints, forget queue") { db in
            try db.execute("""
                CREATE TABLE customers (
                    id TEXT PRIMARY KEY NOT NULL,
                    state INTEGER NOT NULL,
                    updated_us INTEGER NOT NULL,
                    event_us INTEGER NOT NULL,
                    stale INTEGER NOT NULL DEFAULT 0,
                    body BLOB NOT NULL
                );
                -- An append-only log of processed event ids: the duplicate check runs against an in-memory set
                -- rebuilt from it at start, so no index is needed and every insert lands on the last page.
                -- Rowids grow with insertion time, so pruning walks from the lowest rowid.
                CREATE TABLE processed_events (
                    id TEXT NOT NULL,
                    received_s INTEGER NOT NULL
                );
                CREATE TABLE checkpoints (
                    name TEXT PRIMARY KEY NOT NULL,
                    value TEXT NOT NULL,
                    updated_s INTEGER NOT NULL
                );
                CREATE TABLE forget_queue (
                    customer_id TEXT PRIMARY KEY NOT NULL,
                    queued_s INTEGER NOT NULL
                );
                """)
        }
        migrator.register(version: 2, name: "store probe") { db in
            // One row the writer rewrites while commits fail, to learn when the disk takes writes again.
            try db.execute("""
                CREATE TABLE store_probe (
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    written_s INTEGER NOT NULL,
                    headroom BLOB NOT NULL
                );
                """)
        }
        migrator.register(version: 3, name: "parked forgets") { db in
            // A forget Digital River refused for good keeps its place in the queue but is retried rarely.
            try db.execute("""
                ALTER TABLE forget_queue ADD COLUMN parked_reason TEXT;
                ALTER TABLE forget_queue ADD COLUMN parked_s INTEGER;
                """)
        }
        return migrator
    }
}

/// One request to be forgotten on its way to Digital River.
public struct QueuedForget: Sendable, Hashable {
    /// Why Digital River refused it for good, and when (store clock, seconds).
    public struct Parked: Sendable, Hashable {
        /// Status, Digital River's error type and codes; never PII.
        public let reason: String
        public let atSeconds: Int64
        public init(reason: String, atSeconds: Int64) {
            self.reason = reason
            self.atSeconds = atSeconds
        }
    }

    public let id: String
    public let queuedSeconds: Int64
    /// Set while Digital River's last answer was a permanent refusal.
    public var parked: Parked?
}

/// A queued write and the callback that resumes its caller.
private struct StoreRequest: Sendable {
    let operations: [StoreOperation]
    let completion: @Sendable (Result<[ApplyOutcome], StoreError>) -> Void
}

/// The pending-writes queue between request threads and the writer; a condition variable, because the writer is
/// a plain thread that sleeps until there is work.
private final class WriteQueue: @unchecked Sendable {
    // @unchecked: `pending` and `closed` are only touched with `condition` held.
    private let condition = NSCondition()
    private var pending: [StoreRequest] = []
    private var closed = false

    var isClosed: Bool {
        condition.lock()
        defer { condition.unlock() }
        return closed
    }

    func push(_ request: StoreRequest) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !closed else { return false }
        pending.append(request)
        condition.signal()
        return true
    }

    /// What the writer gets when it asks for work.
    enum Pop {
        case batch([StoreRequest])
        /// `wakingAt` passed with nothing queued: time for the writer's own retries.
        case idle
        /// Closed and drained.
        case closed
    }

    /// Everything queued, up to about `maxOperations` operations; waits at most until `wakingAt` (nil: no limit).
    func popBatch(maxOperations: Int, wakingAt: DispatchTime?) -> Pop {
        condition.lock()
        defer { condition.unlock() }
        while pending.isEmpty, !closed {
            guard let wakingAt else {
                condition.wait()
                continue
            }
            let remaining = Double(Int64(bitPattern: wakingAt.uptimeNanoseconds &- DispatchTime.now().uptimeNanoseconds)) / 1e9
            if remaining <= 0 || !condition.wait(until: Date(timeIntervalSinceNow: remaining)) {
                if pending.isEmpty, !closed { return .idle }
            }
        }
        if pending.isEmpty { return .closed }
        var taken = 0
        var operations = 0
        while taken < pending.count, taken == 0 || operations + pending[taken].operations.count <= maxOperations {
            operations += pending[taken].operations.count
            taken += 1
        }
        let batch = Array(pending.prefix(taken))
        pending.removeFirst(taken)
        return .batch(batch)
    }

    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }
}
