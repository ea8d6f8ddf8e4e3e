import Customers
import DigitalRiverAPI
import Foundation
import Logging
import Synchronization
import Timekeeping

/// A configuration the job cannot run with; the message names the setting, never a secret's value.
public struct WarmSetupError: Error, Sendable, Hashable, CustomStringConvertible {
    public let message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}

/// The warm-up job: brings the running service's cache up to date from Digital River without ever opening its
/// database.
///
/// - **List source**: pages `GET /customers` (`startingAfter` cursor, optional `updatedTime` lower bound) and sends
///   the customers to the service with `cache.load`, which applies them under the same newest-wins, tombstone and
///   forget rules as webhooks. So a page fetched before a webhook's newer update can never overwrite it, and a
///   forgotten customer never gets its PII back.
/// - **Id source**: sends the ids to the service as batches of `customer.get`; the service reads misses through
///   from Digital River itself (single-flight, negative cache), so this warms exactly as real traffic would.
///
/// **Checkpoints.** The list cursor is saved by `cache.load` in the same transaction as the page it follows, so
/// the stored cursor never gets ahead of an unapplied page. Pages are grouped into loads of up to 1,000 customers;
/// fetching the next pages overlaps the current load. With two loads in flight, a load carries the cursor of the
/// newest batch already acknowledged (one batch behind, never ahead); a resumed run then re-sends at most one
/// batch, which the service reports as unchanged. See `WarmCheckpoint` for the stored value.
///
/// **Politeness.** Every Digital River request (retries included) takes a token from a `RequestPacer`; the client
/// honours `Retry-After` and retries transient failures with backoff, and the job adds a bounded number of
/// page-level attempts on top. Calls to the service are bounded by `loadsInFlight` / `idBatchesInFlight`.
public final class WarmJob: Sendable {
    public let configuration: WarmConfiguration
    /// Live counters (the progress reporter reads them).
    public let statistics: WarmStatistics
    private let logger: Logger
    private let service: ServiceClient
    private let pacer: RequestPacer
    private let upstream: DigitalRiverClient?
    private let transport: PacedTransport?
    private let stopFlag = Atomic<Bool>(false)

    /// - Throws: `WarmSetupError` for an unusable RPC URL, or a list source without Digital River settings.
    public init(configuration: WarmConfiguration, logger: Logger, statistics: WarmStatistics = WarmStatistics()) throws(WarmSetupError) {
        self.configuration = configuration
        self.logger = logger
        self.statistics = statistics
        let connections = max(configuration.loadsInFlight, configuration.idBatchesInFlight) + 1
        let plain = configuration.httpClient == .automatic
        do {
            let transport: any DigitalRiverTransport = plain && PlainHTTPTransport.supports(configuration.rpcURL)
                ? PlainHTTPTransport(maxIdlePerOrigin: connections)
                : URLSessionTransport(maxConnectionsPerHost: connections)
            service = try ServiceClient(url: configuration.rpcURL, token: configuration.rpcToken, transport: transport,
                                        timeoutSeconds: configuration.rpcTimeoutSeconds)
        } catch {
            throw WarmSetupError("--rpc-url: \(error.message)")
        }
        switch configuration.source {
        case .list:
            guard let settings = configuration.upstream else {
                throw WarmSetupError("the list source needs Digital River's URL and API key (DR_API_KEY or --api-key-file)")
            }
            // One token per request, no saving up: list pages are fetched one after another anyway.
            pacer = RequestPacer(requestsPerSecond: configuration.requestsPerSecond, burst: 1)
            let base: any DigitalRiverTransport = plain && PlainHTTPTransport.supports(settings.baseURL)
                ? PlainHTTPTransport(maxIdlePerOrigin: 2)
                : URLSessionTransport(maxConnectionsPerHost: 2)
            let paced = PacedTransport(base: base, pacer: pacer)
            transport = paced
            upstream = DigitalRiverClient(configuration: settings, transport: paced, logger: logger)
        case .ids:
            // A batch takes its ids' tokens at once; the batch size is capped at one second's worth.
            pacer = RequestPacer(requestsPerSecond: configuration.requestsPerSecond, burst: configuration.idBatchSize)
            transport = nil
            upstream = nil
        }
    }

