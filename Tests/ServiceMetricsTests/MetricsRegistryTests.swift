import Foundation
import Metrics
import ServiceMetrics
import Synchronization
import Testing

/// The exposition as name+labels → value, for exact assertions independent of line order.
func samples(_ text: String) -> [String: Double] {
    var out: [String: Double] = [:]
    for line in text.split(separator: "\n") where !line.hasPrefix("#") {
        guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
        out[String(line[..<space])] = value
    }
    return out
}

@Suite("Prometheus exposition of the declared families")
struct MetricsRegistryTests {
    @Test("counters with labels render one series per label set under one HELP and TYPE")
    func counters() {
        let registry = MetricsRegistry()
        let applied = registry.counter(.webhookEvents, labels: [("outcome", "applied")])
        let duplicate = registry.counter(.webhookEvents, labels: [("outcome", "duplicate")])
        applied.increment()
        applied.increment(by: 2)
        applied.increment(by: -5)   // ignored: a counter never goes down, and a bad amount must not trap
        duplicate.increment()
        let text = registry.render()
        #expect(text.contains("# TYPE customer_cache_webhook_events_total counter\n"))
        #expect(text.contains("# HELP customer_cache_webhook_events_total \(MetricFamily.webhookEvents.help)\n"))
        let values = samples(text)
        #expect(values[#"customer_cache_webhook_events_total{outcome="applied"}"#] == 3)
        #expect(values[#"customer_cache_webhook_events_total{outcome="duplicate"}"#] == 1)
        #expect(text.components(separatedBy: "# HELP customer_cache_webhook_events_total ").count == 2)
        #expect(text.components(separatedBy: "# TYPE customer_cache_webhook_events_total ").count == 2)
    }

