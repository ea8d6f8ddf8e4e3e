import Customers
import DigitalRiverAPI
import Foundation
import JSON
import Logging
import ServiceMetrics
import Synchronization

/// Delivers queued requests to be forgotten to Digital River until each succeeds. The queue lives in the store
/// (written in the same transaction as the local purge), so a restart or a long outage loses none.
///
/// Each id stands alone: an outage (5xx, timeout, 408, 429) backs that id off exponentially, and a permanent
/// refusal (any other 4xx but 404) parks it durably with its reason, to be retried every `parkedRetrySeconds`,
/// at the next start, or when `customer.forget` is called for it again. Neither holds the ids behind it back.
///
/// With PostgreSQL the queue is one table for every replica: each attempt first leases its entry
/// (`ClusterCoordinator`), so exactly one replica delivers it, and a lease whose replica died runs out and the next
/// replica's round takes the entry over. Backoff after an outage is kept in the row, so it is the cluster's, not one replica's.
final class ForgetDelivery: Sendable {
    /// What one delivery attempt came to.
    enum Outcome: Sendable, Equatable {
        /// Digital River recorded it (or has no such customer), and the queue entry is gone.
        case delivered
        /// Digital River is unreachable or asked us to wait; retried with backoff.
        case outage(String)
        /// Digital River refused it for good; `status` labels the metric, `reason` (no PII) is kept with the entry.
        case refused(status: String, reason: String)
        /// Digital River said yes but the store could not record it; retried next round.
        case storeFailed
    }

    private let store: StoreHolder
    /// The Digital River client; nil when the upstream is disabled (forgets wait in the queue).
    private let upstream: DigitalRiverClient?
    private let logger: Logger
    private let intervalSeconds: Double
    private let parkedRetrySeconds: Int64
    private let clock: @Sendable () -> Int64
    private let metrics: MetricsRegistry
    private let delivered: Counter
    private let outages: Counter
    private let refused: Counter
    private let refusals = Mutex<[String: Counter]>([:])
    /// PostgreSQL only: the shared queue and its leases.
    private let cluster: ClusterCoordinator?
    /// PostgreSQL only: the shared queue as last read (every round and after each inline attempt), for readiness,
    /// which must not block on the database.
    private let sharedSummary = Mutex<ClusterCoordinator.ForgetQueueSummary?>(nil)
    /// Per-id backoff after outages, in monotonic time; lost on restart, which then retries everything once.
    private let backoff = Mutex<[String: (failures: Int, due: ContinuousClock.Instant)]>([:])
    /// Rounds before this one; the first round also retries parked entries (a restart is an operator's retry).
    private let rounds = Atomic<Int>(0)
    /// Longest wait between retries of one id during an outage.
    static let maxBackoffSeconds: Double = 600
    /// Outages in a row after which a round stops: Digital River is down, and the rest keep their turn.
    static let outagesEndingRound = 3
    /// How long one replica's claim on a queued forget lasts unless renewed; renewed every third of it while its
    /// attempt runs, so a replica that died hands its entry over after at most this long.
    static let leaseSeconds: Double = 15

    init(store: StoreHolder, upstream: DigitalRiverClient?, intervalSeconds: Double, parkedRetrySeconds: Int64 = 6 * 3600,
         cluster: ClusterCoordinator? = nil, metrics: MetricsRegistry, logger: Logger, clock: @escaping @Sendable () -> Int64) {
        self.store = store
        self.cluster = cluster
        self.upstream = upstream
        self.logger = logger
        self.intervalSeconds = intervalSeconds
        self.parkedRetrySeconds = parkedRetrySeconds
        self.clock = clock
        self.metrics = metrics
        delivered = metrics.counter(.forgetDeliveries, labels: [("outcome", "delivered")])
        outages = metrics.counter(.forgetDeliveries, labels: [("outcome", "failed")])
        refused = metrics.counter(.forgetDeliveries, labels: [("outcome", "refused")])
    }

    /// One attempt (with the client's own retries). A refusal is parked in the store before returning.
    static func deliver(id: String, upstream: DigitalRiverClient, store: CustomerStore, logger: Logger) async -> Outcome {
        do throws(DigitalRiverError) {
            _ = try await upstream.updateCustomer(id: id, JSONObject([("requestToBeForgotten", true)]))
        } catch where error.kind == .notFound {
            // Nothing to forget upstream; the local purge is all there is.
        } catch {
            if let (status, reason) = permanentRefusal(error) {
                logger.error("forget refused by Digital River: parked, retried rarely",
                             metadata: ["customer_id": "\(id)", "reason": "\(reason)"])
                _ = try? await store.apply(.forgetParked(id: id, reason: reason))
                return .refused(status: status, reason: reason)
            }
            logger.warning("forget not delivered upstream yet", metadata: ["customer_id": "\(id)", "error": "\(error.kind.rawValue)"])
            return .outage(error.kind.rawValue)
        }
        do {
            _ = try await store.apply(.forgetDelivered(id: id))
        } catch {
            return .storeFailed
        }
        return .delivered
    }

