import Customers
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Logging
import Synchronization
import WebhookSignature

/// Delivery counters; `pending` counts events queued, in flight, or waiting for a retry.
public struct WebhookStatistics: Sendable, Hashable {
    /// Events acknowledged with a 2xx.
    public var delivered = 0
    /// Attempts that got a non-2xx answer (3xx included, as at Digital River), timed out or failed to connect.
    public var failedAttempts = 0
    /// Events given up on after `webhookMaxAttempts` failed attempts.
    public var abandoned = 0
    public var pending = 0

    public init(delivered: Int = 0, failedAttempts: Int = 0, abandoned: Int = 0, pending: Int = 0) {
        self.delivered = delivered
        self.failedAttempts = failedAttempts
        self.abandoned = abandoned
        self.pending = pending
    }
}

/// POSTs events to the webhook URL off the request path, at most `concurrency` at a time, retrying each failed
/// attempt with exponential backoff (`initialBackoff · 2^(attempt−1)`, capped) up to `maxAttempts`, then abandoning
/// it. Each attempt is signed afresh with the current timestamp, as Digital River does (reference §5).
///
/// No ordering is promised between events, exactly as at Digital River: with concurrency above one, or after a
/// retry, a later event can arrive first.
///
/// Deliveries run on the dispatcher's own threads (started on demand, one per concurrent delivery) and retries wait
/// on a private Dispatch queue, never on Swift's cooperative pool: a host process whose tasks block that pool (a test
/// runner doing blocking I/O on two cores, say) must not stall webhook delivery.
final class WebhookDispatcher: Sendable {
    struct Settings: Sendable {
        var url: URL
        var secret: String?
        var maxAttempts: Int
        var initialBackoffSeconds: Double
        var maxBackoffSeconds: Double
        var timeoutSeconds: Double
        var concurrency: Int
    }

    private struct Delivery: Sendable {
        let event: SandboxEvent
        /// 1 for the first attempt.
        let attempt: Int
    }

    private struct State: Sendable {
        /// FIFO with a moving head, so dequeuing stays O(1) under a burst of thousands of events.
        var queue: [Delivery] = []
        var head = 0
        var workers = 0
        var inFlight = 0
        /// Retries waiting out their backoff; a timer whose id is gone (after shutdown) does nothing.
        var waiting: Set<UInt64> = []
        var nextWaitID: UInt64 = 0
        var statistics = WebhookStatistics()
        var stopped = false

        var queued: Int { queue.count - head }

        /// Reserves a worker slot when fewer than `limit` run; the caller then starts one.
        mutating func claimWorker(limit: Int) -> Bool {
            guard workers < max(1, limit) else { return false }
            workers += 1
            return true
        }

        mutating func dequeue() -> Delivery? {
            guard head < queue.count else { return nil }
            let delivery = queue[head]
            head += 1
            if head > 1024, head * 2 > queue.count {
                queue.removeFirst(head)
                head = 0
            }
            return delivery
        }
    }

    private let settings: Settings
    private let state = Mutex(State())
    private let session: URLSession
    private let logger: Logger
    /// Where retries wait out their backoff.
    private let timers = DispatchQueue(label: "sandbox-webhook-retries")

    init(settings: Settings, logger: Logger) {
        self.settings = settings
        self.logger = logger
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = settings.timeoutSeconds
        configuration.timeoutIntervalForResource = settings.timeoutSeconds
        configuration.httpMaximumConnectionsPerHost = max(1, settings.concurrency)
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        configuration.urlCache = nil
        configuration.httpCookieStorage = nil
        session = URLSession(configuration: configuration, delegate: RedirectRefuser(), delegateQueue: nil)
    }

    var statistics: WebhookStatistics {
        state.withLock { state in
            var statistics = state.statistics
            statistics.pending = state.queued + state.inFlight + state.waiting.count
            return statistics
        }
    }

    /// Queues `event` for delivery; ignored after `shutdown`.
    func enqueue(_ event: SandboxEvent) {
        let startWorker = state.withLock { state -> Bool in
            guard !state.stopped else { return false }
            state.queue.append(Delivery(event: event, attempt: 1))
            return state.claimWorker(limit: settings.concurrency)
        }
        if startWorker { spawnWorker() }
    }

    /// Stops delivering: queued events and scheduled retries are dropped, attempts in flight finish on their own.
    func shutdown() {
        let dropped = state.withLock { state -> Int in
            state.stopped = true
            let dropped = state.queued + state.waiting.count
            state.waiting.removeAll()
            state.queue.removeAll()
            state.head = 0
            return dropped
        }
        session.invalidateAndCancel()
        if dropped > 0 { logger.notice("webhook deliveries dropped at shutdown", metadata: ["events": "\(dropped)"]) }
    }

    private func spawnWorker() {
        let thread = Thread { [self] in work() }
        thread.name = "sandbox-webhook"
        thread.start()
    }

    /// A worker: delivers queued events one after another and exits when the queue is empty.
    private func work() {
        while let delivery = state.withLock({ state -> Delivery? in
            guard !state.stopped, let next = state.dequeue() else {
                state.workers -= 1
                return nil
            }
            state.inFlight += 1
            return next
        }) {
            finish(delivery, outcome: attempt(delivery))
        }
    }

