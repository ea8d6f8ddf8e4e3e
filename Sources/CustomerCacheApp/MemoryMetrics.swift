import Customers
import ServiceMetrics

/// The bounded-memory metrics (`max-cached-customers`), registered in one place: how often customer.get found the
/// customer in memory, who answered when it did not, and what eviction costs.
final class MemoryMetrics: Sendable {
    let hits, answeredByStore, answeredByUpstream, answeredByNone: Counter

    init(_ metrics: MetricsRegistry, store: StoreHolder) {
        hits = metrics.counter("customer_cache_memory_hits_total", help: "customer.get calls answered from memory.")
        let misses = "customer_cache_memory_misses_total"
        let help = "customer.get calls memory could not answer, by who did: the store (bounded memory), Digital River, or nobody (not found, failed)."
        answeredByStore = metrics.counter(misses, help: help, labels: [("answered_by", "store")])
        answeredByUpstream = metrics.counter(misses, help: help, labels: [("answered_by", "upstream")])
        answeredByNone = metrics.counter(misses, help: help, labels: [("answered_by", "none")])
        metrics.counter("customer_cache_memory_evictions_total", help: "Customers evicted from memory (SIEVE) to stay within max-cached-customers.") {
            store.current?.evictions ?? 0
        }
        metrics.gauge("customer_cache_resident_customers", help: "Customers held in memory, tombstones included.") {
            store.current?.count ?? 0
        }
        metrics.gauge("customer_cache_memory_limit_customers", help: "max-cached-customers (0: every customer is kept in memory).") {
            store.current?.memoryLimit ?? 0
        }
    }
}
