import Customers
import ServiceMetrics

/// The bounded-memory metrics (`max-cached-customers`), registered in one place: how often customer.get found the
/// customer in memory, who answered when it did not, and what eviction costs.
final class MemoryMetrics: Sendable {
    let hits, answeredByStore, answeredByUpstream, answeredByNone: Counter

    init(_ metrics: MetricsRegistry, store: StoreHolder) {
        hits = metrics.counter(.memoryHits)
        answeredByStore = metrics.counter(.memoryMisses, labels: [("answered_by", "store")])
        answeredByUpstream = metrics.counter(.memoryMisses, labels: [("answered_by", "upstream")])
        answeredByNone = metrics.counter(.memoryMisses, labels: [("answered_by", "none")])
        metrics.counter(.memoryEvictions) { store.current?.evictions ?? 0 }
        metrics.gauge(.residentCustomers) { store.current?.count ?? 0 }
        metrics.gauge(.memoryLimitCustomers) { store.current?.memoryLimit ?? 0 }
    }
}
