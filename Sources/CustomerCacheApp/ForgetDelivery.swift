import Customers
import DigitalRiverAPI
import Foundation
import JSON
import Logging
import ServiceMetrics

/// Delivers queued requests to be forgotten to Digital River until each succeeds. The queue lives in the store
/// (written in the same transaction as the local purge), so a restart or a long outage loses none.
final class ForgetDelivery: Sendable {
    private let store: StoreHolder
    private let upstream: UpstreamHolder
    private let logger: Logger
    private let intervalSeconds: Double
    private let attempts: Counter
    private let failures: Counter

    init(store: StoreHolder, upstream: UpstreamHolder, intervalSeconds: Double, metrics: MetricsRegistry, logger: Logger) {
        self.store = store
        self.upstream = upstream
        self.logger = logger
        self.intervalSeconds = intervalSeconds
        attempts = metrics.counter("customer_cache_forget_deliveries_total", help: "Upstream forget deliveries by outcome.", labels: [("outcome", "delivered")])
        failures = metrics.counter("customer_cache_forget_deliveries_total", help: "Upstream forget deliveries by outcome.", labels: [("outcome", "failed")])
    }

    /// One attempt (with the client's own retries); true when Digital River recorded it (or has no such customer).
    static func deliver(id: String, upstream: DigitalRiverClient, store: CustomerStore, logger: Logger) async -> Bool {
        do throws(DigitalRiverError) {
            _ = try await upstream.updateCustomer(id: id, JSONObject([("requestToBeForgotten", true)]))
        } catch where error.kind == .notFound {
            // Nothing to forget upstream; the local purge is all there is.
        } catch {
            logger.warning("forget not delivered upstream yet", metadata: ["customer_id": "\(id)", "error": "\(error.kind.rawValue)"])
            return false
        }
        do {
            _ = try await store.apply(.forgetDelivered(id: id))
        } catch {
            return false
        }
        return true
    }

    /// Retries the queue every `intervalSeconds` until cancelled.
    func run() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(intervalSeconds))
            guard let store = store.current, store.isOpen, let upstream = upstream.current else { continue }
            for id in store.queuedForgets.sorted() {
                if Task.isCancelled { return }
                if await Self.deliver(id: id, upstream: upstream, store: store, logger: logger) {
                    attempts.increment()
                } else {
                    failures.increment()
                    break  // Digital River is still down: wait for the next round rather than hammer it.
                }
            }
        }
    }
}
