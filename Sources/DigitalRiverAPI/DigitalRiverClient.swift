import Customers
import JSON
import Logging

/// Digital River's Customers API (reference §2): retrieve, create, update and list customers, with retries, backoff
/// and a bound on concurrent requests, over any `DigitalRiverTransport`.
///
/// Every method throws only `DigitalRiverError`. Retries follow `RetryPolicy`: GETs and updates are repeated after
/// 429, 500/502/503/504, connection failures and timeouts; creates too when the body carries the caller's `id`
/// (a replay then shows up as a conflict on that id, flagged by `DigitalRiverError.isProbableReplayConflict`), and
/// otherwise only when DR certainly did nothing (429, connection never opened). Other 4xx are never repeated.
///
/// A value type holding shared state by reference: copies share one concurrency limit.
public struct DigitalRiverClient: Sendable {
    public let configuration: DigitalRiverClientConfiguration
    let transport: any DigitalRiverTransport
    let logger: Logger
    let sleep: @Sendable (Double) async -> Void
    let limiter: AsyncSemaphore
    let policy: RetryPolicy
    /// `configuration.baseURL` without trailing slashes.
    let base: String
    /// Wall clock in seconds since the epoch, for `Retry-After` dates.
    let now: @Sendable () -> Double

    /// Responses are parsed with these limits: DR's customers are shallow, and a list page of 100 is far below 16 MiB.
    static let responseLimits = JSONLimits(maxDepth: 64, maxBytes: 16 << 20)
    static let userAgent = "customer-cache/1"

    /// - Parameters:
    ///   - sleep: waits the given seconds; injected so tests need not wait out backoffs. The default is `Task.sleep`
    ///     (a cancelled sleep returns early, and the client then stops with `.unavailable`).
    public init(configuration: DigitalRiverClientConfiguration, transport: any DigitalRiverTransport, logger: Logger,
                sleep: @escaping @Sendable (Double) async -> Void = DigitalRiverClient.taskSleep) {
        self.init(configuration: configuration, transport: transport, logger: logger, sleep: sleep,
                  now: { wallClockSeconds() })
    }

    init(configuration: DigitalRiverClientConfiguration, transport: any DigitalRiverTransport, logger: Logger,
         sleep: @escaping @Sendable (Double) async -> Void, now: @escaping @Sendable () -> Double) {
        self.configuration = configuration
        self.transport = transport
        self.logger = logger
        self.sleep = sleep
        self.now = now
        limiter = AsyncSemaphore(permits: configuration.maxConcurrentRequests)
        policy = RetryPolicy(configuration)
        var base = configuration.baseURL
        while base.hasSuffix("/") { base.removeLast() }
        self.base = base
    }

    /// The default `sleep`: `Task.sleep`, bounded to a day so a nonsense value cannot overflow.
    @Sendable public static func taskSleep(_ seconds: Double) async {
        let bounded = min(max(0, seconds), 86_400)
        try? await Task.sleep(nanoseconds: UInt64(bounded * 1_000_000_000))
    }

    // MARK: Operations

    /// `GET /customers/{id}`. Returns nil when DR answers 404.
    /// Throws `.rejected` for an empty id (it would address the list endpoint instead), `.invalidResponse` when the
    /// body is not a valid customer or is another customer, and the kinds described on `DigitalRiverError`.
    public func retrieveCustomer(id: String) async throws(DigitalRiverError) -> Customer? {
        let segment = try Self.pathSegment(forID: id)
        let call = Call(method: "GET", pathTemplate: "/customers/{id}", path: "/customers/" + segment, replay: .always)
        let outcome = try await perform(call, notFoundIsAnswer: true)
        guard outcome.response.status != 404 else { return nil }
        return try decodeCustomer(outcome, call: call, expectedID: id)
    }

    /// `POST /customers` with `body` (a CustomerRequest, reference §1); DR answers 201 with the customer.
    /// Give the body an `id` (DR recommends your own): that is what makes retrying an unanswered create safe.
    public func createCustomer(_ body: JSONObject) async throws(DigitalRiverError) -> Customer {
        let id = body["id"]?.stringValue
        let call = Call(method: "POST", pathTemplate: "/customers", path: "/customers",
                        body: JSONValue.object(body).encoded(), replay: id == nil ? .onlyIfNotProcessed : .always)
        let outcome = try await perform(call, notFoundIsAnswer: false)
        return try decodeCustomer(outcome, call: call, expectedID: id)
    }

    /// `POST /customers/{id}` with `body` (an UpdateCustomerRequest: fields to change, `metadata` merged, reference
    /// §1.4); DR answers 200 with the whole customer. Retried like a GET: sending the same changes twice leaves the
    /// same customer.
    public func updateCustomer(id: String, _ body: JSONObject) async throws(DigitalRiverError) -> Customer {
        let segment = try Self.pathSegment(forID: id)
        let call = Call(method: "POST", pathTemplate: "/customers/{id}", path: "/customers/" + segment,
                        body: JSONValue.object(body).encoded(), replay: .always)
        let outcome = try await perform(call, notFoundIsAnswer: false)
        return try decodeCustomer(outcome, call: call, expectedID: id)
    }