    /// Asks the run to stop at the next page or batch boundary: in-flight loads finish, the checkpoint is saved, and
    /// the run ends `.stopped` (resume with `--resume`). Safe from any thread, e.g. a signal handler's queue.
    public func requestStop() {
        stopFlag.store(true, ordering: .relaxed)
    }

    private var stopRequested: Bool { stopFlag.load(ordering: .relaxed) }

    /// Runs to the end, to a stop request, or to a failure, and reports; never throws.
    public func run() async -> WarmReport {
        let started = SystemClock.monotonicSeconds()
        let name = configuration.effectiveCheckpointName
        let outcome: WarmReport.Outcome
        let failure: String?
        let source: String
        switch configuration.source {
        case .list(let since, _):
            source = "list"
            (outcome, failure) = await runList(name: name, since: since)
        case .ids(let list):
            source = "ids"
            (outcome, failure) = await runIDs(list, name: name)
        }
        if let transport {
            let counts = transport.counts
            let paced = transport.pacedSeconds
            statistics.update {
                $0.upstreamRequests = counts.requests
                $0.rateLimited = counts.rateLimited
                $0.pacedSeconds = paced
            }
        }
        let report = WarmReport(outcome: outcome, counts: statistics.snapshot, elapsedSeconds: SystemClock.monotonicSeconds() - started,
                                checkpointName: name, source: source, failure: failure)
        logger.notice("warm-up finished", metadata: [
            "outcome": "\(report.outcome.rawValue)", "source": "\(source)", "checkpoint": "\(name)",
            "customers": "\(report.counts.processed)", "errors": "\(report.counts.errors)",
            "elapsed_seconds": "\(Int(report.elapsedSeconds.rounded()))",
        ])
        return report
    }

    // MARK: List source

    /// A group of whole pages on its way to one `cache.load`.
    private struct Batch {
        var customers: [[UInt8]] = []
        var bytes = 0
        /// Where the run stands once this batch is applied.
        var checkpoint: WarmCheckpoint
    }

    /// A `cache.load` under way, in send order.
    private struct InFlight {
        let task: Task<Result<LoadCounts, ServiceError>, Never>
        /// The batch's own position, which becomes the acknowledged position once it (and all before it) succeed.
        let position: WarmCheckpoint
        /// The checkpoint value the call writes, if any.
        let carries: String?
    }

    /// The state of the page loop's pipeline towards the service.
    private struct Pipeline {
        var inFlight: [InFlight] = []
        /// Newest position whose batch and every earlier batch were acknowledged.
        var acknowledged: WarmCheckpoint?
        /// The checkpoint value the service holds, as far as this run knows.
        var persisted: String?
        /// Set by the first load that failed for good; no checkpoint is written after it.
        var failure: ServiceError?
        /// `pages` of the newest position sent so far: a lagging position at or before it is not sent again.
        var sentPages = -1
    }

    /// Why a page that says `hasMore` cannot lead anywhere new, or nil when its last id moves the cursor on.
    static func stall(of page: CustomerPage, after cursor: String?, visited: Set<String>) -> String? {
        guard let lastID = page.lastID else {
            return "a page of \(page.customers.count) customers after \(cursor ?? "the start") says hasMore but has no last id"
        }
        if lastID == cursor { return "the page after \(lastID) says hasMore and ends on the same id" }
        if visited.contains(lastID) { return "the page after \(cursor ?? "the start") ends on \(lastID), which this run already passed" }
        return nil
    }

