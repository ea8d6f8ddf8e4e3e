import Synchronization

/// Named readiness checks; `/readyz` is 200 only when every check passes, and lists each one's detail.
/// A check may answer differently per listener: the webhook listener needs a store that commits, while the RPC
/// listener can serve reads from memory without one.
public final class Readiness: Sendable {
    /// One check's current answer.
    public struct Status: Sendable {
        public let ready: Bool
        public let detail: String
        public init(ready: Bool, detail: String) {
            self.ready = ready
            self.detail = detail
        }
    }

    /// The listener whose `/readyz` is being answered.
    public enum Listener: String, Sendable {
        case webhook
        case rpc
    }

    private let checks = Mutex<[(name: String, check: @Sendable (Listener) -> Status)]>([])

    public init() {}

    /// A check that answers the same on both listeners.
    public func register(_ name: String, _ check: @escaping @Sendable () -> Status) {
        register(name) { (_: Listener) in check() }
    }

    /// A check whose answer depends on the listener asking.
    public func register(_ name: String, _ check: @escaping @Sendable (Listener) -> Status) {
        checks.withLock { $0.append((name, check)) }
    }

    /// Runs every check for `listener`; cheap by contract (checks read in-memory state, never block on I/O).
    public func evaluate(for listener: Listener) -> (ready: Bool, checks: [(name: String, status: Status)]) {
        let current = checks.withLock { $0 }
        let results = current.map { ($0.name, $0.check(listener)) }
        return (results.allSatisfy { $0.1.ready }, results)
    }
}
