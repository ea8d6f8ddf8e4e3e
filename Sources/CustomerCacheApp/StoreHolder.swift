import Customers
import DigitalRiverAPI
import Synchronization

/// The store once it is open. Listeners start before the store has loaded (so liveness answers at once and
/// readiness can say "loading"); until then writers get 503 and readiness fails.
final class StoreHolder: Sendable {
    private let store = Mutex<CustomerStore?>(nil)
    private let failure = Mutex<String?>(nil)

    var current: CustomerStore? { store.withLock { $0 } }

    func set(_ opened: CustomerStore) { store.withLock { $0 = opened } }

    func fail(_ reason: String) { failure.withLock { $0 = reason } }

    /// Readiness: open and accepting writes.
    func readiness() -> Readiness.Status {
        if let reason = failure.withLock({ $0 }) { return .init(ready: false, detail: "store failed to open: \(reason)") }
        guard let store = current else { return .init(ready: false, detail: "store is opening") }
        guard store.isOpen else { return .init(ready: false, detail: "store is closed") }
        guard let replication = store.replication else { return .init(ready: true, detail: "\(store.count) customers in memory") }
        // Reads keep being served from memory while the follower is away, so this stays ready; the detail says why it may lag.
        let link = replication.connected ? "following" : "follower reconnecting to"
        return .init(ready: true, detail: "\(store.count) customers in memory; \(link) PostgreSQL: \(replication.changesBehind) changes behind, "
                     + "last change applied \(Int(replication.lastPropagationMilliseconds)) ms after commit (sequence \(replication.appliedSequence))")
    }
}

/// The Digital River client once it exists: at start-up when an API key is configured, or after the in-process
/// sandbox has bound its port (`--sandbox`). Nil means the upstream is disabled (cache only).
final class UpstreamHolder: Sendable {
    private let client = Mutex<DigitalRiverClient?>(nil)

    var current: DigitalRiverClient? { client.withLock { $0 } }

    func set(_ upstream: DigitalRiverClient) { client.withLock { $0 = upstream } }
}