    private func runList(name: String, since requestedSince: String?) async -> (WarmReport.Outcome, String?) {
        guard let client = upstream else { return (.failed, "no Digital River client") }
        var since = requestedSince
        var cursor: String?
        var pagesDone = 0
        var customersDone = 0
        if configuration.resume {
            let saved: WarmCheckpoint?
            switch await savedCheckpoint(name: name, source: .list) {
            case .success(let checkpoint): saved = checkpoint
            case .failure(let failure): return (.failed, failure.message)
            }
            if let checkpoint = saved {
                if checkpoint.state == .running {
                    since = checkpoint.since
                    cursor = checkpoint.after
                    pagesDone = checkpoint.pages
                    customersDone = checkpoint.customers
                    statistics.update { $0.resumedAfter = checkpoint.after ?? "(the first page)" }
                    logger.notice("resuming warm-up", metadata: ["checkpoint": "\(name)", "after": "\(checkpoint.after ?? "-")",
                                                                 "pages_before": "\(checkpoint.pages)"])
                } else {
                    logger.notice("the last run under this checkpoint completed; starting a new run", metadata: ["checkpoint": "\(name)"])
                }
            } else {
                logger.notice("no checkpoint to resume; starting from the first page", metadata: ["checkpoint": "\(name)"])
            }
        }

        var pipeline = Pipeline()
        var batch = Batch(checkpoint: WarmCheckpoint(state: .running, source: .list, since: since, after: cursor,
                                                     pages: pagesDone, customers: customersDone))
        // The starting position counts as acknowledged: it is what the service holds (or the beginning).
        pipeline.acknowledged = batch.checkpoint
        var pagesThisRun = 0
        var reachedEnd = false
        var stopped = false
        var fetchFailure: String?
        let byteBudget = max(1, configuration.maxLoadBytes - 256)
        // Cursors of the last few pages, to step back to when the current one has been deleted at Digital River.
        var earlierCursors: [String?] = []
        var cursorFallbacks = 0
        // Every cursor this run has moved to since the last step back: a page that ends on one of them (or on none)
        // while saying `hasMore` would make the loop fetch the same pages forever.
        var visitedCursors = Set<String>()

        while pipeline.failure == nil {
            if stopRequested || configuration.maxPages.map({ pagesThisRun >= $0 }) == true {
                stopped = true
                break
            }
            let fetchStarted = SystemClock.monotonicSeconds()
            let page: CustomerPage
            do {
                page = try await fetchPage(client, after: cursor, since: since)
            } catch where Self.isUnknownCursor(error) && cursor != nil && cursorFallbacks < 50 {
                // The customer the cursor names was deleted since its page was read (or since the checkpoint was
                // saved). Step back a page and read on from there; pages read twice load as unchanged.
                let fallback: String? = earlierCursors.popLast() ?? nil
                cursorFallbacks += 1
                logger.warning("the list cursor no longer exists at Digital River; stepping back a page", metadata: [
                    "cursor": "\(cursor ?? "-")", "continue_after": "\(fallback ?? "(the first page)")",
                ])
                statistics.update { $0.retries += 1 }
                cursor = fallback
                visitedCursors.removeAll()
                continue
            } catch {
                if stopRequested {
                    stopped = true
                } else {
                    fetchFailure = "Digital River list request failed: \(error)"
                    statistics.update { $0.errors += 1 }
                }
                break
            }
            let fetchSeconds = SystemClock.monotonicSeconds() - fetchStarted
            pagesThisRun += 1
            pagesDone += 1
            customersDone += page.customers.count
            statistics.update {
                $0.pages += 1
                $0.fetched += page.customers.count
                $0.invalid += page.skippedInvalid
                $0.fetchSeconds += fetchSeconds
            }
            let pageBytes = page.customers.reduce(0) { $0 + $1.encoded.count + 1 }
            if !batch.customers.isEmpty, batch.customers.count + page.customers.count > configuration.loadBatchSize
                || batch.bytes + pageBytes > byteBudget {
                await send(batch, name: name, pipeline: &pipeline)
                batch.customers = []
                batch.bytes = 0
            }
            batch.customers.append(contentsOf: page.customers.lazy.map(\.encoded))
            batch.bytes += pageBytes
            let stalled = page.hasMore ? Self.stall(of: page, after: cursor, visited: visitedCursors) : nil
            earlierCursors.append(cursor)
            if earlierCursors.count > 8 { earlierCursors.removeFirst() }
            cursor = page.lastID ?? cursor
            if let cursor { visitedCursors.insert(cursor) }
            batch.checkpoint = WarmCheckpoint(state: .running, source: .list, since: since, after: cursor, pages: pagesDone,
                                              customers: customersDone)
            if !page.hasMore {
                reachedEnd = true
                break
            }
            if let stalled {
                // What was fetched is still loaded below; the checkpoint stays at the last cursor that moved.
                fetchFailure = "Digital River's customer list is not advancing: \(stalled); stopping instead of "
                    + "requesting the same pages forever (re-run with --resume once Digital River pages correctly)"
                statistics.update { $0.errors += 1 }
                logger.error("the customer list is not advancing", metadata: ["reason": "\(stalled)", "pages": "\(pagesThisRun)"])
                break
            }
            if batch.customers.count >= configuration.loadBatchSize {
                await send(batch, name: name, pipeline: &pipeline)
                batch.customers = []
                batch.bytes = 0
            }
        }

        // Whatever ended the loop, apply what was fetched and leave the checkpoint where the applied pages end.
        // The final load goes alone, after everything before it, so it can carry its own position.
        await drain(&pipeline)
        if pipeline.failure == nil {
            if reachedEnd { batch.checkpoint.state = .complete }
            let value = batch.checkpoint.encoded
            if !batch.customers.isEmpty || pipeline.persisted != value {
                await send(batch, name: name, pipeline: &pipeline)
                await drain(&pipeline)
            }
        }
        if let failure = pipeline.failure {
            return (.failed, "loading into the service failed: \(failure)")
        }
        if let fetchFailure { return (.failed, fetchFailure) }
        if stopped { return (.stopped, nil) }
        let counts = statistics.snapshot
        return (counts.invalid > 0 || counts.errors > 0 ? .completedWithErrors : .completed, nil)
    }

