import Synchronization

/// Named readiness checks; `/readyz` is 200 only when every check passes, and lists each one's detail.
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

    private let checks = Mutex<[(name: String, check: @Sendable () -> Status)]>([])

    public init() {}

    public func register(_ name: String, _ check: @escaping @Sendable () -> Status) {
        checks.withLock { $0.append((name, check)) }
    }

    /// Runs every check; cheap by contract (checks read in-memory state, never block on I/O).
    public func evaluate() -> (ready: Bool, checks: [(name: String, status: Status)]) {
        let current = checks.withLock { $0 }
        let results = current.map { ($0.name, $0.check()) }
        return (results.allSatisfy { $0.1.ready }, results)
    }
}
