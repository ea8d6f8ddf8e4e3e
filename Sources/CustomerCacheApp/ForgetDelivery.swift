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
    private let upstream: UpstreamHolder
    private let logger: Logger
    private let intervalSeconds: Double
    private let parkedRetrySeconds: Int64
    private let clock: @Sendable () -> Int64
    private let metrics: MetricsRegistry
    private let delivered: Counter
    private let outages: Counter
    private let refusals = Mutex<[String: Counter]>([:])
    /// Per-id backoff after outages, in monotonic time; lost on restart, which then retries everything once.
    private let backoff = Mutex<[String: (failures: Int, due: ContinuousClock.Instant)]>([:])
    /// Rounds before this one; the first round also retries parked entries (a restart is an operator's retry).
    private let rounds = Atomic<Int>(0)
    /// Longest wait between retries of one id during an outage.
    static let maxBackoffSeconds: Double = 600
    /// Outages in a row after which a round stops: Digital River is down, and the rest keep their turn.
    static let outagesEndingRound = 3

    init(store: StoreHolder, upstream: UpstreamHolder, intervalSeconds: Double, parkedRetrySeconds: Int64 = 6 * 3600,
         metrics: MetricsRegistry, logger: Logger, clock: @escaping @Sendable () -> Int64) {
        self.store = store
        self.upstream = upstream
        self.logger = logger
        self.intervalSeconds = intervalSeconds
        self.parkedRetrySeconds = parkedRetrySeconds
        self.clock = clock
        self.metrics = metrics
        delivered = metrics.counter(Self.metricName, help: Self.metricHelp, labels: [("outcome", "delivered")])
        outages = metrics.counter(Self.metricName, help: Self.metricHelp, labels: [("outcome", "failed")])
    }

    static let metricName = "customer_cache_forget_deliveries_total"
    static let metricHelp = "Upstream forget deliveries by outcome (failed: outage, retried with backoff; refused: parked, by status)."

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
            let counter = refusals.withLock { counters in
                if let existing = counters[status] { return existing }
                let made = metrics.counter(Self.metricName, help: Self.metricHelp, labels: [("outcome", "refused"), ("reason", status)])
                counters[status] = made
                return made
            }
            counter.increment()
        }
    }

    /// Retries the queue every `intervalSeconds` until cancelled.
    func run() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(intervalSeconds))
            await runRound()
        }
    }

    /// One pass over the queue, oldest first: every id that is due gets one attempt.
    func runRound() async {
        let firstRound = rounds.wrappingAdd(1, ordering: .relaxed).oldValue == 0
        guard let store = store.current, store.isOpen, let upstream = upstream.current else { return }
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

    private func backOff(_ id: String) {
        backoff.withLock { table in
            let failures = (table[id]?.failures ?? 0) + 1
            let delay = min(Self.maxBackoffSeconds, max(intervalSeconds, 0.001) * pow(2, Double(min(failures - 1, 20))))
            table[id] = (failures, .now + .milliseconds(Int(delay * 1000)))
        }
    }

    /// Readiness detail (always ready: the local purge is done; this is about Digital River).
    func readiness() -> Readiness.Status {
        let queue = store.current?.forgetQueue ?? []
        let parked = queue.filter { $0.parked != nil }
        guard !queue.isEmpty else { return .init(ready: true, detail: "no forget pending upstream") }
        var detail = "\(queue.count) forget(s) waiting for Digital River"
        if !parked.isEmpty {
            var reasons: [String: Int] = [:]
            for entry in parked { reasons[entry.parked?.reason ?? "", default: 0] += 1 }
            let listed = reasons.sorted { $0.key < $1.key }.prefix(5).map { "\($0.key) x\($0.value)" }.joined(separator: "; ")
            detail += "; \(parked.count) parked, refused by Digital River (\(listed)): retried every \(parkedRetrySeconds / 3600) h, at restart, or by calling customer.forget again"
        }
        return .init(ready: true, detail: detail)
    }
}