    /// Records one attempt's outcome and, on failure, schedules the retry in the same critical section, so
    /// `pending` never dips to zero between a failed attempt and its retry.
    private func finish(_ delivery: Delivery, outcome: Result<Int, AttemptFailure>) {
        let eventMetadata: Logger.Metadata = ["event_id": "\(delivery.event.id)", "event_type": "\(delivery.event.type)",
                                              "attempt": "\(delivery.attempt)"]
        switch outcome {
        case .success(let status):
            state.withLock { state in
                state.inFlight -= 1
                state.statistics.delivered += 1
            }
            logger.debug("webhook delivered", metadata: eventMetadata.merging(["status": "\(status)"]) { $1 })
        case .failure(let failure):
            let giveUp = delivery.attempt >= settings.maxAttempts
            let delay = backoff(afterAttempt: delivery.attempt)
            state.withLock { state in
                state.inFlight -= 1
                state.statistics.failedAttempts += 1
                if giveUp {
                    state.statistics.abandoned += 1
                } else if !state.stopped {
                    let id = state.nextWaitID
                    state.nextWaitID += 1
                    let retry = Delivery(event: delivery.event, attempt: delivery.attempt + 1)
                    state.waiting.insert(id)
                    timers.asyncAfter(deadline: .now() + delay) { [weak self] in self?.requeue(retry, waitID: id) }
                }
            }
            var metadata = eventMetadata
            metadata["reason"] = "\(failure)"
            if giveUp {
                logger.warning("webhook abandoned after the last attempt", metadata: metadata)
            } else {
                metadata["retry_in_s"] = "\(delay)"
                logger.info("webhook attempt failed", metadata: metadata)
            }
        }
    }

    private func requeue(_ delivery: Delivery, waitID: UInt64) {
        let startWorker = state.withLock { state -> Bool in
            guard state.waiting.remove(waitID) != nil, !state.stopped else { return false }
            state.queue.append(delivery)
            return state.claimWorker(limit: settings.concurrency)
        }
        if startWorker { spawnWorker() }
    }

    /// Seconds to wait after failed attempt number `attempt` (1-based).
    func backoff(afterAttempt attempt: Int) -> Double {
        RetrySchedule.delay(afterFailures: attempt, first: settings.initialBackoffSeconds, maximum: settings.maxBackoffSeconds)
    }

    /// Why an attempt did not count as delivered; never holds body bytes.
    enum AttemptFailure: Error, Sendable, CustomStringConvertible {
        case status(Int)
        case transport(String)

        var description: String {
            switch self {
            case .status(let code): "HTTP \(code)"
            case .transport(let text): text
            }
        }
    }

    /// One POST with a fresh signature, waited for on the calling worker thread; success is any 2xx.
    private func attempt(_ delivery: Delivery) -> Result<Int, AttemptFailure> {
        var request = URLRequest(url: settings.url, cachePolicy: .reloadIgnoringLocalCacheData, timeoutInterval: settings.timeoutSeconds)
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.setValue("customer-cache-sandbox", forHTTPHeaderField: "User-Agent")
        if let secret = settings.secret {
            let header = WebhookSigner.header(secret: secret, timestamp: SandboxClock.wallSeconds(), body: delivery.event.body)
            request.setValue(header, forHTTPHeaderField: "DigitalRiver-Signature")
        }
        request.httpBody = Data(delivery.event.body)
        let outcome = AttemptOutcome()
        session.dataTask(with: request) { _, response, error in
            if let error {
                outcome.complete(.failure(.transport("URLError \((error as NSError).code)")))
            } else if let http = response as? HTTPURLResponse {
                outcome.complete((200..<300).contains(http.statusCode) ? .success(http.statusCode) : .failure(.status(http.statusCode)))
            } else {
                outcome.complete(.failure(.transport("no HTTP response")))
            }
        }.resume()
        // URLSession enforces the timeout; the extra second only guards against a completion that never comes.
        return outcome.wait(timeout: settings.timeoutSeconds + 1) ?? .failure(.transport("no completion from URLSession"))
    }
}

/// Hands one attempt's result from URLSession's callback queue to the waiting worker thread.
private final class AttemptOutcome: Sendable {
    private let result = Mutex<Result<Int, WebhookDispatcher.AttemptFailure>?>(nil)
    private let done = DispatchSemaphore(value: 0)

    func complete(_ value: Result<Int, WebhookDispatcher.AttemptFailure>) {
        result.withLock { $0 = value }
        done.signal()
    }

    func wait(timeout: Double) -> Result<Int, WebhookDispatcher.AttemptFailure>? {
        guard done.wait(timeout: .now() + timeout) == .success else { return nil }
        return result.withLock { $0 }
    }
}

/// Digital River counts a 3xx as not received (reference §5), so redirects are reported, never followed.
private final class RedirectRefuser: NSObject, URLSessionTaskDelegate, Sendable {
    func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                    newRequest request: URLRequest, completionHandler: @escaping (URLRequest?) -> Void) {
        completionHandler(nil)
    }
}
