import Foundation
import PostgreSQL
import Synchronization

/// How far this replica's memory is behind the shared store (PostgreSQL backend only).
public struct ReplicationStatus: Sendable, Hashable {
    /// The last change sequence applied to memory.
    public var appliedSequence: Int64 = 0
    /// The newest change sequence the follower has seen committed.
    public var headSequence: Int64 = 0
    /// Changes committed but not applied here yet.
    public var changesBehind: Int64 { max(0, headSequence - appliedSequence) }
    /// Milliseconds between the commit of the last applied change and its arrival in memory.
    public var lastPropagationMilliseconds: Double = 0
    /// False while the follower's connection is down (memory keeps serving, but may be behind).
    public var connected = true
    /// While disconnected: failed reconnect attempts so far, and libpq's message for the last one (never the password).
    public var reconnectAttempts = 0
    public var lastError: String?
    /// Changes this replica's own writer committed and published, which the follower stepped over instead of reading back.
    public var ownChangesSkipped: Int64 = 0
}

/// Applies every change committed by any replica, in sequence order, to this replica's memory. NOTIFY only wakes it
/// up: it always reads `customer_changes` after the last sequence it applied, so a notification lost to a dropped
/// connection, a restart or a slow loop costs latency, never a change. It also polls every `pollMilliseconds`.
/// A sequence gap (changes pruned while it was away) reloads every row. Changes this replica's own writer committed
/// and already published are stepped over, not read back (`OwnChanges`).
final class ChangeFollower: @unchecked Sendable {
    // @unchecked: `connection` and `applied` are only touched on the follower thread; `stopping` and `status` are atomics/mutexes.
    private let database: PostgresConfiguration
    /// Committed records with the change sequence of each (the row's own, which may be newer than the change read).
    private let publish: @Sendable ([CustomerRecord], [Int64]) -> Void
    /// Bounded memory reloads only this many rows after a gap (0: all): those of the resident customers.
    private let memoryLimit: Int
    private let residentIDs: @Sendable () -> [String]
    private let reload: @Sendable (StoreSnapshot) -> Void
    private let stopping = Atomic<Bool>(false)
    private let finished = DispatchGroup()
    private let statusLock = Mutex(ReplicationStatus())
    private var connection: PostgresConnection?
    private var applied: Int64
    private let pollMilliseconds: Int32 = 500
    /// Most changes applied per query.
    static let pageSize = 2000
    /// The changes in `($1, $2]` with their committed rows and the head of the same snapshot. Bounded on both sides
    /// and joined through a LATERAL lookup (its LIMIT keeps the planner from flattening it into a hash join), so a
    /// page reads its rows by primary key however stale the table statistics are: a hash join would scan every
    /// customer on each wake-up, which is what a freshly loaded or fast-growing table without ANALYZE got.
    static let pageQuery = """
        SELECT c.seq, (extract(epoch FROM c.committed_at) * 1000)::bigint, u.id, u.state, u.updated_us, u.event_us, u.stale, u.body,
            (SELECT seq FROM change_head), u.change_seq
        FROM customer_changes c LEFT JOIN LATERAL (
            SELECT id, state, updated_us, event_us, stale, body, change_seq FROM customers WHERE id = c.customer_id LIMIT 1) u ON true
        WHERE c.seq > $1 AND c.seq <= $2 ORDER BY c.seq
        """
    private var retry: RetrySchedule
    private let onEvent: @Sendable (StoreHealthEvent) -> Void
    /// What this replica's writer committed and published itself.
    let own = OwnChanges()
    /// Longest wait for the writer to publish a commit whose NOTIFY arrived first; after it the changes are read back.
    static let ownPublishWaitMilliseconds = 100

    var status: ReplicationStatus { statusLock.withLock { $0 } }

    /// `retryFirstSeconds`…`retryMaxSeconds` is the reconnect backoff; `onEvent` hears of lost and regained connections.
    init(database: PostgresConfiguration, startingAfter sequence: Int64, memoryLimit: Int, residentIDs: @escaping @Sendable () -> [String],
         retryFirstSeconds: Double, retryMaxSeconds: Double,
         onEvent: @escaping @Sendable (StoreHealthEvent) -> Void,
         publish: @escaping @Sendable ([CustomerRecord], [Int64]) -> Void, reload: @escaping @Sendable (StoreSnapshot) -> Void) {
        self.database = database
        self.memoryLimit = memoryLimit
        self.residentIDs = residentIDs
        self.publish = publish
        self.reload = reload
        self.onEvent = onEvent
        retry = RetrySchedule(first: retryFirstSeconds, maximum: retryMaxSeconds, jitter: 0.5)
        applied = sequence
        statusLock.withLock { $0.appliedSequence = sequence; $0.headSequence = sequence }
        finished.enter()
        let thread = Thread { [self] in run() }
        thread.name = "store-follower"
        thread.start()
    }

