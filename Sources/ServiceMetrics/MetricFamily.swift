/// One Prometheus metric family as the service declares it: name, type, help and label names live here and
/// nowhere else, so the README table, `/metrics` and the call sites cannot disagree.
public struct MetricFamily: Sendable, Hashable, CustomStringConvertible {
    /// The Prometheus `# TYPE` of a family.
    public enum Kind: String, Sendable, Hashable {
        case counter, gauge, histogram
    }

    public let name: String
    public let kind: Kind
    public let help: String
    /// Every series of the family carries exactly these labels, in this order (none means one unlabeled series).
    public let labelNames: [String]
    /// Upper bounds in seconds; histograms only.
    public let buckets: [Double]

    public init(_ name: String, _ kind: Kind, labels: [String] = [], buckets: [Double] = [], help: String) {
        precondition(kind != .counter || name.hasSuffix("_total"), "a counter's name ends in _total: \(name)")
        precondition(kind == .counter || !name.hasSuffix("_total"), "only counters end in _total: \(name)")
        precondition(kind == .histogram || buckets.isEmpty, "only histograms have buckets: \(name)")
        self.name = name
        self.kind = kind
        self.help = help
        self.labelNames = labels
        self.buckets = buckets
    }

    public var description: String { name }

    /// Latency buckets from 100 µs to 10 s.
    public static let latencyBuckets: [Double] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
}

// The service's families. Each counter's series are mutually exclusive: sum() over a family counts events once.
extension MetricFamily {
    // MARK: webhooks

    public static let webhookEvents = MetricFamily("customer_cache_webhook_events_total", .counter, labels: ["outcome"],
        help: "Webhook deliveries by final outcome; each delivery counts once, so sum() counts deliveries.")
    public static let webhookSignaturesVerified = MetricFamily("customer_cache_webhook_signatures_verified_total", .counter,
        help: "Webhook deliveries whose signature verified (a step, not an outcome: each also ends in one outcome).")
    public static let webhookSignatureRejections = MetricFamily("customer_cache_webhook_signature_rejections_total", .counter, labels: ["reason"],
        help: "Webhook signature rejections by reason (the detail behind outcome bad_signature or stale_timestamp).")
    public static let webhookSecretsConfigured = MetricFamily("customer_cache_webhook_secrets_configured", .gauge,
        help: "Signing secrets configured (0 means every webhook is rejected).")
    public static let secretReloads = MetricFamily("customer_cache_secret_reloads_total", .counter, labels: ["secret", "outcome"],
        help: "New versions of webhook-secrets-file and rpc-tokens-file: applied, or failed (unreadable or invalid; the current secrets stay).")

    // MARK: JSON-RPC

    public static let rpcOutcomes = MetricFamily("customer_cache_rpc_outcomes_total", .counter, labels: ["method", "outcome"],
        help: "customer.get, customer.ensure and customer.forget calls by outcome; each call counts once.")
    public static let servedCachedUpstreamDown = MetricFamily("customer_cache_served_cached_upstream_down_total", .counter,
        help: "Upstream reads that failed and were answered with the cached copy (also counted as read_through).")
    public static let loadAppliedCustomers = MetricFamily("customer_cache_load_applied_customers_total", .counter,
        help: "Customers that cache.load (the warm-up job) applied to the cache.")

    // MARK: forget delivery

    public static let forgetDeliveries = MetricFamily("customer_cache_forget_deliveries_total", .counter, labels: ["outcome"],
        help: "Upstream forget attempts by outcome (failed: outage, retried with backoff; refused: parked).")
    public static let forgetRefusals = MetricFamily("customer_cache_forget_refusals_total", .counter, labels: ["status"],
        help: "Upstream forget attempts Digital River refused for good, by HTTP status (local: refused before sending).")
    public static let forgetQueue = MetricFamily("customer_cache_forget_queue", .gauge,
        help: "Requests to be forgotten not yet delivered to Digital River.")
    public static let forgetParked = MetricFamily("customer_cache_forget_parked", .gauge,
        help: "Queued forgets Digital River refused for good (4xx), retried rarely.")

    // MARK: store