    /// Starts a `cache.load` for `batch` once a slot is free. The call carries the batch's own position only when
    /// nothing sent before it is still unacknowledged; otherwise the newest acknowledged position (or none), so the
    /// stored checkpoint can never name a page whose load might still fail.
    private func send(_ batch: Batch, name: String, pipeline: inout Pipeline) async {
        let slots = max(1, min(4, configuration.loadsInFlight))
        if pipeline.inFlight.count >= slots {
            let waitStarted = SystemClock.monotonicSeconds()
            while pipeline.inFlight.count >= slots { await settleOldest(&pipeline) }
            let waited = SystemClock.monotonicSeconds() - waitStarted
            statistics.update { $0.waitingForLoadSeconds += waited }
        }
        guard pipeline.failure == nil else { return }
        let carried: WarmCheckpoint?
        if pipeline.inFlight.isEmpty {
            carried = batch.checkpoint
        } else if let acknowledged = pipeline.acknowledged, acknowledged.pages > pipeline.sentPages {
            carried = acknowledged
        } else {
            carried = nil
        }
        var value = carried?.encoded
        if value == pipeline.persisted { value = nil }
        if value != nil, let carried { pipeline.sentPages = max(pipeline.sentPages, carried.pages) }
        let checkpoint = value.map { (name: name, value: Optional($0)) }
        let customers = batch.customers
        let task = Task { [self] in await loadWithRetries(customers, checkpoint: checkpoint) }
        pipeline.inFlight.append(InFlight(task: task, position: batch.checkpoint, carries: value))
    }

    /// Waits for the oldest load and books its outcome.
    private func settleOldest(_ pipeline: inout Pipeline) async {
        guard !pipeline.inFlight.isEmpty else { return }
        let load = pipeline.inFlight.removeFirst()
        switch await load.task.value {
        case .success:
            // Counts were booked by the task. Only while nothing has failed may the acknowledged position advance.
            guard pipeline.failure == nil else { return }
            pipeline.acknowledged = load.position
            if let carried = load.carries { pipeline.persisted = carried }
        case .failure(let error):
            if pipeline.failure == nil { pipeline.failure = error }
            statistics.update { $0.errors += 1 }
        }
    }

    private func drain(_ pipeline: inout Pipeline) async {
        while !pipeline.inFlight.isEmpty { await settleOldest(&pipeline) }
    }

    /// Digital River (as the sandbox emulates it) refuses a `startingAfter` naming a customer it no longer has.
    static func isUnknownCursor(_ error: DigitalRiverError) -> Bool {
        error.kind == .rejected && error.errors.contains { $0.parameter == "startingAfter" }
    }