    /// A 4xx other than 404 (nothing to forget), 408 (timeout) and 429 (slow down) will not change by retrying
    /// soon: the status and a reason built from Digital River's error type and codes (never its messages).
    static func permanentRefusal(_ error: DigitalRiverError) -> (status: String, reason: String)? {
        guard error.kind == .rejected || error.kind == .unauthorized else { return nil }
        if let status = error.status, !(400..<500).contains(status) || [404, 408, 429].contains(status) { return nil }
        let status = error.status.map(String.init) ?? "local"
        var reason = error.status.map { "status \($0)" } ?? "refused before sending"
        if let type = error.type { reason += " \(type)" }
        let codes = error.errors.prefix(3).map { detail in detail.parameter.map { "\(detail.code)(\($0))" } ?? detail.code }
        if !codes.isEmpty { reason += " " + codes.joined(separator: ",") }
        return (status, String(reason.prefix(200)))
    }

    /// Counts an outcome of an attempt made outside a round (the inline attempt of `customer.forget`).
    func count(_ outcome: Outcome) {
        switch outcome {
        case .delivered: delivered.increment()
        case .outage, .storeFailed: outages.increment()
        case .refused(let status, _):
            refused.increment()
            // The status is a label of its own family: a label on only the refused series would break sum().
            let counter = refusals.withLock { counters in
                if let existing = counters[status] { return existing }
                let made = metrics.counter(.forgetRefusals, labels: [("status", status)])
                counters[status] = made
                return made
            }
            counter.increment()
        }
    }