    public static let storeCommitSeconds = MetricFamily("customer_cache_store_commit_seconds", .histogram, buckets: latencyBuckets,
        help: "Duration of one grouped store transaction.")
    public static let storeCommittedOperations = MetricFamily("customer_cache_store_committed_operations_total", .counter,
        help: "Operations committed to the store.")
    public static let storeCommitFailures = MetricFamily("customer_cache_store_commit_failures_total", .counter,
        help: "Failed store commits (batches and probe writes).")
    public static let storePurgesPending = MetricFamily("customer_cache_store_purges_pending", .gauge,
        help: "Purged customers whose old bytes may still be in the WAL (checkpoint+truncate failed; retried).")
    public static let storePurgeFailures = MetricFamily("customer_cache_store_purge_failures_total", .counter,
        help: "Failed checkpoint+truncate attempts after a purge (retried).")
    public static let storePurgeRetriesCompleted = MetricFamily("customer_cache_store_purge_retries_completed_total", .counter,
        help: "Pending purges that a retry completed.")
    public static let storeReachable = MetricFamily("customer_cache_store_reachable", .gauge,
        help: "0 while the writer finds the shared store unreachable (PostgreSQL down or restarting; 1 with SQLite).")
    public static let storeFollowerConnected = MetricFamily("customer_cache_store_follower_connected", .gauge,
        help: "1 while the change follower is connected to the shared store (1 with SQLite).")
    public static let storeFollowerReconnectFailures = MetricFamily("customer_cache_store_follower_reconnect_failures_total", .counter,
        help: "Lost connections and failed reconnect attempts of the change follower.")
    public static let storeChangesBehind = MetricFamily("customer_cache_store_changes_behind", .gauge,
        help: "Committed changes not yet applied to this replica's memory (0 with SQLite).")
    public static let storeReplicationLagSeconds = MetricFamily("customer_cache_store_replication_lag_seconds", .gauge,
        help: "Commit-to-memory delay of the last change applied from the shared store (0 with SQLite).")
    public static let customers = MetricFamily("customer_cache_customers", .gauge, labels: ["state"],
        help: "Records held in memory by state.")

    // MARK: bounded memory (max-cached-customers)

    public static let memoryHits = MetricFamily("customer_cache_memory_hits_total", .counter,
        help: "customer.get calls answered from memory.")
    public static let memoryMisses = MetricFamily("customer_cache_memory_misses_total", .counter, labels: ["answered_by"],
        help: "customer.get calls memory could not answer, by who did: the store (bounded memory), Digital River, or none (not found, failed).")
    public static let memoryEvictions = MetricFamily("customer_cache_memory_evictions_total", .counter,
        help: "Customers evicted from memory (SIEVE) to stay within max-cached-customers.")
    public static let residentCustomers = MetricFamily("customer_cache_resident_customers", .gauge,
        help: "Customers held in memory, tombstones included.")
    public static let memoryLimitCustomers = MetricFamily("customer_cache_memory_limit_customers", .gauge,
        help: "max-cached-customers (0: every customer is kept in memory).")

    // MARK: HTTP listeners

    public static let httpOpenConnections = MetricFamily("customer_cache_http_open_connections", .gauge, labels: ["listener"],
        help: "Open TCP connections per listener.")
    public static let httpAcceptErrors = MetricFamily("customer_cache_http_accept_errors_total", .counter, labels: ["listener", "reason"],
        help: "Failed accepts (emfile, enfile: out of descriptors).")
    public static let httpIdleConnectionsClosed = MetricFamily("customer_cache_http_idle_connections_closed_total", .counter, labels: ["listener"],
        help: "Idle connections closed to admit a new one at max-connections or when descriptors ran out.")
    public static let httpConnectionsRefused = MetricFamily("customer_cache_http_connections_refused_total", .counter, labels: ["listener"],
        help: "Connections answered 503 because none could be admitted.")
    public static let httpReadsPausedForOutput = MetricFamily("customer_cache_http_reads_paused_for_output_total", .counter, labels: ["listener"],
        help: "Times a connection stopped being read because its unsent output passed max-output-buffer-bytes.")
    public static let httpPeakOutputBufferBytes = MetricFamily("customer_cache_http_peak_output_buffer_bytes", .gauge, labels: ["listener"],
        help: "Most unsent response bytes one connection has held since start.")

    /// Every family the service exposes, in the order `/metrics` and the README list them.
    public static let all: [MetricFamily] = [
        webhookEvents, webhookSignaturesVerified, webhookSignatureRejections, webhookSecretsConfigured, secretReloads,
        rpcOutcomes, servedCachedUpstreamDown, loadAppliedCustomers,
        forgetDeliveries, forgetRefusals, forgetQueue, forgetParked,
        storeCommitSeconds, storeCommittedOperations, storeCommitFailures, storePurgesPending, storePurgeFailures,
        storePurgeRetriesCompleted, storeReachable, storeFollowerConnected, storeFollowerReconnectFailures,
        storeChangesBehind, storeReplicationLagSeconds, customers,
        memoryHits, memoryMisses, memoryEvictions, residentCustomers, memoryLimitCustomers,
        httpOpenConnections, httpAcceptErrors, httpIdleConnectionsClosed, httpConnectionsRefused, httpReadsPausedForOutput,
        httpPeakOutputBufferBytes,
    ]

    /// The declared family of this name, if any.
    public static func named(_ name: String) -> MetricFamily? { byName[name] }
    private static let byName: [String: MetricFamily] = Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0) })
}