    /// One list page, with the job's own attempts on top of the client's when DR stays unavailable or keeps
    /// answering 429. Refusals (bad key, bad filter, unknown cursor) end the run at once.
    private func fetchPage(_ client: DigitalRiverClient, after cursor: String?, since: String?) async throws(DigitalRiverError) -> CustomerPage {
        var attempt = 0
        while true {
            do {
                return try await client.listCustomers(limit: configuration.pageSize, startingAfter: cursor, updatedSince: since)
            } catch {
                let transient = error.kind == .unavailable || error.kind == .rateLimited || error.kind == .invalidResponse
                guard transient, attempt < configuration.retries, !stopRequested else { throw error }
                attempt += 1
                let delay = max(backoff(attempt), Double(error.retryAfterSeconds ?? 0))
                statistics.update { $0.retries += 1 }
                logger.warning("Digital River list page failed; trying again", metadata: [
                    "error": "\(error)", "attempt": "\(attempt)", "delay_seconds": "\(Int(delay.rounded(.up)))",
                ])
                await pause(delay)
            }
        }
    }

    /// `cache.load` with bounded attempts for transient failures; a body over the service's limit is split in
    /// halves, and only the last half carries the checkpoint (the first half's position is not a page boundary).
    private func loadWithRetries(_ customers: [[UInt8]], checkpoint: (name: String, value: String?)?) async -> Result<LoadCounts, ServiceError> {
        var attempt = 0
        while true {
            let started = SystemClock.monotonicSeconds()
            let result: Result<LoadCounts, ServiceError>
            do {
                result = .success(try await service.load(customers, checkpoint: checkpoint, id: attempt + 1))
            } catch {
                result = .failure(error)
            }
            let seconds = SystemClock.monotonicSeconds() - started
            statistics.update { $0.loadSeconds += seconds }
            switch result {
            case .success(let counts):
                statistics.update {
                    $0.loaded += customers.count
                    $0.applied += counts.applied
                    $0.unchanged += counts.unchanged
                    $0.older += counts.older
                    $0.forgotten += counts.forgotten
                    $0.invalid += counts.invalid
                }
                if counts.invalid > 0 {
                    logger.warning("the service refused invalid customers in a load", metadata: ["invalid": "\(counts.invalid)"])
                }
                return .success(counts)
            case .failure(let error) where error.kind == .tooLarge && customers.count > 1:
                let middle = customers.count / 2
                logger.notice("load over the service's body limit; splitting it", metadata: ["customers": "\(customers.count)"])
                let first = await loadWithRetries(Array(customers[..<middle]), checkpoint: nil)
                guard case .success(var counts) = first else { return first }
                let second = await loadWithRetries(Array(customers[middle...]), checkpoint: checkpoint)
                guard case .success(let more) = second else { return second }
                counts += more
                return .success(counts)
            case .failure(let error):
                guard error.isRetryable, attempt < configuration.retries else {
                    logger.error("cache.load failed", metadata: ["error": "\(error)", "attempts": "\(attempt + 1)"])
                    return .failure(error)
                }
                attempt += 1
                let delay = backoff(attempt)
                statistics.update { $0.retries += 1 }
                logger.warning("cache.load failed; trying again", metadata: [
                    "error": "\(error)", "attempt": "\(attempt)", "delay_seconds": "\(Int(delay.rounded(.up)))",
                ])
                await pause(delay)
            }
        }
    }

    // MARK: Id source

    /// How one `customer.get` batch went.
    private struct BatchOutcome: Sendable {
        var found = 0
        var notFound = 0
        var gone = 0
        var errors = 0
        /// Set when the service refused the job as a whole (token, method not allowed).
        var fatal: ServiceError?
    }

    /// Why a saved checkpoint could not be used for `--resume`.
    private struct CheckpointFailure: Error {
        let message: String
    }

