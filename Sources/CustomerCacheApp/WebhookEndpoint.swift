import Customers
import HTTP1
import JSON
import Logging
import ServiceMetrics
import Sockets
import WebhookSignature

/// `POST /webhooks/digitalriver`: verify, decode, apply exactly once, and only then acknowledge.
///
/// Status contract (README): 200 applied or recognised (duplicate, older, ignored type); 401 missing, malformed or
/// wrong signature or a stale timestamp (generic body); 400 well-signed but malformed event, or wrong live/test
/// mode; 503 when the store cannot commit (Digital River retries). A 2xx is never sent before the commit returned.
final class WebhookEndpoint: Sendable {
    private let store: StoreHolder
    private let verifier: WebhookSecrets
    private let liveMode: Bool
    private let logger: Logger
    private let counters: WebhookCounters
    private let clients: ClientAddressResolver
    private let allowedSources: [CIDRBlock]
    /// While the store is down every webhook fails the same way; one line per 10 s (with the count) says so.
    private let storeFailureLog = LogThrottle(interval: .seconds(10))
    static let jsonLimits = JSONLimits(maxDepth: 64, maxStringBytes: 256 * 1024, maxBytes: 16 << 20)

    init(store: StoreHolder, verifier: WebhookSecrets, liveMode: Bool, clients: ClientAddressResolver,
         allowedSources: [CIDRBlock], metrics: MetricsRegistry, logger: Logger) {
        self.clients = clients
        self.allowedSources = allowedSources
        self.store = store
        self.verifier = verifier
        self.liveMode = liveMode
        self.logger = logger
        self.counters = WebhookCounters(metrics)
    }

    /// Verification and decoding run on the event loop (microseconds of CPU); the commit waits on the store's
    /// writer thread, which answers through the sink once the batch holding this event is durable.
    func handle(_ request: HTTPRequest, _ sink: HTTPResponseSink) {
        switch prepare(request) {
        case .respond(let response):
            sink.send(response)
        case .apply(let event, let store):
            let counters = self.counters
            let logger = self.logger
            let storeFailureLog = self.storeFailureLog
            store.submit([.event(event.preparedForStore())]) { result in
                switch result {
                case .success(let outcomes):
                    let outcome = outcomes.first ?? .unchanged
                    counters.outcome(outcome)
                    logger.debug("webhook applied", metadata: ["event_id": "\(event.id)", "type": "\(event.type)", "outcome": "\(outcome.rawValue)"])
                    sink.send(Self.acknowledgement(outcome))
                case .failure(let error):
                    counters.storeError.increment()
                    if let suppressed = storeFailureLog.admit(error.code.rawValue) {
                        logger.error("webhook not stored", metadata: ["event_id": "\(event.id)", "error": "\(error.code.rawValue)", "detail": "\(error.message)",
                                                                      "similar_failures_not_logged": "\(suppressed)"])
                    }
                    sink.send(.error(.serviceUnavailable, code: "store_unavailable", message: "the event could not be stored; retry",
                                     headers: HTTPHeaders([("Retry-After", "5")])))
                }
            }
        }
    }

    private enum Preparation {
        case respond(HTTPResponse)
        case apply(CustomerEvent, CustomerStore)
    }