    func stop() {
        stopping.store(true, ordering: .relaxed)
        finished.wait()
    }

    private func run() {
        defer { finished.leave() }
        var woken: [PostgresNotification]?
        while !stopping.load(ordering: .relaxed) {
            do {
                let connection = try connected()
                // Always from `applied`, whatever was missed while away: the sequence, not NOTIFY, is the truth.
                if let woken, skipOwn(woken) {
                    // Only this replica's writer committed since: nothing to read.
                } else {
                    try catchUp(connection)
                }
                woken = nil
                woken = try connection.waitForNotifications(timeoutMilliseconds: pollMilliseconds)
                if woken?.isEmpty == true { woken = nil }
            } catch {
                woken = nil
                connection?.close()
                connection = nil
                let delay = retry.failed(at: .now())
                let message = (error as? PostgresError)?.description ?? "\(error)"
                statusLock.withLock { status in
                    status.connected = false
                    status.reconnectAttempts = retry.attempts
                    status.lastError = message
                }
                onEvent(.followerDisconnected(error: message, attempt: retry.attempts, retryInSeconds: delay))
                sleep(seconds: delay)
            }
        }
        connection?.close()
    }

    /// Sleeps in short steps, so `stop` never waits a whole backoff.
    private func sleep(seconds: Double) {
        let until = Date().addingTimeInterval(seconds)
        while !stopping.load(ordering: .relaxed), Date() < until {
            Thread.sleep(forTimeInterval: min(0.05, max(0, until.timeIntervalSinceNow)))
        }
    }

    private func connected() throws -> PostgresConnection {
        if let connection { return connection }
        let fresh = try PostgresConnection(database)
        try fresh.listen(PostgresBackend.notifyChannel)
        connection = fresh
        let attempts = retry.attempts
        retry.reset()
        statusLock.withLock { status in
            status.connected = true
            status.reconnectAttempts = 0
            status.lastError = nil
        }
        if attempts > 0 { onEvent(.followerReconnected(attempts: attempts, sequence: applied)) }
        return fresh
    }

    /// True when no query is needed for `notifications`: every change up to the newest head they announce is applied
    /// already, or was committed and published by this replica's writer (then `applied` steps over them). The NOTIFY reaches the follower at
    /// COMMIT, often before the writer has read COMMIT's answer and published, so it waits a little for that.
    private func skipOwn(_ notifications: [PostgresNotification]) -> Bool {
        var newest: Int64 = 0
        for notification in notifications {
            guard notification.channel == PostgresBackend.notifyChannel, let head = Int64(notification.payload) else { return false }
            newest = max(newest, head)
        }
        // Announced changes this follower already read (their NOTIFY came during its last query): nothing to do. A
        // change after them sends its own NOTIFY, or the poll or a reconnect's catch-up finds it.
        guard newest > applied else { return true }
        guard let covered = own.skip(after: applied, through: newest, senders: notifications.map(\.senderPID),
                                                       waitingMilliseconds: Self.ownPublishWaitMilliseconds) else { return false }
        stepOver(to: covered)
        return true
    }

    /// Marks the changes up to `covered`, all this replica's writer's, as applied.
    private func stepOver(to covered: Int64) {
        let skipped = covered - applied
        applied = covered
        statusLock.withLock { status in
            status.appliedSequence = covered
            status.headSequence = max(status.headSequence, covered)
            status.ownChangesSkipped += skipped
        }
    }