    /// The checkpoint saved under `name` for `source`, nil when there is none; a failure when it cannot be read or
    /// belongs to another source or version (resuming from it would skip or repeat work).
    private func savedCheckpoint(name: String, source: WarmCheckpoint.Source) async -> Result<WarmCheckpoint?, CheckpointFailure> {
        let saved: String?
        do {
            saved = try await withServiceRetries("cache.checkpoint") { () throws(ServiceError) in try await service.checkpoint(name: name) }
        } catch {
            return .failure(CheckpointFailure(message: "could not read checkpoint \(name): \(error)"))
        }
        guard let saved else { return .success(nil) }
        guard let checkpoint = WarmCheckpoint(parsing: saved), checkpoint.source == source else {
            return .failure(CheckpointFailure(message: "checkpoint \(name) is not a \(source) checkpoint this version understands; run without --resume or pick another --name"))
        }
        return .success(checkpoint)
    }

    private func runIDs(_ list: IDList, name: String) async -> (WarmReport.Outcome, String?) {
        var start = 0
        if configuration.resume {
            let saved: WarmCheckpoint?
            switch await savedCheckpoint(name: name, source: .ids) {
            case .success(let checkpoint): saved = checkpoint
            case .failure(let failure): return (.failed, failure.message)
            }
            if let checkpoint = saved {
                if checkpoint.state == .running {
                    start = min(checkpoint.position, list.ids.count)
                    statistics.update { $0.resumedAfter = "id #\(start)" }
                    logger.notice("resuming warm-up", metadata: ["checkpoint": "\(name)", "position": "\(start)"])
                } else {
                    logger.notice("the last run under this checkpoint completed; starting a new run", metadata: ["checkpoint": "\(name)"])
                }
            }
        }
        let ids = list.ids
        statistics.update {
            $0.total = ids.count - start
            $0.duplicates = list.duplicates
            $0.invalid += list.invalidLines.count
        }
        if !list.invalidLines.isEmpty {
            logger.warning("skipped id lines longer than an id can be", metadata: ["lines": "\(list.invalidLines.prefix(20).map(String.init).joined(separator: ","))"])
        }
        let size = configuration.idBatchSize
        let batchCount = (ids.count - start + size - 1) / size
        let slots = max(1, configuration.idBatchesInFlight)
        var fatal: ServiceError?
        var checkpointFailure: ServiceError?
        var stopped = false
        var position = start
        var lastSaved = SystemClock.monotonicSeconds()
        var persistedPosition = -1

        await withTaskGroup(of: (Int, BatchOutcome).self) { group in
            var next = 0
            var running = 0
            var done = Set<Int>()
            var contiguous = 0
            while true {
                while running < slots, next < batchCount, fatal == nil, checkpointFailure == nil {
                    if stopRequested || configuration.maxPages.map({ next >= $0 }) == true {
                        stopped = true
                        break
                    }
                    let lower = start + next * size
                    let slice = Array(ids[lower..<min(ids.count, lower + size)])
                    let index = next
                    group.addTask { [self] in (index, await getBatch(slice)) }
                    next += 1
                    running += 1
                }
                guard let (index, outcome) = await group.next() else { break }
                running -= 1
                statistics.update {
                    $0.pages += 1
                    $0.found += outcome.found
                    $0.notFound += outcome.notFound
                    $0.gone += outcome.gone
                    $0.errors += outcome.errors
                }
                if let error = outcome.fatal, fatal == nil { fatal = error }
                done.insert(index)
                while done.contains(contiguous) { contiguous += 1 }
                position = min(ids.count, start + contiguous * size)
                // Saved at most once a second: it is only a restart point, and each save is a write transaction.
                if fatal == nil, position > persistedPosition, SystemClock.monotonicSeconds() - lastSaved >= 1 {
                    let checkpoint = WarmCheckpoint(state: .running, source: .ids, position: position, pages: contiguous)
                    do throws(ServiceError) {
                        try await saveCheckpoint(name: name, checkpoint)
                        persistedPosition = position
                    } catch {
                        checkpointFailure = error
                    }
                    lastSaved = SystemClock.monotonicSeconds()
                }
            }
        }
        if let fatal { return (.failed, "the service refused the job: \(fatal)") }
        if let checkpointFailure { return (.failed, "saving the checkpoint failed: \(checkpointFailure)") }
        let finished = position >= ids.count
        let final = WarmCheckpoint(state: finished ? .complete : .running, source: .ids, position: position,
                                   pages: (position - start + size - 1) / size)
        do {
            try await saveCheckpoint(name: name, final)
        } catch {
            return (.failed, "saving the checkpoint failed: \(error)")
        }
        if stopped || !finished { return (.stopped, nil) }
        let counts = statistics.snapshot
        return (counts.errors > 0 || counts.invalid > 0 ? .completedWithErrors : .completed, nil)
    }

