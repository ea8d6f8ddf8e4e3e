import Foundation
import JSON
import Synchronization

/// Running totals of a warm-up run; every field is a count or seconds, never a customer's data.
public struct WarmCounts: Sendable, Hashable {
    /// List pages fetched, or id batches answered.
    public var pages = 0
    /// Customers received from Digital River's list.
    public var fetched = 0
    /// Customers in acknowledged `cache.load` calls (applied + unchanged + older + forgotten + refused).
    public var loaded = 0
    /// Stored or replaced by the load.
    public var applied = 0
    /// Already cached with the same version.
    public var unchanged = 0
    /// Skipped because the cache held a newer version (a webhook got there first).
    public var older = 0
    /// Skipped because the customer is forgotten or deleted in the cache; the tombstone stays.
    public var forgotten = 0
    /// Refused as invalid: elements of a DR page that failed validation, customers the service refused, id lines
    /// too long to be an id.
    public var invalid = 0
    /// Ids the service answered with a customer.
    public var found = 0
    /// Ids neither the cache nor Digital River knows (-31001).
    public var notFound = 0
    /// Ids deleted or forgotten (-31002).
    public var gone = 0
    /// Ids that kept failing, or pages and loads that failed for good.
    public var errors = 0
    /// Repeated ids in the id list (warmed once).
    public var duplicates = 0
    /// Requests sent to Digital River (list source), retries included, and how many were answered 429.
    public var upstreamRequests = 0
    public var rateLimited = 0
    /// Extra attempts the job made (pages, loads, batches) after a transient failure.
    public var retries = 0
    /// Wall time inside list requests (pacing and the client's backoff included), summed.
    public var fetchSeconds = 0.0
    /// Wall time inside `cache.load` / `customer.get` calls, summed over concurrent calls.
    public var loadSeconds = 0.0
    /// Of `fetchSeconds`, time spent waiting for the request pacer.
    public var pacedSeconds = 0.0
    /// Time the page loop waited for a free load slot (the service being the bottleneck).
    public var waitingForLoadSeconds = 0.0
    /// Known total (the id list's length), for the ETA; nil for the list source.
    public var total: Int?
    /// Where a resumed run started: the checkpoint's `after` or `position`, for the summary.
    public var resumedAfter: String?

    public init() {}

    /// The customers processed so far, the progress line's headline figure.
    /// List source: customers loaded; id source: ids answered, failures included.
    public var processed: Int { total == nil ? loaded : found + notFound + gone + errors }
}

/// Live counters, updated by the run and read by the progress reporter.
public final class WarmStatistics: Sendable {
    private let counts = Mutex(WarmCounts())

    public init() {}

    /// A consistent copy of every counter.
    public var snapshot: WarmCounts { counts.withLock { $0 } }

    /// Changes counters under the lock.
    public func update(_ change: (inout WarmCounts) -> Void) {
        counts.withLock { change(&$0) }
    }
}

/// How a run ended, the summary it prints, and the process exit code.
public struct WarmReport: Sendable {
    /// The end states; each maps to one exit code.
    public enum Outcome: String, Sendable, Hashable {
        /// Every page or id was handled and nothing failed. Exit 0.
        case completed
        /// The run reached the end, but some customers were refused as invalid or some ids kept failing. Exit 2.
        case completedWithErrors = "completed_with_errors"
        /// Stopped early on purpose (SIGTERM/SIGINT, or `--max-pages`); the checkpoint is saved, `--resume`
        /// continues. Exit 3.
        case stopped
        /// Gave up: Digital River or the service kept failing or refused the job (bad key, bad token, bad filter).
        /// Everything applied so far is checkpointed; `--resume` continues once the cause is fixed. Exit 1.
        case failed
    }

    public var outcome: Outcome
    public var counts: WarmCounts
    public var elapsedSeconds: Double
    /// The checkpoint name the run used.
    public var checkpointName: String
    /// "list" or "ids".
    public var source: String
    /// What made the run fail, safe to print (no PII, no secrets).
    public var failure: String?

    public init(outcome: Outcome, counts: WarmCounts, elapsedSeconds: Double, checkpointName: String, source: String,
                failure: String? = nil) {
        self.outcome = outcome
        self.counts = counts
        self.elapsedSeconds = elapsedSeconds
        self.checkpointName = checkpointName
        self.source = source
        self.failure = failure
    }