    private func prepare(_ request: HTTPRequest) -> Preparation {
        let client = clients.clientAddress(of: request)
        if !allowedSources.isEmpty, !(client.map { address in allowedSources.contains { $0.contains(address) } } ?? false) {
            counters.sourceNotAllowed.increment()
            logger.warning("webhook from a source outside the allowlist", metadata: ["client": "\(client.map { "\($0)" } ?? "-")"])
            return .respond(.error(.forbidden, code: "forbidden", message: "source address not allowed"))
        }
        do {
            _ = try verifier.verify(header: request.headers["DigitalRiver-Signature"], body: request.body)
        } catch {
            counters.rejected(error.code)
            logger.notice("webhook rejected", metadata: ["reason": "\(error.code.rawValue)", "client": "\(client.map { "\($0)" } ?? "-")"])
            return .respond(.error(.unauthorized, code: "unauthorized", message: "signature verification failed"))
        }
        counters.verified.increment()

        let event: CustomerEvent
        do {
            event = try CustomerEvent(json: try JSONValue.parse(request.body, limits: Self.jsonLimits))
        } catch let error as JSONParseError {
            counters.malformed.increment()
            return .respond(.error(.badRequest, code: "malformed_event", message: "body is not valid JSON (\(error.code.rawValue) at byte \(error.offset))"))
        } catch let error as EventDecodingError {
            counters.malformed.increment()
            return .respond(.error(.badRequest, code: "malformed_event", message: error.description))
        } catch {
            counters.malformed.increment()
            return .respond(.error(.badRequest, code: "malformed_event", message: "event could not be decoded"))
        }

        if let eventMode = event.liveMode, eventMode != liveMode {
            counters.wrongMode.increment()
            logger.warning("webhook for the other mode rejected", metadata: ["event_id": "\(event.id)", "event_live_mode": "\(eventMode)"])
            return .respond(.error(.badRequest, code: "wrong_mode", message: liveMode ? "this endpoint accepts live-mode events only" : "this endpoint accepts test-mode events only"))
        }
        if event.kind == .unhandled {
            counters.outcome(.ignoredType)
            logger.debug("webhook type not handled", metadata: ["event_id": "\(event.id)", "type": "\(event.type)"])
            return .respond(Self.acknowledgement(.ignoredType))
        }
        guard let store = store.current else {
            counters.storeError.increment()
            return .respond(.error(.serviceUnavailable, code: "store_unavailable", message: "store is not open yet", headers: HTTPHeaders([("Retry-After", "1")])))
        }
        return .apply(event, store)
    }

    static func acknowledgement(_ outcome: ApplyOutcome) -> HTTPResponse {
        var body = Array(#"{"status":"#.utf8)
        JSONValue.appendEscaped(outcome.rawValue, to: &body)
        body.append(UInt8(ascii: "}"))
        return .json(.ok, body)
    }
}

/// One counter per webhook outcome, registered once so the hot path only increments.
final class WebhookCounters: Sendable {
    let verified: Counter
    let malformed: Counter
    let wrongMode: Counter
    let storeError: Counter
    let sourceNotAllowed: Counter
    private let rejections: [WebhookSignatureRejection.Code: (outcome: Counter, reason: Counter)]
    private let outcomes: [ApplyOutcome: Counter]

    init(_ metrics: MetricsRegistry) {
        // Verification is a step, not an outcome: every verified delivery also ends in one outcome below, so it is
        // its own family and sum(customer_cache_webhook_events_total) counts deliveries.
        verified = metrics.counter(.webhookSignaturesVerified)
        let outcome = { (name: String) in metrics.counter(.webhookEvents, labels: [("outcome", name)]) }
        malformed = outcome("malformed_event")
        wrongMode = outcome("wrong_mode")
        storeError = outcome("store_error")
        sourceNotAllowed = outcome("source_not_allowed")
        // The outcome family has one label set for all series; why a signature failed is a separate family.
        let badSignature = outcome("bad_signature")
        let staleTimestamp = outcome("stale_timestamp")
        var rejections: [WebhookSignatureRejection.Code: (outcome: Counter, reason: Counter)] = [:]
        for code in WebhookSignatureRejection.Code.allCases {
            let reason = metrics.counter(.webhookSignatureRejections, labels: [("reason", code.rawValue)])
            rejections[code] = (code == .timestampOutsideTolerance ? staleTimestamp : badSignature, reason)
        }
        self.rejections = rejections
        var outcomes: [ApplyOutcome: Counter] = [:]
        for applied in ApplyOutcome.allCases {
            outcomes[applied] = outcome(applied.rawValue)
        }
        self.outcomes = outcomes
    }

    func rejected(_ code: WebhookSignatureRejection.Code) {
        rejections[code]?.outcome.increment()
        rejections[code]?.reason.increment()
    }
    func outcome(_ outcome: ApplyOutcome) { outcomes[outcome]?.increment() }
}