    /// Retries the queue every `intervalSeconds` until cancelled (at shutdown: no round starts after that).
    func run() async {
        await refreshSharedSummary()
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: .seconds(intervalSeconds))
            } catch {
                return
            }
            await runRound()
        }
    }

    /// One pass over the queue, oldest first: every id that is due gets one attempt.
    func runRound() async {
        let firstRound = rounds.wrappingAdd(1, ordering: .relaxed).oldValue == 0
        if let cluster {
            if let store = store.current, store.isOpen, let upstream {
                await runSharedRound(cluster: cluster, store: store, upstream: upstream, firstRound: firstRound)
            }
            await refreshSharedSummary()
            return
        }
        guard let store = store.current, store.isOpen, let upstream else { return }
        let nowSeconds = clock() / 1_000_000
        var outagesInARow = 0
        for entry in store.forgetQueue {
            if Task.isCancelled { return }
            if let parked = entry.parked {
                guard firstRound || nowSeconds - parked.atSeconds >= parkedRetrySeconds else { continue }
            } else if let due = backoff.withLock({ $0[entry.id]?.due }), due > .now {
                continue
            }
            let outcome = await Self.deliver(id: entry.id, upstream: upstream, store: store, logger: logger)
            count(outcome)
            switch outcome {
            case .delivered, .refused:
                backoff.withLock { $0[entry.id] = nil }
                outagesInARow = 0
            case .outage:
                backOff(entry.id)
                outagesInARow += 1
                if outagesInARow >= Self.outagesEndingRound { return }
            case .storeFailed:
                return  // The store cannot commit: nothing delivered can be recorded until it can.
            }
        }
    }

    /// The PostgreSQL round: lease the oldest due entry nobody holds, attempt it, repeat until none is left.
    private func runSharedRound(cluster: ClusterCoordinator, store: CustomerStore, upstream: DigitalRiverClient, firstRound: Bool) async {
        let parkedBefore = clock() / 1_000_000 - parkedRetrySeconds
        var attempted: [String] = []
        var outagesInARow = 0
        while !Task.isCancelled {
            let claimed: QueuedForget?
            do {
                claimed = try await cluster.claimNextForget(parkedBeforeSeconds: parkedBefore, afterRestart: firstRound, skipping: attempted,
                                                            leaseSeconds: Self.leaseSeconds)
            } catch {
                return  // PostgreSQL is unreachable: nothing delivered could be recorded either.
            }
            guard let entry = claimed else { return }
            attempted.append(entry.id)
            let outcome = await deliverLeased(entry.id, cluster: cluster, upstream: upstream, store: store)
            count(outcome)
            switch outcome {
            case .delivered, .refused:
                outagesInARow = 0
            case .outage:
                outagesInARow += 1
                if outagesInARow >= Self.outagesEndingRound { return }
            case .storeFailed:
                return
            }
        }
    }

    /// One attempt on an entry this replica has leased: the lease is renewed while Digital River takes its time,
    /// then ended (with the cluster's backoff after an outage). A delivered entry's row is gone with its lease.
    private func deliverLeased(_ id: String, cluster: ClusterCoordinator, upstream: DigitalRiverClient, store: CustomerStore) async -> Outcome {
        let renewal = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(Int(Self.leaseSeconds * 1000 / 3)))
                if Task.isCancelled { return }
                try? await cluster.renewForget(id, leaseSeconds: Self.leaseSeconds)
            }
        }
        let outcome = await Self.deliver(id: id, upstream: upstream, store: store, logger: logger)
        renewal.cancel()
        switch outcome {
        case .delivered, .storeFailed:
            break  // Delivered: the row is deleted. Not recorded: the lease runs out and the entry is tried again.
        case .refused:
            try? await cluster.releaseForget(id, backingOff: false, intervalSeconds: intervalSeconds, maxBackoffSeconds: Self.maxBackoffSeconds)
        case .outage:
            try? await cluster.releaseForget(id, backingOff: true, intervalSeconds: intervalSeconds, maxBackoffSeconds: Self.maxBackoffSeconds)
        }
        return outcome
    }

    /// The inline attempt of `customer.forget`, counted. With PostgreSQL only when no other replica holds the entry
    /// (nil: it does, and delivers it; or the database cannot say).
    func deliverNow(id: String, upstream: DigitalRiverClient, store: CustomerStore) async -> Outcome? {
        let outcome: Outcome
        if let cluster {
            guard (try? await cluster.claimForget(id, leaseSeconds: Self.leaseSeconds)) == true else { return nil }
            outcome = await deliverLeased(id, cluster: cluster, upstream: upstream, store: store)
            await refreshSharedSummary()
        } else {
            outcome = await Self.deliver(id: id, upstream: upstream, store: store, logger: logger)
        }
        count(outcome)
        return outcome
    }

    /// Whether a forget of `id` still has to reach Digital River: the shared queue with PostgreSQL (another replica
    /// may have delivered it; when the database cannot say, yes), this store's queue otherwise.
    func isQueued(_ id: String, in store: CustomerStore) async -> Bool {
        guard let cluster else { return store.queuedForgets.contains(id) }
        return (try? await cluster.isForgetQueued(id)) ?? true
    }

    private func refreshSharedSummary() async {
        guard let cluster, let summary = try? await cluster.forgetQueueSummary() else { return }
        sharedSummary.withLock { $0 = summary }
    }

    private func backOff(_ id: String) {
        backoff.withLock { table in
            let failures = (table[id]?.failures ?? 0) + 1
            let delay = RetrySchedule.delay(afterFailures: failures, first: max(intervalSeconds, 0.001), maximum: Self.maxBackoffSeconds)
            table[id] = (failures, .now + .milliseconds(Int(delay * 1000)))
        }
    }

    /// Entries waiting and the parked ones by reason: the whole cluster's with PostgreSQL (as of the last read), this
    /// store's otherwise. Never blocks on I/O (readiness and metrics scrapes read it).
    func queueState() -> (waiting: Int, parkedByReason: [String: Int], shared: Bool) {
        if cluster != nil, let summary = sharedSummary.withLock({ $0 }) { return (summary.waiting, summary.parkedByReason, true) }
        let queue = store.current?.forgetQueue ?? []
        var reasons: [String: Int] = [:]
        for entry in queue { if let parked = entry.parked { reasons[parked.reason, default: 0] += 1 } }
        return (queue.count, reasons, false)
    }

    /// Readiness detail (always ready: the local purge is done; this is about Digital River).
    /// With PostgreSQL it describes the queue every replica shares, as of the last round or inline attempt.
    func readiness() -> Readiness.Status {
        let (waiting, reasons, shared) = queueState()
        let scope = shared ? " (queue shared by every replica)" : ""
        guard waiting > 0 else { return .init(ready: true, detail: "no forget pending upstream\(scope)") }
        var detail = "\(waiting) forget(s) waiting for Digital River\(scope)"
        let parkedCount = reasons.values.reduce(0, +)
        if parkedCount > 0 {
            let listed = reasons.sorted { $0.key < $1.key }.prefix(5).map { "\($0.key) x\($0.value)" }.joined(separator: "; ")
            detail += "; \(parkedCount) parked, refused by Digital River (\(listed)): retried every \(parkedRetrySeconds / 3600) h, at restart, or by calling customer.forget again"
        }
        return .init(ready: true, detail: detail)
    }
}
