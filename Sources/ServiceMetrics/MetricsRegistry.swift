import Metrics
import Prometheus
import Synchronization

/// A counter series resolved once at start-up: the hot path is one relaxed atomic add on swift-prometheus's
/// counter, with no label lookup and no swift-metrics existential in between.
public struct Counter: Sendable {
    let base: Prometheus.Counter
    /// A counter never goes down: a non-positive amount is ignored (swift-prometheus would trap on a negative one).
    public func increment(by amount: Int = 1) {
        guard amount > 0 else { return }
        base.increment(by: Int64(amount))
    }
}

/// A gauge series resolved once at start-up (swift-prometheus's gauge, which stores a Double).
public struct Gauge: Sendable {
    let base: Prometheus.Gauge
    public func set(_ value: Double) { base.set(to: value) }
    public func set(_ value: Int) { base.set(to: Double(value)) }
}

/// A histogram series in seconds, resolved once at start-up.
public struct Histogram: Sendable {
    let base: Prometheus.DurationHistogram
    public func observe(seconds: Double) { base.record(.nanoseconds(Int64((max(0, seconds) * 1e9).rounded()))) }
}

/// The service's metrics, kept in swift-prometheus's `PrometheusCollectorRegistry` and rendered in the Prometheus
/// text format (0.0.4). Series are made only for declared `MetricFamily`s, with the family's label names, so every
/// family gets its HELP and TYPE and one label set for all its series. `factory` serves the swift-metrics API
/// (`Counter(label:)`, `Timer(label:)`, …) from the same registry; `bootstrapMetricsSystem()` makes it the process's.
public final class MetricsRegistry: Sendable {
    public let prometheus: PrometheusCollectorRegistry
    public let factory: ServiceMetricsFactory
    /// Values another component already keeps, copied into their series at scrape time.
    private let collectors = Mutex<[@Sendable () -> Void]>([])

    public init() {
        let prometheus = PrometheusCollectorRegistry()
        self.prometheus = prometheus
        self.factory = ServiceMetricsFactory(registry: prometheus)
    }

    /// Makes `factory` the backend of swift-metrics for this process (once; a second call traps, as swift-metrics does).
    public func bootstrapMetricsSystem() {
        MetricsSystem.bootstrap(factory)
    }

    public func counter(_ family: MetricFamily, labels: [(String, String)] = []) -> Counter {
        check(family, .counter, labels)
        return Counter(base: prometheus.makeCounter(descriptor: family.descriptor, labels: labels))
    }

    public func gauge(_ family: MetricFamily, labels: [(String, String)] = []) -> Gauge {
        check(family, .gauge, labels)
        return Gauge(base: prometheus.makeGauge(descriptor: family.descriptor, labels: labels))
    }

    public func histogram(_ family: MetricFamily, labels: [(String, String)] = []) -> Histogram {
        check(family, .histogram, labels)
        return Histogram(base: prometheus.makeDurationHistogram(descriptor: family.descriptor, labels: labels, buckets: family.durationBuckets))
    }

    /// A gauge read at scrape time, for values another component already tracks.
    public func gauge(_ family: MetricFamily, labels: [(String, String)] = [], read: @escaping @Sendable () -> Double) {
        let gauge = self.gauge(family, labels: labels)
        collectors.withLock { $0.append { gauge.set(read()) } }
    }

    /// A gauge read at scrape time, for counts another component already tracks.
    public func gauge(_ family: MetricFamily, labels: [(String, String)] = [], read: @escaping @Sendable () -> Int) {
        gauge(family, labels: labels) { Double(read()) }
    }

    /// A counter read at scrape time, for counts another component already keeps (it must never go down; a
    /// decrease is ignored, so the series never does either).
    public func counter(_ family: MetricFamily, labels: [(String, String)] = [], read: @escaping @Sendable () -> Int) {
        let counter = self.counter(family, labels: labels)
        let seen = Mutex(0)
        collectors.withLock {
            $0.append {
                let now = read()
                let delta = seen.withLock { last in
                    defer { last = max(last, now) }
                    return now - last
                }
                if delta > 0 { counter.increment(by: delta) }
            }
        }
    }

    /// Every family in the Prometheus text format, in declaration order. A declared family without series yet
    /// (e.g. refusals before the first one) still gets its HELP and TYPE.
    public func render() -> String {
        let text = collectors.withLock { collectors in
            // Under the lock: concurrent scrapes would otherwise race on the sampled counters' last values.
            for collect in collectors { collect() }
            return prometheus.emitToString()
        }
        var blocks = Self.familyBlocks(text)
        var out = ""
        out.reserveCapacity(text.utf8.count + 256)
        for family in MetricFamily.all {
            if let block = blocks.removeValue(forKey: family.name) {
                out += block
            } else {
                out += "# HELP \(family.name) \(family.help)\n# TYPE \(family.name) \(family.kind.rawValue)\n"
            }
        }
        // Families made through swift-metrics under names this service does not declare (a library's own).
        for name in blocks.keys.sorted() { out += blocks[name]! }
        return out
    }