    /// `GET /customers`: one page, oldest cursor first as DR orders it.
    /// - Parameters:
    ///   - limit: page size, clamped to DR's 1...100.
    ///   - startingAfter: the previous page's `lastID`.
    ///   - updatedSince: ISO-8601 date-time; customers updated at or after it, encoded per
    ///     `configuration.updatedTimeFilterStyle`. A value that is not a date-time is refused with `.rejected`.
    ///   - ids: only these customers (sent as `ids=a&ids=b`). An empty array returns an empty page without asking
    ///     DR, because omitting the filter would mean "all customers".
    public func listCustomers(limit: Int = 100, startingAfter: String? = nil, updatedSince: String? = nil,
                              ids: [String]? = nil) async throws(DigitalRiverError) -> CustomerPage {
        if let ids, ids.isEmpty { return CustomerPage(customers: [], hasMore: false, lastID: nil) }
        var query = ["limit=\(min(max(limit, 1), 100))"]
        if let startingAfter {
            guard !startingAfter.isEmpty else {
                throw DigitalRiverError(kind: .rejected, message: "startingAfter must not be empty")
            }
            query.append("startingAfter=" + PercentEncoding.queryComponent(startingAfter))
        }
        if let updatedSince {
            guard Timestamp.microseconds(from: updatedSince) != nil else {
                throw DigitalRiverError(kind: .rejected, message: "updatedSince must be an ISO-8601 date-time")
            }
            let name = switch configuration.updatedTimeFilterStyle {
            case .bracketed: "updatedTime%5Bgte%5D"
            case .plain: "updatedTime"
            }
            query.append(name + "=" + PercentEncoding.queryComponent(updatedSince))
        }
        for id in ids ?? [] { query.append("ids=" + PercentEncoding.queryComponent(id)) }
        let call = Call(method: "GET", pathTemplate: "/customers", path: "/customers", query: query.joined(separator: "&"),
                        replay: .always)
        let outcome = try await perform(call, notFoundIsAnswer: false)
        return try decodePage(outcome, call: call)
    }

    // MARK: Decoding

    private func decodeCustomer(_ outcome: Outcome, call: Call, expectedID: String?) throws(DigitalRiverError) -> Customer {
        let object = try parseObject(outcome, call: call)
        let customer: Customer
        do {
            customer = try Customer(json: object)
        } catch {
            throw invalidResponse(call, outcome, "body is not a valid customer (\(error))")
        }
        if let expectedID, customer.id != expectedID {
            throw invalidResponse(call, outcome, "body is a different customer than the one addressed")
        }
        return customer
    }

    private func decodePage(_ outcome: Outcome, call: Call) throws(DigitalRiverError) -> CustomerPage {
        let object = try parseObject(outcome, call: call)
        guard case .array(let elements)? = object["data"] else {
            throw invalidResponse(call, outcome, "list body has no data array")
        }
        // Required rather than defaulted: reading a missing flag as false would end a warm-up early without a word.
        guard case .bool(let hasMore)? = object["hasMore"] else {
            throw invalidResponse(call, outcome, "list body has no boolean hasMore")
        }
        var customers: [Customer] = []
        customers.reserveCapacity(elements.count)
        var skippedIDs: [String] = []
        var skipped = 0
        for element in elements {
            let id = element["id"]?.stringValue
            do {
                guard case .object(let fields) = element else {
                    throw CustomerValidationError(field: "(element)", reason: "must be an object")
                }
                customers.append(try Customer(json: fields))
            } catch {
                skipped += 1
                if let id { skippedIDs.append(id) }
                logger.warning("skipped an invalid customer in a Digital River list page", metadata: [
                    "customer_id": "\(id ?? "<none>")", "reason": "\(error)",
                ])
            }
        }
        let lastID = elements.last?["id"]?.stringValue
        if hasMore, lastID == nil {
            throw invalidResponse(call, outcome, "list page says hasMore but its last element has no id to continue from")
        }
        return CustomerPage(customers: customers, hasMore: hasMore, lastID: lastID, skippedInvalid: skipped,
                            skippedIDs: skippedIDs)
    }

    private func parseObject(_ outcome: Outcome, call: Call) throws(DigitalRiverError) -> JSONObject {
        let value: JSONValue
        do {
            value = try JSONValue.parse(outcome.response.body, limits: Self.responseLimits)
        } catch {
            throw invalidResponse(call, outcome, "body is not JSON (\(error))")
        }
        guard case .object(let object) = value else { throw invalidResponse(call, outcome, "body is not a JSON object") }
        return object
    }

    private func invalidResponse(_ call: Call, _ outcome: Outcome, _ reason: String) -> DigitalRiverError {
        DigitalRiverError(kind: .invalidResponse, status: outcome.response.status,
                          message: "\(call.method) \(call.pathTemplate): \(reason)", attempts: outcome.attempts)
    }

    static func pathSegment(forID id: String) throws(DigitalRiverError) -> String {
        guard !id.isEmpty else { throw DigitalRiverError(kind: .rejected, message: "customer id must not be empty") }
        return PercentEncoding.pathSegment(id)
    }
}
