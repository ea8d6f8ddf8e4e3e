import Synchronization

/// A monotonically increasing count; lock-free because webhook and RPC hot paths bump these per request.
public final class Counter: Sendable {
    private let value = Atomic<Int>(0)
    public init() {}
    public func increment(by amount: Int = 1) { value.wrappingAdd(amount, ordering: .relaxed) }
    public var current: Int { value.load(ordering: .relaxed) }
}

/// A value that goes up and down (cache size, queue depth).
public final class Gauge: Sendable {
    private let value = Atomic<Int>(0)
    public init() {}
    public func set(_ newValue: Int) { value.store(newValue, ordering: .relaxed) }
    public func add(_ delta: Int) { value.wrappingAdd(delta, ordering: .relaxed) }
    public var current: Int { value.load(ordering: .relaxed) }
}

/// A Prometheus histogram with fixed upper bounds in seconds. A mutex, not atomics: Atomic is non-copyable and
/// cannot live in an array, and one short critical section per commit is far below the cost being measured.
public final class Histogram: Sendable {
    public let bounds: [Double]
    private struct State {
        var buckets: [Int]
        var count = 0
        var sum = 0.0
    }
    private let state: Mutex<State>

    public init(bounds: [Double]) {
        self.bounds = bounds.sorted()
        self.state = Mutex(State(buckets: Array(repeating: 0, count: bounds.count)))
    }

    public func observe(seconds: Double) {
        let index = bounds.firstIndex { seconds <= $0 }
        state.withLock { state in
            if let index { state.buckets[index] += 1 }
            state.count += 1
            state.sum += seconds
        }
    }

    /// Cumulative counts per bound, then the total count and the sum in seconds.
    public func snapshot() -> (cumulative: [Int], count: Int, sum: Double) {
        let current = state.withLock { $0 }
        var running = 0
        let cumulative = current.buckets.map { bucket -> Int in
            running += bucket
            return running
        }
        return (cumulative, current.count, current.sum)
    }

    /// Latency buckets from 100 µs to 10 s.
    public static let latencyBounds: [Double] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
}

/// Holds every metric by name and labels and renders the Prometheus text exposition format (version 0.0.4).
/// Registration happens at start-up; the hot path only touches the returned metric objects.
public final class MetricsRegistry: Sendable {
    private enum Metric: Sendable {
        case counter(Counter)
        case gauge(Gauge)
        case gaugeFunction(@Sendable () -> Int)
        case counterFunction(@Sendable () -> Int)
        case histogram(Histogram)
    }

    private struct Family: Sendable {
        let name: String
        let help: String
        let type: String
        var series: [(labels: [(String, String)], metric: Metric)]
    }

    private let families = Mutex<[Family]>([])

    public init() {}

    public func counter(_ name: String, help: String, labels: [(String, String)] = []) -> Counter {
        let counter = Counter()
        register(name, help: help, type: "counter", labels: labels, metric: .counter(counter))
        return counter
    }

    public func gauge(_ name: String, help: String, labels: [(String, String)] = []) -> Gauge {
        let gauge = Gauge()
        register(name, help: help, type: "gauge", labels: labels, metric: .gauge(gauge))
        return gauge
    }

    /// A gauge read at scrape time, for values another component already tracks.
    public func gauge(_ name: String, help: String, labels: [(String, String)] = [], read: @escaping @Sendable () -> Int) {
        register(name, help: help, type: "gauge", labels: labels, metric: .gaugeFunction(read))
    }

    /// A counter read at scrape time, for counts another component already keeps (it must never go down).
    public func counter(_ name: String, help: String, labels: [(String, String)] = [], read: @escaping @Sendable () -> Int) {
        register(name, help: help, type: "counter", labels: labels, metric: .counterFunction(read))
    }

    public func histogram(_ name: String, help: String, labels: [(String, String)] = [], bounds: [Double] = Histogram.latencyBounds) -> Histogram {
        let histogram = Histogram(bounds: bounds)
        register(name, help: help, type: "histogram", labels: labels, metric: .histogram(histogram))
        return histogram
    }

    private func register(_ name: String, help: String, type: String, labels: [(String, String)], metric: Metric) {
        families.withLock { families in
            if let index = families.firstIndex(where: { $0.name == name }) {
                families[index].series.append((labels, metric))
            } else {
                families.append(Family(name: name, help: help, type: type, series: [(labels, metric)]))
            }
        }
    }

    /// The current values in Prometheus text format.
    public func render() -> String {
        let snapshot = families.withLock { $0 }
        var out = ""
        for family in snapshot {
            out += "# HELP \(family.name) \(family.help)\n# TYPE \(family.name) \(family.type)\n"
            for (labels, metric) in family.series {
                switch metric {
                case .counter(let counter):
                    out += "\(family.name)\(Self.format(labels)) \(counter.current)\n"
                case .gauge(let gauge):
                    out += "\(family.name)\(Self.format(labels)) \(gauge.current)\n"
                case .gaugeFunction(let read), .counterFunction(let read):
                    out += "\(family.name)\(Self.format(labels)) \(read())\n"
                case .histogram(let histogram):
                    let (cumulative, count, sum) = histogram.snapshot()
                    for (bound, value) in zip(histogram.bounds, cumulative) {
                        out += "\(family.name)_bucket\(Self.format(labels + [("le", "\(bound)")])) \(value)\n"
                    }
                    out += "\(family.name)_bucket\(Self.format(labels + [("le", "+Inf")])) \(count)\n"
                    out += "\(family.name)_sum\(Self.format(labels)) \(sum)\n"
                    out += "\(family.name)_count\(Self.format(labels)) \(count)\n"
                }
            }
        }
        return out
    }

    private static func format(_ labels: [(String, String)]) -> String {
        guard !labels.isEmpty else { return "" }
        let parts = labels.map { name, value -> String in
            let escaped = value.replacingAll("\\", with: "\\\\").replacingAll("\"", with: "\\\"").replacingAll("\n", with: "\\n")
            return "\(name)=\"\(escaped)\""
        }
        return "{" + parts.joined(separator: ",") + "}"
    }
}

extension String {
    fileprivate func replacingAll(_ target: Character, with replacement: String) -> String {
        guard contains(target) else { return self }
        var result = ""
        for character in self { if character == target { result += replacement } else { result.append(character) } }
        return result
    }
}
