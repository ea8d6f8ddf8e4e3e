import Foundation
import SQLite

/// The durable side of `CustomerStore`: one transaction per batch of requests, decided by `CustomerRules`. The
/// store's writer thread, its memory and its group-commit queue are shared by every backend; only this differs.
protocol StoreBackend: AnyObject, Sendable {
    /// Most operations grouped into one transaction.
    var maxBatch: Int { get }
    /// Commits every request's operations in one transaction, or none of them. Called on the writer thread only.
    /// `current` is what memory holds; a backend that decides against memory must read `.notResident` ids itself.
    func commit(_ requests: [[StoreOperation]], now: Int64, current: (String) -> MemoryView) -> Result<CommittedBatch, StoreError>
    /// The change sequence of the last successful commit (0 where the backend keeps none).
    var lastCommitSequence: Int64 { get }
    /// When the writer should wake with nothing queued to run `retryDueWork` (nil: only for work).
    var nextWake: DispatchTime? { get }
    /// The backend's own retries (a pending purge, a probe while commits fail); writer thread only.
    func retryDueWork()
    /// Releases the connection; called on the writer thread when the queue is closed and drained.
    func close()
    /// Blocks until `close` ran.
    func waitUntilClosed()
}

/// What a backend loads at open: every record, the checkpoints, the queued forgets, and (PostgreSQL) the change
/// sequence those rows are consistent with.
struct StoreSnapshot {
    var records: [String: CustomerRecord] = [:]
    var checkpoints: [String: String] = [:]
    var forgets: [String: QueuedForget] = [:]
    var sequence: Int64 = 0
}

extension Writer: StoreBackend {
    var maxBatch: Int { configuration.maxBatch }
    var lastCommitSequence: Int64 { 0 }
    func waitUntilClosed() { stopped.wait() }

    /// Opens (creating and migrating) the SQLite file and reads everything into memory.
    static func open(_ configuration: StoreConfiguration, clock: () -> Int64, health: StoreHealthMonitor) throws(StoreError) -> (Writer, StoreSnapshot) {
        var snapshot = StoreSnapshot()
        var seen = SeenEvents()
        let connection: SQLiteConnection
        do {
            connection = try SQLiteConnection(path: configuration.path)
            try CustomerStore.makeMigrator().migrate(connection)
            // Bounded memory starts with the first `maxCachedCustomers` rows; the others are read when asked for.
            let limit = configuration.maxCachedCustomers > 0 ? " LIMIT \(configuration.maxCachedCustomers)" : ""
            let select = try connection.prepare("SELECT id, state, updated_us, event_us, stale, body FROM customers" + limit)
            while try select.step() {
                guard let id = select.text(at: 0), let state = CustomerRecord.State(rawValue: select.int64(at: 1)) else { continue }
                snapshot.records[id] = CustomerRecord(id: id, state: state, updatedTime: select.int64(at: 2), eventTime: select.int64(at: 3),
                                                      stale: select.int64(at: 4) != 0, body: select.blob(at: 5) ?? [])
            }
            let checkpointSelect = try connection.prepare("SELECT name, value FROM checkpoints")
            while try checkpointSelect.step() {
                if let name = checkpointSelect.text(at: 0), let value = checkpointSelect.text(at: 1) { snapshot.checkpoints[name] = value }
            }
            let seenSelect = try connection.prepare("SELECT id, received_s FROM processed_events ORDER BY rowid")
            let cutoff = clock() / 1_000_000 - configuration.dedupRetentionSeconds
            while try seenSelect.step() {
                let received = seenSelect.int64(at: 1)
                if received >= cutoff, let id = seenSelect.text(at: 0) { seen.insert(id, receivedSeconds: received) }
            }
            let forgetSelect = try connection.prepare("SELECT customer_id, queued_s, parked_reason, parked_s FROM forget_queue")
            while try forgetSelect.step() {
                guard let id = forgetSelect.text(at: 0) else { continue }
                let reason = forgetSelect.text(at: 2)
                snapshot.forgets[id] = QueuedForget(id: id, queuedSeconds: forgetSelect.int64(at: 1),
                                                    parked: reason.map { QueuedForget.Parked(reason: $0, atSeconds: forgetSelect.int64(at: 3)) })
            }
        } catch let error as SQLiteError {
            throw StoreError(.openFailed, error.description)
        } catch {
            throw StoreError(.openFailed, "\(error)")
        }
        let writer = Writer(connection: connection, configuration: configuration, seen: seen, health: health)
        // Before the writer thread starts (it owns the connection from then on), so readers never see a
        // leftover WAL as "nothing pending".
        writer.purgeLeftoverWAL()
        return (writer, snapshot)
    }
}