    /// Applies every change after `applied`, a page at a time, until none is left. A wake-up costs one query when
    /// there are changes: the page comes with the head of the same snapshot, so a short page needs no second look.
    /// Changes of this replica's writer right after `applied` are stepped over first.
    private func catchUp(_ connection: PostgresConnection) throws {
        while !stopping.load(ordering: .relaxed) {
            if let covered = own.skip(after: applied, through: nil, senders: [], waitingMilliseconds: 0) { stepOver(to: covered) }
            let rows = try connection.execute(Self.pageQuery, [.integer(applied), .integer(applied + Int64(Self.pageSize))],
                                              binaryResults: true)
            var head = rows.count > 0 ? rows.integer(0, 8) ?? applied : applied
            var nextChange = rows.count > 0 ? rows.integer(0, 0) : nil
            if rows.count == 0 {
                // The head and the next change from one snapshot: a commit landing between the page and this query
                // is not a gap (the next round reads it), only a next change past `applied + 1`, or none, is.
                let probe = try connection.execute("SELECT (SELECT seq FROM change_head), (SELECT min(seq) FROM customer_changes WHERE seq > $1)",
                                                   [.integer(applied)])
                head = probe.integer(0, 0) ?? applied
                nextChange = probe.integer(0, 1)
                if head > applied, nextChange == applied + 1 { continue }
            }
            statusLock.withLock { $0.headSequence = head }
            guard head > applied else { return }
            guard let first = nextChange, first == applied + 1 else {
                // The changes after `applied` were pruned: start over from a consistent snapshot of every row.
                let snapshot = try PostgresBackend.loadSnapshot(connection, limit: memoryLimit, ids: memoryLimit > 0 ? residentIDs() : nil)
                reload(snapshot)  // also empties `own` (the store does, under its records lock)
                applied = snapshot.sequence
                statusLock.withLock { $0.appliedSequence = snapshot.sequence }
                continue
            }
            var records: [CustomerRecord] = []
            var sequences: [Int64] = []
            records.reserveCapacity(rows.count)
            sequences.reserveCapacity(rows.count)
            var last = applied
            var lastCommitted: Int64 = 0
            for index in 0..<rows.count {
                last = rows.integer(index, 0) ?? last
                lastCommitted = rows.integer(index, 1) ?? lastCommitted
                if let record = PostgresBackend.record(rows, index, first: 2) {
                    records.append(record)
                    sequences.append(rows.integer(index, 9) ?? last)
                }
            }
            publish(records, sequences)
            applied = last
            let propagation = max(0, Date().timeIntervalSince1970 * 1000 - Double(lastCommitted))
            statusLock.withLock {
                $0.appliedSequence = last
                $0.lastPropagationMilliseconds = propagation
            }
            // A short page was the last one: the head it came with is applied, so no query to learn that.
            if rows.count < Self.pageSize && last >= head { return }
        }
    }
}

/// The change sequences this replica's writer committed and then published to memory itself, so its follower steps
/// over them instead of reading its own rows back (half of what a single writing replica's PostgreSQL used to do).
/// Exact: the sequence is gap-free in commit order and a range is recorded only after its records are in memory,
/// under the store's records lock, which a reload empties it under too. A commit whose answer was lost is never
/// recorded, so the follower reads it back.
final class OwnChanges: @unchecked Sendable {
    // @unchecked: every field is guarded by `condition`.
    private let condition = NSCondition()
    private var ranges: [ClosedRange<Int64>] = []
    /// The writer's server process (`pg_backend_pid()`) as of its last recorded commit: whose NOTIFY is worth waiting for.
    private var writerPID: Int32 = 0
    /// Ranges kept for a follower that is behind (disconnected); older ones are dropped, and then read back.
    static let limit = 4096

    /// Records that `range` was committed by the writer's session `backendPID` and its records are in memory.
    func published(_ range: ClosedRange<Int64>, backendPID: Int32) {
        condition.lock()
        writerPID = backendPID
        if let last = ranges.last, last.upperBound + 1 == range.lowerBound {
            ranges[ranges.count - 1] = last.lowerBound...range.upperBound
        } else {
            ranges.append(range)
            if ranges.count > Self.limit { ranges.removeFirst(ranges.count - Self.limit) }
        }
        condition.broadcast()
        condition.unlock()
    }

    /// Forgets every range: memory was replaced by a snapshot, which may predate what the writer had published.
    func discardAll() {
        condition.lock()
        ranges.removeAll()
        condition.unlock()
    }

    /// The last sequence of the run of recorded changes right after `applied` (nil when the next one is not ours).
    /// With `through`, that run must reach it, and when every sender is the writer's session this waits up to
    /// `waitingMilliseconds` for the writer to record it; nil when it does not.
    func skip(after applied: Int64, through head: Int64?, senders: [Int32], waitingMilliseconds: Int) -> Int64? {
        condition.lock()
        defer { condition.unlock() }
        let deadline = Date().addingTimeInterval(Double(waitingMilliseconds) / 1000)
        while true {
            // Ranges the follower has applied are done with for good: it never goes back.
            let stale = ranges.prefix { $0.upperBound <= applied }.count
            ranges.removeFirst(stale)
            var reached = applied
            for range in ranges {
                guard range.lowerBound <= reached + 1 else { break }
                reached = max(reached, range.upperBound)
            }
            guard let head else { return reached > applied ? reached : nil }
            if reached >= head { return reached }
            guard writerPID != 0, senders.allSatisfy({ $0 == writerPID }), condition.wait(until: deadline) else { return nil }
        }
    }
}