    /// A `cache.load` without customers: just the checkpoint, in its own transaction.
    private func saveCheckpoint(name: String, _ checkpoint: WarmCheckpoint) async throws(ServiceError) {
        let value = checkpoint.encoded
        _ = try await withServiceRetries("cache.load") { () throws(ServiceError) in
            try await service.load([], checkpoint: (name, value), id: 1)
        }
    }

    /// One batch of `customer.get`, paced one token per id (each may cost the service one upstream read). Members
    /// that failed transiently (-31003, -31006, -31007) are asked again, up to `retries` times.
    private func getBatch(_ ids: [String]) async -> BatchOutcome {
        var outcome = BatchOutcome()
        var pending = ids
        var attempt = 0
        while !pending.isEmpty {
            await pacer.acquire(pending.count)
            let started = SystemClock.monotonicSeconds()
            let answers: [GetOutcome]
            do {
                answers = try await service.get(pending)
            } catch {
                let seconds = SystemClock.monotonicSeconds() - started
                statistics.update { $0.loadSeconds += seconds }
                if error.kind == .unauthorized {
                    outcome.fatal = error
                    return outcome
                }
                guard error.isRetryable, attempt < configuration.retries else {
                    logger.error("customer.get batch failed", metadata: ["error": "\(error)", "ids": "\(pending.count)"])
                    outcome.errors += pending.count
                    return outcome
                }
                attempt += 1
                statistics.update { $0.retries += 1 }
                await pause(backoff(attempt))
                continue
            }
            let seconds = SystemClock.monotonicSeconds() - started
            statistics.update { $0.loadSeconds += seconds }
            var again: [String] = []
            for (id, answer) in zip(pending, answers) {
                switch answer {
                case .found: outcome.found += 1
                case .notFound: outcome.notFound += 1
                case .gone: outcome.gone += 1
                case .unauthorized:
                    outcome.fatal = ServiceError(kind: .unauthorized, code: -31005, message: "customer.get refused: this token may not call it")
                    return outcome
                case .failed(let code, let retryable):
                    if retryable, attempt < configuration.retries {
                        again.append(id)
                    } else {
                        outcome.errors += 1
                        logger.warning("customer.get failed for an id", metadata: ["customer_id": "\(id)", "code": "\(code)"])
                    }
                }
            }
            pending = again
            if !pending.isEmpty {
                attempt += 1
                statistics.update { $0.retries += 1 }
                await pause(backoff(attempt))
            }
        }
        return outcome
    }

    // MARK: Helpers

    /// Retries a small service call (checkpoint read or write) on transient failures.
    private func withServiceRetries<T: Sendable>(_ method: String, _ call: () async throws(ServiceError) -> T) async throws(ServiceError) -> T {
        var attempt = 0
        while true {
            do {
                return try await call()
            } catch {
                guard error.isRetryable, attempt < configuration.retries else { throw error }
                attempt += 1
                statistics.update { $0.retries += 1 }
                logger.warning("\(method) failed; trying again", metadata: ["error": "\(error)", "attempt": "\(attempt)"])
                await pause(backoff(attempt))
            }
        }
    }

    /// `retryDelaySeconds * 2^(attempt-1)`, capped at 30 s, with up to 25 % jitter so parallel jobs spread out.
    private func backoff(_ attempt: Int) -> Double {
        RetrySchedule.delay(afterFailures: attempt, first: configuration.retryDelaySeconds, maximum: 30, jitter: 0.25)
    }

    /// Sleeps, waking early when a stop is requested so SIGTERM is answered within a Kubernetes grace period.
    private func pause(_ seconds: Double) async {
        let deadline = SystemClock.monotonicSeconds() + seconds
        while !stopRequested, !Task.isCancelled {
            let left = deadline - SystemClock.monotonicSeconds()
            guard left > 0 else { return }
            try? await Task.sleep(nanoseconds: UInt64(min(left, 0.1) * 1_000_000_000))
        }
    }
}
