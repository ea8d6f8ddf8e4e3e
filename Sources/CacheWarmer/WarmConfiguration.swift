import DigitalRiverAPI

/// Everything a warm-up run needs, already validated by whoever built it (the `warm` command, or a test).
public struct WarmConfiguration: Sendable {
    /// Where customers come from.
    public enum Source: Sendable {
        /// Digital River's list API, from the start or (with `since`) customers updated at or after a time.
        /// `since` is the absolute ISO-8601 time sent to DR; `sinceArgument` is `--since` as given, which names the
        /// checkpoint (a resumed run reuses the stored absolute time, i.e. continues the same query).
        case list(since: String?, sinceArgument: String?)
        /// Customer ids read through the service with batched `customer.get` calls.
        case ids(IDList)
    }

    public var source: Source
    /// The service's JSON-RPC endpoint.
    public var rpcURL: String
    /// Bearer token for the service; nil when the service runs without caller tokens.
    public var rpcToken: String?
    /// How to reach Digital River (list source only; the id source leaves upstream reads to the service).
    public var upstream: DigitalRiverClientConfiguration?
    /// Continue the run recorded under the checkpoint name instead of starting from the beginning.
    public var resume = false
    /// Average requests per second to Digital River (list pages, retries included; for the id source, ids sent to
    /// the service, each of which may cost one upstream read). 0 disables pacing: only for the local sandbox.
    /// Default 10, well under test mode's 25/s; live allows 250/s.
    public var requestsPerSecond: Double = 10
    /// `limit` of each list request, 1–100 (DR's maximum, and the default).
    public var pageSize = 100
    /// Most customers per `cache.load` (the service takes at most 1,000). Whole pages are grouped up to this.
    public var loadBatchSize = 1_000
    /// Most bytes per `cache.load` body; keep it under the service's `max-body-bytes` (default 1 MiB).
    public var maxLoadBytes = 1_000_000
    /// `cache.load` calls in flight at once (1–4). With 2, the service parses one batch while committing the
    /// previous one; checkpoints are then written one batch behind, never ahead of an unapplied page.
    public var loadsInFlight = 2
    /// `customer.get` batches in flight at once (id source).
    public var idBatchesInFlight = 2
    /// Checkpoint name; default `WarmCheckpoint.listName(sinceArgument:)` or `.idsName(_:)`.
    public var checkpointName: String?
    /// Stop (resumably) after this many list pages or id batches; nil: run to the end. Used by operators to warm
    /// in slices and by tests to interrupt a run at a known point.
    public var maxPages: Int?
    /// Extra attempts for a page, a load or a batch after the client's own retries failed. Default 5.
    public var retries = 5
    /// First pause between those attempts, in seconds; doubles each time, capped at 30 s.
    public var retryDelaySeconds = 1.0
    /// Deadline of one call to the service, in seconds.
    public var rpcTimeoutSeconds = 60.0
    /// Which HTTP client carries plain-http traffic.
    public var httpClient = HTTPClientChoice.automatic

    /// The HTTP client for each side.
    public enum HTTPClientChoice: String, Sendable, Hashable, CaseIterable {
        /// `PlainHTTPTransport` for `http://` URLs, URLSession for `https://` (Digital River itself).
        case automatic = "auto"
        /// URLSession for everything (slower on Linux; kept for comparison and as a fallback).
        case urlsession
    }

    public init(source: Source, rpcURL: String) {
        self.source = source
        self.rpcURL = rpcURL
    }

    /// The checkpoint this run reads and writes.
    public var effectiveCheckpointName: String {
        if let checkpointName { return checkpointName }
        switch source {
        case .list(_, let sinceArgument): return WarmCheckpoint.listName(sinceArgument: sinceArgument)
        case .ids(let list): return WarmCheckpoint.idsName(list.ids)
        }
    }

    /// Ids per `customer.get` batch: at most 100 (the service's `rpc-max-batch` default), and no more than one
    /// second's worth of the request budget, so a batch never turns into a burst the service then fires at DR.
    public var idBatchSize: Int {
        requestsPerSecond > 0 ? max(1, min(100, Int(requestsPerSecond))) : 100
    }
}