    @Test("every declared family has HELP and TYPE, in declaration order, even before its first series")
    func everyFamilyDeclared() {
        let registry = MetricsRegistry()
        registry.counter(.forgetDeliveries, labels: [("outcome", "delivered")]).increment()
        let text = registry.render()
        let typeLines = text.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }
        #expect(typeLines.map { String($0) } == MetricFamily.all.map { "# TYPE \($0.name) \($0.kind.rawValue)" })
        let helpLines = text.split(separator: "\n").filter { $0.hasPrefix("# HELP ") }
        #expect(helpLines.map { String($0) } == MetricFamily.all.map { "# HELP \($0.name) \($0.help)" })
        // The sample sits under its own family's TYPE line.
        let lines = text.split(separator: "\n").map(String.init)
        let type = lines.firstIndex(of: "# TYPE customer_cache_forget_deliveries_total counter")
        #expect(type.map { lines[$0 + 1] } == #"customer_cache_forget_deliveries_total{outcome="delivered"} 1"#)
    }

    @Test("declared names follow the Prometheus conventions: counters end in _total, units are base units")
    func namingConventions() {
        let names = MetricFamily.all.map(\.name)
        #expect(Set(names).count == names.count)
        for family in MetricFamily.all {
            #expect(family.name.hasPrefix("customer_cache_"))
            #expect((family.kind == .counter) == family.name.hasSuffix("_total"), "\(family)")
            #expect(family.name.range(of: "^[a-z_][a-z0-9_]*$", options: .regularExpression) != nil, "\(family)")
            for unit in ["_milliseconds", "_microseconds", "_ms", "_kilobytes", "_megabytes", "_percent"] {
                #expect(!family.name.contains(unit), "\(family): use seconds, bytes or ratios")
            }
            #expect(!family.labelNames.contains("le") && !family.labelNames.contains("quantile"))
            #expect(!family.help.isEmpty && !family.help.contains("\n"))
        }
        #expect(MetricFamily.storeCommitSeconds.kind == .histogram && MetricFamily.storeCommitSeconds.name.hasSuffix("_seconds"))
    }

    @Test("histogram buckets are cumulative and count and sum agree with observations")
    func histogram() {
        let registry = MetricsRegistry()
        let latency = registry.histogram(.storeCommitSeconds)
        latency.observe(seconds: 0.0005)
        latency.observe(seconds: 0.005)
        latency.observe(seconds: 0.05)
        latency.observe(seconds: 5)
        let values = samples(registry.render())
        #expect(values[#"customer_cache_store_commit_seconds_bucket{le="0.0001"}"#] == 0)
        #expect(values[#"customer_cache_store_commit_seconds_bucket{le="0.0005"}"#] == 1)
        #expect(values[#"customer_cache_store_commit_seconds_bucket{le="0.005"}"#] == 2)
        #expect(values[#"customer_cache_store_commit_seconds_bucket{le="0.05"}"#] == 3)
        #expect(values[#"customer_cache_store_commit_seconds_bucket{le="2.5"}"#] == 3)
        #expect(values[#"customer_cache_store_commit_seconds_bucket{le="+Inf"}"#] == 4)
        #expect(values["customer_cache_store_commit_seconds_count"] == 4)
        #expect(abs((values["customer_cache_store_commit_seconds_sum"] ?? 0) - 5.0555) < 1e-9)
    }

    @Test("label values are escaped")
    func escaping() {
        let registry = MetricsRegistry()
        registry.counter(.forgetRefusals, labels: [("status", "a\"b\\c\nd")]).increment()
        #expect(registry.render().contains(#"customer_cache_forget_refusals_total{status="a\"b\\c\nd"} 1"#))
    }

    @Test("sampled gauges and counters are read at render time; a sampled counter never goes down")
    func sampled() {
        let registry = MetricsRegistry()
        let source = Mutex(0)
        registry.gauge(.forgetQueue) { source.withLock { $0 } }
        registry.counter(.httpConnectionsRefused, labels: [("listener", "rpc")]) { source.withLock { $0 } }
        registry.gauge(.storeReplicationLagSeconds) { 0.25 }
        source.withLock { $0 = 42 }
        var values = samples(registry.render())
        #expect(values["customer_cache_forget_queue"] == 42)
        #expect(values[#"customer_cache_http_connections_refused_total{listener="rpc"}"#] == 42)
        #expect(values["customer_cache_store_replication_lag_seconds"] == 0.25)
        source.withLock { $0 = 40 }
        values = samples(registry.render())
        #expect(values["customer_cache_forget_queue"] == 40)
        #expect(values[#"customer_cache_http_connections_refused_total{listener="rpc"}"#] == 42)
        source.withLock { $0 = 45 }
        #expect(samples(registry.render())[#"customer_cache_http_connections_refused_total{listener="rpc"}"#] == 45)
    }

    @Test("swift-metrics' Counter, Gauge and Timer record into the same families through the factory")
    func swiftMetricsAPI() {
        let registry = MetricsRegistry()
        let handle = registry.counter(.webhookEvents, labels: [("outcome", "applied")])
        Metrics.Counter(label: "customer_cache_webhook_events_total", dimensions: [("outcome", "applied")], factory: registry.factory).increment(by: 2)
        handle.increment()
        Metrics.Gauge(label: "customer_cache_forget_parked", factory: registry.factory).record(3)
        Metrics.Timer(label: "customer_cache_store_commit_seconds", factory: registry.factory).recordMilliseconds(20)
        // A name the service does not declare (a library's own) is still exposed, under swift-prometheus's defaults.
        Metrics.Counter(label: "library_things_total", factory: registry.factory).increment()
        let text = registry.render()
        let values = samples(text)
        #expect(values[#"customer_cache_webhook_events_total{outcome="applied"}"#] == 3)
        #expect(values["customer_cache_forget_parked"] == 3)
        #expect(values[#"customer_cache_store_commit_seconds_bucket{le="0.025"}"#] == 1)
        #expect(values[#"customer_cache_store_commit_seconds_bucket{le="0.01"}"#] == 0)
        #expect(values["library_things_total"] == 1)
        #expect(text.components(separatedBy: "# HELP customer_cache_webhook_events_total ").count == 2)
    }
}