    /// The registry's output split by family (it emits them in dictionary order).
    private static func familyBlocks(_ text: String) -> [String: String] {
        var blocks: [String: String] = [:]
        var current: String?
        var helpPending: (name: String, line: Substring)?
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            if line.hasPrefix("# HELP ") {
                let name = String(line.dropFirst(7).prefix { $0 != " " })
                helpPending = (name, line)
                continue
            }
            if line.hasPrefix("# TYPE ") {
                let name = String(line.dropFirst(7).prefix { $0 != " " })
                current = name
                if let help = helpPending, help.name == name { blocks[name, default: ""] += help.line + "\n" }
                helpPending = nil
            }
            if let current { blocks[current, default: ""] += line + "\n" }
        }
        return blocks
    }

    private func check(_ family: MetricFamily, _ kind: MetricFamily.Kind, _ labels: [(String, String)]) {
        precondition(MetricFamily.named(family.name) == family, "\(family) is not declared in MetricFamily.all")
        precondition(family.kind == kind, "\(family) is a \(family.kind.rawValue)")
        precondition(labels.map(\.0) == family.labelNames, "\(family) takes labels \(family.labelNames), not \(labels.map(\.0))")
    }
}

/// swift-metrics' backend for this service: a declared family's name gets its help, label check and buckets;
/// any other name goes to swift-prometheus's own `PrometheusMetricsFactory` on the same registry.
public struct ServiceMetricsFactory: MetricsFactory {
    private let registry: PrometheusCollectorRegistry
    private let fallback: PrometheusMetricsFactory

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
        var fallback = PrometheusMetricsFactory(registry: registry)
        fallback.defaultDurationHistogramBuckets = MetricFamily.latencyBuckets.map(Duration.seconds)
        self.fallback = fallback
    }

    private func declared(_ label: String, _ dimensions: [(String, String)], _ kinds: MetricFamily.Kind...) -> MetricFamily? {
        guard let family = MetricFamily.named(label) else { return nil }
        precondition(kinds.contains(family.kind), "\(family) is a \(family.kind.rawValue)")
        precondition(dimensions.map(\.0) == family.labelNames, "\(family) takes labels \(family.labelNames), not \(dimensions.map(\.0))")
        return family
    }

    public func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        guard let family = declared(label, dimensions, .counter) else { return fallback.makeCounter(label: label, dimensions: dimensions) }
        return registry.makeCounter(descriptor: family.descriptor, labels: dimensions)
    }

    public func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        guard let family = declared(label, dimensions, .counter) else {
            return fallback.makeFloatingPointCounter(label: label, dimensions: dimensions)
        }
        return registry.makeCounter(descriptor: family.descriptor, labels: dimensions)
    }

    public func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        guard let family = declared(label, dimensions, .gauge) else {
            return fallback.makeRecorder(label: label, dimensions: dimensions, aggregate: aggregate)
        }
        return registry.makeGauge(descriptor: family.descriptor, labels: dimensions)
    }

    public func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        guard let family = declared(label, dimensions, .gauge) else { return fallback.makeMeter(label: label, dimensions: dimensions) }
        return registry.makeGauge(descriptor: family.descriptor, labels: dimensions)
    }

    public func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        guard let family = declared(label, dimensions, .histogram) else { return fallback.makeTimer(label: label, dimensions: dimensions) }
        return registry.makeDurationHistogram(descriptor: family.descriptor, labels: dimensions, buckets: family.durationBuckets)
    }

    public func destroyCounter(_ handler: any CounterHandler) { fallback.destroyCounter(handler) }
    public func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) { fallback.destroyFloatingPointCounter(handler) }
    public func destroyRecorder(_ handler: any RecorderHandler) { fallback.destroyRecorder(handler) }
    public func destroyMeter(_ handler: any MeterHandler) { fallback.destroyMeter(handler) }
    public func destroyTimer(_ handler: any TimerHandler) { fallback.destroyTimer(handler) }
}

extension MetricFamily {
    var descriptor: MetricNameDescriptor { MetricNameDescriptor(metricName: name, unitName: "", helpText: help) }
    var durationBuckets: [Duration] { buckets.map(Duration.seconds) }
}
