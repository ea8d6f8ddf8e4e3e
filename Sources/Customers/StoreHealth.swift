import Foundation
import Synchronization

/// What the writer knows about its own durability: whether commits succeed, and whether every purge has reached
/// the disk (the WAL truncated after it). Readiness, metrics and the forget answer read it; only the writer writes it.
public struct StoreHealth: Sendable, Equatable {
    /// False from a failed commit until the next successful one (a batch or the writer's probe write).
    public var committing = true
    /// SQLite's message for the last failed commit (never bound values, so no PII); nil while committing.
    public var lastCommitError: String?
    /// Customers whose purge committed but whose old page images may still be in the WAL (truncate failed).
    public var purgesPending: Set<String> = []
    /// The WAL left by the previous run could not be truncated at open, so its purges may not have reached disk.
    public var walUnverifiedSinceOpen = false
    /// SQLite's message for the last failed checkpoint+truncate; nil once a purge completes.
    public var lastPurgeError: String?
    /// Failed checkpoint+truncate attempts since the store opened.
    public var purgeFailures = 0
    /// Failed commits (batches and probes) since the store opened.
    public var commitFailures = 0
    /// PostgreSQL only: true while the last failure was the database being unreachable (down, restarting, the
    /// network gone), not a statement it refused.
    public var unreachable = false

    /// Purges still waiting for the WAL to be truncated; the open-time WAL counts as one.
    public var pendingPurgeCount: Int { purgesPending.count + (walUnverifiedSinceOpen ? 1 : 0) }

    /// True while the bytes `id` had before it was forgotten or deleted may still be on disk.
    public func isPurgePending(_ id: String) -> Bool { walUnverifiedSinceOpen || purgesPending.contains(id) }
}

/// A change in the store's health, handed to the owner for logging (the store itself has no logger).
public enum StoreHealthEvent: Sendable {
    /// A commit failed; `first` is true for the first failure after a success (so the owner can log once), and
    /// `failures` counts failed commits since the store opened (so repeats can be logged rate-limited).
    case commitFailed(error: String, first: Bool, failures: Int)
    /// Commits succeed again; `failures` counts failed commits since the store opened.
    case commitRecovered(failures: Int)
    /// Checkpoint+truncate failed; `attempt` counts attempts since the purge became pending.
    case purgeFailed(error: String, pending: Int, attempt: Int)
    /// Every pending purge has reached disk (WAL truncated) after `attempts` attempts.
    case purgeCompleted(purged: Int, attempts: Int)
    /// PostgreSQL only: the change follower lost its connection (`attempt` 1) or failed to reconnect again; memory
    /// keeps serving reads but no longer learns other replicas' changes until it is back.
    case followerDisconnected(error: String, attempt: Int, retryInSeconds: Double)
    /// The follower is connected again after `attempts` failed attempts and resumes after `sequence`.
    case followerReconnected(attempts: Int, sequence: Int64)
}

/// The writer's published health: a mutex around `StoreHealth`, shared between the writer and readers.
final class StoreHealthMonitor: Sendable {
    private let state = Mutex(StoreHealth())
    let onEvent: @Sendable (StoreHealthEvent) -> Void

    init(onEvent: @escaping @Sendable (StoreHealthEvent) -> Void) {
        self.onEvent = onEvent
    }

    var current: StoreHealth { state.withLock { $0 } }

    func update(_ change: (inout StoreHealth) -> Void) {
        state.withLock { change(&$0) }
    }

    /// A commit succeeded: marks the store committing again and reports the recovery once.
    func commitSucceeded() {
        guard !current.committing else { return }
        var failures = 0
        update { state in
            state.committing = true
            state.lastCommitError = nil
            state.unreachable = false
            failures = state.commitFailures
        }
        onEvent(.commitRecovered(failures: failures))
    }

    /// A commit failed: records why, and reports it (`first` for the first failure after a success).
    func commitFailed(_ error: StoreError) {
        var first = false
        var failures = 0
        update { state in
            first = state.committing
            state.committing = false
            state.lastCommitError = error.message
            state.commitFailures += 1
            state.unreachable = error.code == .unreachable
            failures = state.commitFailures
        }
        onEvent(.commitFailed(error: error.description, first: first, failures: failures))
    }
}

/// When the writer next retries work it must finish on its own (a purge, a probe write, a reconnect, the store's
/// first open): doubling from `first` up to `maximum`, so a full disk costs a handful of attempts a minute, not a busy loop.
/// `delay(afterFailures:first:maximum:jitter:)` is the package's one backoff formula: Digital River retries, forget
/// delivery, the warm job and the emulator's webhook retries use it too.
package struct RetrySchedule {
    let first: Double
    let maximum: Double
    /// Each delay is drawn from [delay × (1 − jitter), delay], so many processes failing at once spread their retries.
    let jitter: Double
    package private(set) var attempts = 0
    private(set) var due: DispatchTime?

    package init(first: Double, maximum: Double, jitter: Double = 0) {
        self.first = first
        self.maximum = max(first, maximum)
        self.jitter = min(max(jitter, 0), 1)
    }

    /// The wait after `failures` failed attempts (1-based; 0 or less counts as 1): `first · 2^(failures−1)`, at most
    /// `maximum`, then drawn from [delay × (1 − jitter), delay] when `jitter` (0…1) is given.
    package static func delay(afterFailures failures: Int, first: Double, maximum: Double, jitter: Double = 0) -> Double {
        let ceiling = min(maximum, first * pow(2, Double(min(max(failures - 1, 0), 30))))
        let spread = min(max(jitter, 0), 1)
        return spread > 0 ? ceiling * Double.random(in: (1 - spread)...1) : ceiling
    }

    /// A delay for the next attempt after `attempts` failures (0 before the first failure).
    private func drawDelay() -> Double {
        guard attempts > 0 else { return 0 }
        return Self.delay(afterFailures: attempts, first: first, maximum: maximum, jitter: jitter)
    }

    var isScheduled: Bool { due != nil }

    func isDue(at now: DispatchTime) -> Bool { due.map { $0 <= now } ?? false }

    /// Records a failed attempt and schedules the next one; returns the delay chosen, in seconds.
    @discardableResult
    package mutating func failed(at now: DispatchTime) -> Double {
        attempts += 1
        let delay = drawDelay()
        due = now + .nanoseconds(Int(delay * 1e9))
        return delay
    }

    /// The work succeeded: nothing scheduled any more.
    mutating func reset() {
        attempts = 0
        due = nil
    }
}
