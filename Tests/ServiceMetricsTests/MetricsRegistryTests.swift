import Foundation
import ServiceMetrics
import Testing

@Suite("Prometheus text rendering")
struct MetricsRegistryTests {
    @Test("counters with labels render one series per label set under one HELP/TYPE")
    func counters() {
        let registry = MetricsRegistry()
        let applied = registry.counter("webhook_events_total", help: "Webhook outcomes.", labels: [("outcome", "applied")])
        let duplicate = registry.counter("webhook_events_total", help: "Webhook outcomes.", labels: [("outcome", "duplicate")])
        applied.increment()
        applied.increment(by: 2)
        duplicate.increment()
        let text = registry.render()
        #expect(text.contains("# TYPE webhook_events_total counter\n"))
        #expect(text.contains("webhook_events_total{outcome=\"applied\"} 3\n"))
        #expect(text.contains("webhook_events_total{outcome=\"duplicate\"} 1\n"))
        #expect(text.components(separatedBy: "# HELP webhook_events_total").count == 2)
    }

    @Test("histogram buckets are cumulative and count and sum agree with observations")
    func histogram() {
        let registry = MetricsRegistry()
        let latency = registry.histogram("commit_seconds", help: "Commit latency.", bounds: [0.001, 0.01, 0.1])
        latency.observe(seconds: 0.0005)
        latency.observe(seconds: 0.005)
        latency.observe(seconds: 0.05)
        latency.observe(seconds: 5)
        let text = registry.render()
        #expect(text.contains("commit_seconds_bucket{le=\"0.001\"} 1\n"))
        #expect(text.contains("commit_seconds_bucket{le=\"0.01\"} 2\n"))
        #expect(text.contains("commit_seconds_bucket{le=\"0.1\"} 3\n"))
        #expect(text.contains("commit_seconds_bucket{le=\"+Inf\"} 4\n"))
        #expect(text.contains("commit_seconds_count 4\n"))
        #expect(text.contains("commit_seconds_sum 5.0555\n"))
    }

    @Test("label values are escaped")
    func escaping() {
        let registry = MetricsRegistry()
        registry.counter("x_total", help: "x", labels: [("type", "a\"b\\c")]).increment()
        #expect(registry.render().contains(#"x_total{type="a\"b\\c"} 1"#))
    }

    @Test("function gauges are read at render time")
    func functionGauge() {
        let registry = MetricsRegistry()
        let source = Gauge()
        registry.gauge("cache_customers", help: "Customers in memory.") { source.current }
        source.set(42)
        #expect(registry.render().contains("cache_customers 42\n"))
    }
}
