import Foundation
import Customers
import Logging
import ServiceMetrics
import Synchronization

/// The store once it is open. Listeners start before the store has loaded (so liveness answers at once and
/// readiness can say "loading"); until then writers get 503 and readiness fails.
final class StoreHolder: Sendable {
    private let store = Mutex<CustomerStore?>(nil)
    private let failure = Mutex<String?>(nil)
    /// Why the store is still opening, while PostgreSQL was unreachable at start and the open is being retried.
    private let waitingFor = Mutex<String?>(nil)
    /// The open `start()` left to `StoreService` because PostgreSQL was unreachable.
    private let pendingOpen = Mutex<PendingOpen?>(nil)

    var current: CustomerStore? { store.withLock { $0 } }

    func set(_ opened: CustomerStore) { store.withLock { $0 = opened } }

    func fail(_ reason: String) { failure.withLock { $0 = reason } }

    /// Readiness: open, and for the webhook listener also committing (its last commit, or the writer's probe
    /// write, succeeded), so a proxy sends Digital River's retries to a replica that can store them. The RPC
    /// listener stays ready while it can serve reads from memory; its detail still says when writes fail.
    func readiness(for listener: Readiness.Listener) -> Readiness.Status {
        if let reason = failure.withLock({ $0 }) { return .init(ready: false, detail: "store failed to open: \(reason)") }
        guard let store = current else { return .init(ready: false, detail: waitingFor.withLock { $0 } ?? "store is opening") }
        guard store.isOpen else { return .init(ready: false, detail: "store is closed") }
        let health = store.health
        let memory = "\(store.count) customers in memory"
        let writerUnreachable = !health.committing && health.unreachable
        var follower = ""
        if let replication = store.replication {
            // Reads keep being served from memory while the follower is away; the detail says why they may lag.
            if replication.connected {
                follower = "; following PostgreSQL: \(replication.changesBehind) changes behind, last change applied "
                    + "\(Int(replication.lastPropagationMilliseconds)) ms after commit (sequence \(replication.appliedSequence))"
            } else {
                // The writer's part already names the error when both have lost PostgreSQL.
                let why = writerUnreachable ? "" : ": \(replication.lastError ?? "connection lost")"
                follower = "; \(writerUnreachable ? "" : "store unreachable: ")the change follower is reconnecting (attempt "
                    + "\(replication.reconnectAttempts)\(why)) and resumes after sequence \(replication.appliedSequence)"
            }
        }
        guard !health.committing else { return .init(ready: true, detail: "\(memory)\(follower); commits succeed") }
        let failing = writerUnreachable
            ? "store unreachable: PostgreSQL cannot be reached (\(health.lastCommitError ?? "connection lost")); reconnecting with backoff"
            : "the store cannot commit (\(health.lastCommitError ?? "unknown error")); probing \(store.isShared ? "PostgreSQL" : "the disk") until it can"
        switch listener {
        case .webhook: return .init(ready: false, detail: "\(failing); webhooks are answered 503\(follower)")
        case .rpc: return .init(ready: true, detail: "\(memory), reads are served; \(failing); writes fail\(follower)")
        }
    }
}

extension StoreHolder {
    /// What `start()` could not finish because PostgreSQL was unreachable: the open to retry, for `StoreService`.
    struct PendingOpen: Sendable {
        let retryMaxSeconds: Double
        let open: @Sendable () throws(StoreError) -> CustomerStore
        let opened: @Sendable (CustomerStore) -> Void
    }

    /// PostgreSQL was unreachable at start (the whole cluster restarting, a failover): instead of exiting into a
    /// restart loop, the listeners stay up (readiness "store is opening", writes 503 / -31007) until `keepOpening`
    /// succeeds.
    func waitForReachable(firstError: StoreError, logger: Logger, then pending: PendingOpen) {
        pendingOpen.withLock { $0 = pending }
        waitingFor.withLock { $0 = "store is opening: PostgreSQL is unreachable (\(firstError.message)); retrying" }
        logger.error("PostgreSQL unreachable at start: the store opens as soon as it answers; until then readiness fails and writes get 503",
                     metadata: ["error": "\(firstError)"])
    }