    /// 0 completed, 1 failed, 2 completed with errors, 3 stopped early (resumable). 64 (usage) comes from argument
    /// parsing before a run starts.
    public var exitCode: Int32 {
        switch outcome {
        case .completed: 0
        case .failed: 1
        case .completedWithErrors: 2
        case .stopped: 3
        }
    }

    /// Customers per second over the whole run.
    public var customersPerSecond: Double {
        elapsedSeconds > 0 ? Double(counts.processed) / elapsedSeconds : 0
    }

    /// The human summary, one `name: value` line per figure.
    public var text: String {
        let c = counts
        var lines = ["warm-up \(outcome.rawValue.replacingOccurrences(of: "_", with: " ")) in \(Self.seconds(elapsedSeconds)) "
                     + "(source \(source), checkpoint \(checkpointName))"]
        if let failure { lines.append("  failure:            \(failure)") }
        if let resumedAfter = c.resumedAfter { lines.append("  resumed after:      \(resumedAfter)") }
        if source == "list" {
            lines.append("  customers loaded:   \(c.loaded) (applied \(c.applied), unchanged \(c.unchanged), "
                         + "skipped as older \(c.older), forgotten or deleted (no PII kept) \(c.forgotten))")
            lines.append("  pages:              \(c.pages) (\(c.upstreamRequests) Digital River requests, \(c.rateLimited) answered 429)")
        } else {
            lines.append("  ids:                \(c.found + c.notFound + c.gone + c.errors) of \(c.total ?? 0) (found \(c.found), "
                         + "not found \(c.notFound), deleted/forgotten \(c.gone), duplicates skipped \(c.duplicates))")
            lines.append("  batches:            \(c.pages)")
        }
        lines.append("  invalid:            \(c.invalid)")
        lines.append("  errors:             \(c.errors) (retries \(c.retries))")
        lines.append("  rate:               \(Int(customersPerSecond.rounded())) customers/s")
        lines.append("  fetch_seconds:      \(Self.seconds(c.fetchSeconds)) (paced \(Self.seconds(c.pacedSeconds)))")
        lines.append("  load_seconds:       \(Self.seconds(c.loadSeconds)) (page loop waited \(Self.seconds(c.waitingForLoadSeconds)) for the service)")
        return lines.joined(separator: "\n")
    }

    /// The summary as one JSON object (for scripts and the benchmark).
    public var json: String {
        let c = counts
        var object = JSONObject()
        object["outcome"] = .string(outcome.rawValue)
        object["exit_code"] = .number(JSONNumber(Int(exitCode)))
        object["source"] = .string(source)
        object["checkpoint"] = .string(checkpointName)
        object["failure"] = failure.map(JSONValue.string) ?? .null
        object["resumed_after"] = c.resumedAfter.map(JSONValue.string) ?? .null
        let integers: [(String, Int)] = [
            ("pages", c.pages), ("fetched", c.fetched), ("loaded", c.loaded), ("applied", c.applied),
            ("unchanged", c.unchanged), ("older", c.older), ("forgotten", c.forgotten), ("invalid", c.invalid),
            ("found", c.found), ("not_found", c.notFound), ("gone", c.gone), ("errors", c.errors),
            ("duplicates", c.duplicates), ("upstream_requests", c.upstreamRequests), ("rate_limited", c.rateLimited),
            ("retries", c.retries),
        ]
        for (name, value) in integers { object[name] = .number(JSONNumber(value)) }
        object["total"] = c.total.map { .number(JSONNumber($0)) } ?? .null
        let decimals: [(String, Double)] = [
            ("elapsed_seconds", elapsedSeconds), ("customers_per_second", customersPerSecond),
            ("fetch_seconds", c.fetchSeconds), ("paced_seconds", c.pacedSeconds), ("load_seconds", c.loadSeconds),
            ("waiting_for_load_seconds", c.waitingForLoadSeconds),
        ]
        for (name, value) in decimals { object[name] = .number(JSONNumber((value * 1000).rounded() / 1000)) }
        return String(decoding: JSONValue.object(object).encoded(), as: UTF8.self)
    }

    static func seconds(_ value: Double) -> String {
        String(format: "%.2f s", value)
    }
}
