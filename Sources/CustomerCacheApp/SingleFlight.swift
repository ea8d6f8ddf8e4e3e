import Synchronization

/// Coalesces concurrent operations on one key: the first caller runs it, the others await its result. This is
/// what turns 100 simultaneous `customer.ensure` calls for a new id into exactly one upstream create.
final class SingleFlight<Value: Sendable>: Sendable {
    private let inFlight = Mutex<[String: Task<Value, Never>]>([:])
    /// Where the shared operation runs; unstructured tasks do not inherit their creator's executor preference.
    private let executor: (any TaskExecutor)?

    init(executor: (any TaskExecutor)? = nil) {
        self.executor = executor
    }

    func run(_ key: String, _ operation: @escaping @Sendable () async -> Value) async -> Value {
        await runReportingLeader(key, operation).value
    }

    /// Like `run`, and also says whether this caller started the operation: only the leader did the work, so only
    /// it may claim effects such as "created" (joiners copying that claim would report one create as several).
    func runReportingLeader(_ key: String, _ operation: @escaping @Sendable () async -> Value) async
        -> (value: Value, isLeader: Bool) {
        let (task, isLeader) = inFlight.withLock { flights -> (Task<Value, Never>, Bool) in
            if let existing = flights[key] { return (existing, false) }
            let task = Task(executorPreference: executor) { await operation() }
            flights[key] = task
            return (task, true)
        }
        let value = await task.value
        if isLeader { _ = inFlight.withLock { $0.removeValue(forKey: key) } }
        return (value, isLeader)
    }
}

/// Remembers "Digital River has no such customer" briefly, so a caller hammering an unknown id does not turn
/// every call into an upstream request. Bounded: when full, the oldest half is dropped.
final class NegativeCache: Sendable {
    private let entries = Mutex<[String: Int64]>([:])
    private let ttlMicroseconds: Int64
    private let capacity: Int

    init(ttlSeconds: Int64, capacity: Int = 100_000) {
        ttlMicroseconds = ttlSeconds * 1_000_000
        self.capacity = capacity
    }

    func contains(_ id: String, now: Int64) -> Bool {
        entries.withLock { map in
            guard let expiry = map[id] else { return false }
            if expiry > now { return true }
            map.removeValue(forKey: id)
            return false
        }
    }

    func insert(_ id: String, now: Int64) {
        guard ttlMicroseconds > 0 else { return }
        entries.withLock { map in
            if map.count >= capacity {
                let cutoff = map.values.sorted()[map.count / 2]
                map = map.filter { $0.value > cutoff }
            }
            map[id] = now + ttlMicroseconds
        }
    }

    func remove(_ id: String) { _ = entries.withLock { $0.removeValue(forKey: id) } }
}