    /// Retries `pending.open` 100 ms doubling to `retryMaxSeconds` (jittered) until it succeeds; each attempt runs
    /// on a thread of its own (libpq blocks). Cancellation (shutdown) ends it. Any failure other than unreachable
    /// is as fatal as at start: logged and thrown, which stops the service group (the process exits 1).
    func keepOpening(logger: Logger) async throws {
        guard let pending = pendingOpen.withLock({ $0 }) else { return }
        let repeats = LogThrottle(interval: .seconds(30))
        _ = repeats.admit("open")
        var schedule = RetrySchedule(first: 0.1, maximum: pending.retryMaxSeconds, jitter: 0.5)
        while true {
            let delay = schedule.failed(at: .now())
            try await Task.sleep(for: .milliseconds(Int(delay * 1000)))
            let open = pending.open
            let result = await runBlocking { () -> Result<CustomerStore, StoreError> in
                do throws(StoreError) { return .success(try open()) } catch { return .failure(error) }
            }
            switch result {
            case .success(let store):
                // Shut down while this attempt ran: the store opened for nobody.
                guard !Task.isCancelled else {
                    await runBlocking { store.close() }
                    throw CancellationError()
                }
                waitingFor.withLock { $0 = nil }
                set(store)
                pending.opened(store)
                return
            case .failure(let error) where error.code == .unreachable:
                waitingFor.withLock { $0 = "store is opening: PostgreSQL is unreachable (\(error.message)); retrying (attempt \(schedule.attempts + 1))" }
                if let suppressed = repeats.admit("open") {
                    logger.error("PostgreSQL still unreachable; the store is not open yet", metadata: ["attempts": "\(schedule.attempts + 1)",
                                                                                                     "similar_failures_not_logged": "\(suppressed)", "error": "\(error)"])
                }
            case .failure(let error):
                fail(error.code.rawValue)
                logger.critical("store failed to open", metadata: ["error": "\(error)"])
                throw error
            }
        }
    }
}

extension StoreHolder {
    /// Readiness detail of purges: always ready (a pending purge is retried by the writer, and reads are
    /// unaffected), but says how many purges have not reached disk and why.
    func purgeReadiness() -> Readiness.Status {
        guard let health = current?.health else { return .init(ready: true, detail: "store not open") }
        let pending = health.pendingPurgeCount
        guard pending > 0 else { return .init(ready: true, detail: "every purge is on disk") }
        return .init(ready: true, detail: "\(pending) purge(s) pending: the WAL could not be truncated (\(health.lastPurgeError ?? "not yet retried")); retrying")
    }
}

/// Turns the store's health events into log lines and metrics (the store has neither a logger nor a registry).
final class StoreHealthLog: Sendable {
    private let logger: Logger
    private let purgeFailures: Counter
    private let purgesCompleted: Counter
    private let commitFailures: Counter
    private let followerDisconnects: Counter
    /// Repeated failures of one outage: a line per 30 s with the count so far, not one per attempt.
    private let repeats = LogThrottle(interval: .seconds(30))

    init(metrics: MetricsRegistry, logger: Logger) {
        self.logger = logger
        followerDisconnects = metrics.counter(.storeFollowerReconnectFailures)
        purgeFailures = metrics.counter(.storePurgeFailures)
        purgesCompleted = metrics.counter(.storePurgeRetriesCompleted)
        commitFailures = metrics.counter(.storeCommitFailures)
    }

    func record(_ event: StoreHealthEvent) {
        switch event {
        case .commitFailed(let error, let first, let failures):
            commitFailures.increment()
            // Every failed webhook is logged by its endpoint; here the change of state, then a reminder now and then.
            if first {
                repeats.reset("commit")
                _ = repeats.admit("commit")
                logger.error("store cannot commit: webhooks answer 503 and the webhook listener is not ready", metadata: ["error": "\(error)"])
            } else if repeats.admit("commit") != nil {
                logger.error("store still cannot commit; retrying with backoff", metadata: ["failed_commits": "\(failures)", "error": "\(error)"])
            }
        case .followerDisconnected(let error, let attempt, let retryIn):
            followerDisconnects.increment()
            if attempt == 1 {
                repeats.reset("follower")
                _ = repeats.admit("follower")
                logger.warning("change follower lost PostgreSQL: reads are served from memory, other replicas' changes wait until it is back",
                               metadata: ["error": "\(error)", "retry_in_ms": "\(Int(retryIn * 1000))"])
            } else if repeats.admit("follower") != nil {
                logger.warning("change follower still cannot reach PostgreSQL", metadata: ["attempts": "\(attempt)", "error": "\(error)",
                                                                                              "retry_in_ms": "\(Int(retryIn * 1000))"])
            }
        case .followerReconnected(let attempts, let sequence):
            logger.notice("change follower reconnected; catching up", metadata: ["failed_attempts": "\(attempts)", "after_sequence": "\(sequence)"])
        case .commitRecovered(let failures):
            logger.notice("store commits again", metadata: ["failed_commits": "\(failures)"])
        case .purgeFailed(let error, let pending, let attempt):
            purgeFailures.increment()
            // Backoff caps retries at one per 10 s; log the first few and then about once a minute.
            if attempt <= 5 || attempt % 6 == 0 {
                logger.error("purge not complete: the WAL could not be truncated, purged bytes may still be on disk; retrying",
                             metadata: ["pending": "\(pending)", "attempt": "\(attempt)", "error": "\(error)"])
            }
        case .purgeCompleted(let purged, let attempts):
            if attempts > 1 {
                purgesCompleted.increment(by: purged)
                logger.notice("pending purge completed: the WAL is truncated", metadata: ["purged": "\(purged)", "attempts": "\(attempts)"])
            }
        }
    }
}
