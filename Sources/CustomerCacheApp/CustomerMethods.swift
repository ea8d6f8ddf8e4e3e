import Customers
import DigitalRiverAPI
import Foundation
import JSON
import JSONRPC
import Logging
import ServiceMetrics

/// The customer.* and cache.* JSON-RPC methods. Reads are answered from memory; misses, stale entries and
/// `consistency: "upstream"` read through to Digital River; writes go through the same store rules as webhooks.
final class CustomerMethods: Sendable {
    private let store: StoreHolder
    /// The Digital River client; nil when the upstream is disabled (cache only).
    private let upstream: DigitalRiverClient?
    private let negativeCache: NegativeCache
    private let reads: SingleFlight<Result<CustomerRecord, JSONRPCError>>
    private let ensures: SingleFlight<Result<(CustomerRecord, Bool), JSONRPCError>>
    private let logger: Logger
    private let clock: @Sendable () -> Int64
    private let counters: RPCCounters
    private let memory: MemoryMetrics
    private let forgetDelivery: ForgetDelivery
    /// PostgreSQL only: the create lock per id and the committed checkpoints, shared with the other replicas.
    private let cluster: ClusterCoordinator?

    init(store: StoreHolder, upstream: DigitalRiverClient?, negativeCacheSeconds: Int64, metrics: MetricsRegistry,
         logger: Logger, clock: @escaping @Sendable () -> Int64, executor: (any TaskExecutor)?, forgetDelivery: ForgetDelivery,
         cluster: ClusterCoordinator? = nil) {
        self.forgetDelivery = forgetDelivery
        self.cluster = cluster
        reads = SingleFlight(executor: executor)
        ensures = SingleFlight(executor: executor)
        self.store = store
        self.upstream = upstream
        self.negativeCache = NegativeCache(ttlSeconds: negativeCacheSeconds)
        self.logger = logger
        self.clock = clock
        self.counters = RPCCounters(metrics)
        self.memory = MemoryMetrics(metrics, store: store)
    }

    /// Registers every method this service answers. Each is `.grantedCallers` (the table's default): the JSON-RPC
    /// server checks the caller's grant before any handler here runs.
    func register(into table: inout JSONRPCMethodTable) {
        table.register("customer.get", execution: .concurrent, immediate: { [self] call in getImmediately(call) }) { [self] call throws(JSONRPCError) in
            try await get(call)
        }
        table.register("customer.ensure", execution: .concurrent) { [self] call throws(JSONRPCError) in
            do throws(JSONRPCError) { return try await ensure(call) } catch { counters.failed("customer.ensure", error); throw error }
        }
        table.register("customer.forget", execution: .concurrent) { [self] call throws(JSONRPCError) in
            do throws(JSONRPCError) { return try await forget(call) } catch { counters.failed("customer.forget", error); throw error }
        }
        table.register("cache.load") { [self] call throws(JSONRPCError) in
            try await load(call)
        }
        table.register("cache.checkpoint", immediate: { [self] call in
            // With PostgreSQL the committed row is read, which another replica may have written.
            if cluster != nil { return .needsAsync }
            do throws(JSONRPCError) { return .result(try checkpoint(call)) } catch { return .error(error) }
        }) { [self] call throws(JSONRPCError) in
            if let cluster { return try await sharedCheckpoint(call, cluster: cluster) }
            return try checkpoint(call)
        }
    }

    // MARK: customer.get

    private struct GetParameters {
        let id: String
        let fromUpstream: Bool
        /// `consistency: "store"`: the committed row, not memory (another replica may have committed a newer one).
        let fromStore: Bool
    }

    private static let getParameterNames: [StaticString] = ["id", "consistency"]

    private func getParameters(_ call: JSONRPCCall) throws(JSONRPCError) -> GetParameters {
        try call.rejectUnknownParameters(allowed: Self.getParameterNames)
        let id = try customerID(call)
        switch try call.optionalString("consistency") {
        case nil, "cache"?: return GetParameters(id: id, fromUpstream: false, fromStore: false)
        case "store"?: return GetParameters(id: id, fromUpstream: false, fromStore: true)
        case "upstream"?: return GetParameters(id: id, fromUpstream: true, fromStore: false)
        default: throw .invalidParams(parameter: "consistency", reason: #"must be "cache", "store" or "upstream""#)
        }
    }

    /// The event-loop path: cache hits and definite answers; anything needing I/O returns `.needsAsync`.
    /// Every definite answer is counted here, an error by its code (not found, gone, other).
    private func getImmediately(_ call: JSONRPCCall) -> JSONRPCImmediateResult {
        let (result, answerer) = answerImmediately(call)
        count(result, answeredBy: answerer)
        return result
    }

    /// Who gave a definite customer.get answer, for bounded memory's hit ratio; `nil`: no lookup was made (bad
    /// parameters, store opening).
    private enum Answerer { case memory, store, nobody }

    /// Counts one definite customer.get answer: its RPC outcome, and who answered it.
    private func count(_ result: JSONRPCImmediateResult, answeredBy answerer: Answerer?) {
        switch result {
        // Memory or the store (bounded memory): either way the cache answered without Digital River.
        case .result: counters.getHit.increment()
        case .error(let error): counters.failed("customer.get", error)
        case .needsAsync: return
        }
        switch answerer {
        case .memory?: memory.hits.increment()
        case .store?: memory.answeredByStore.increment()
        case .nobody?: memory.answeredByNone.increment()
        case nil: break
        }
    }

    private func answerImmediately(_ call: JSONRPCCall) -> (JSONRPCImmediateResult, Answerer?) {
        let parameters: GetParameters
        do { parameters = try getParameters(call) } catch { return (.error(error), nil) }
        guard !parameters.fromUpstream, !parameters.fromStore else { return (.needsAsync, nil) }
        guard let store = store.current else { return (.error(RPCErrorCode.storeUnavailable.error([("reason", "store is opening")])), nil) }
        // Memory, then with bounded memory the store: SQLite is read here, on the calling thread (a primary-key
        // read); PostgreSQL (nil here) in the async path, as is a store read that failed.
        guard let found = try? store.lookupWithoutWaiting(parameters.id) else { return (.needsAsync, nil) }
        if let record = found.record { return (answer(record) ?? .needsAsync, found.source == .memory ? .memory : .store) }
        return (notFoundWithoutUpstream(parameters.id), .nobody)
    }

    /// A definite answer from a record memory or the store held; nil when it is stale and Digital River can refresh it.
    private func answer(_ record: CustomerRecord) -> JSONRPCImmediateResult? {
        switch record.state {
        case .live:
            if record.stale, upstream != nil { return nil }
            return .result(JSONRPCResult(encoded: record.body))
        case .deleted, .forgotten:
            return .error(gone(record))
        }
    }

    /// Not found, when Digital River cannot be asked (none configured, or it said 404 recently); else `.needsAsync`.
    private func notFoundWithoutUpstream(_ id: String) -> JSONRPCImmediateResult {
        if upstream == nil || negativeCache.contains(id, now: clock()) { return .error(notFound(id)) }
        return .needsAsync
    }

    private func get(_ call: JSONRPCCall) async throws(JSONRPCError) -> JSONRPCResult {
        let parameters = try getParameters(call)
        if parameters.fromStore, let store = store.current {
            let committed: CustomerRecord?
            do {
                committed = try await store.committedRecord(for: parameters.id)
            } catch {
                let failure = RPCErrorCode.storeUnavailable.error([("reason", .string(error.code.rawValue))])
                counters.failed("customer.get", failure)
                throw failure
            }
            if let committed {
                guard committed.state == .live else {
                    counters.failed("customer.get", gone(committed))
                    throw gone(committed)
                }
                if !(committed.stale && upstream != nil) {
                    counters.getStoreRead.increment()
                    return JSONRPCResult(encoded: committed.body)
                }
            }
        } else if !parameters.fromUpstream {
            // getImmediately counts its own definite answers.
            switch getImmediately(call) {
            case .result(let result): return result
            case .error(let error): throw error
            case .needsAsync: break
            }
            // PostgreSQL with bounded memory: the store is read here, before any read-through.
            if let store = store.current, store.isBounded, store.isShared, store.record(for: parameters.id) == nil {
                let found: CustomerRecord?
                do { found = try await store.lookup(parameters.id).record } catch {
                    let failure = RPCErrorCode.storeUnavailable.error([("reason", .string(error.code.rawValue))])
                    count(.error(failure), answeredBy: .nobody)
                    throw failure
                }
                let answer = if let found { answer(found) ?? .needsAsync } else { notFoundWithoutUpstream(parameters.id) }
                count(answer, answeredBy: found == nil ? .nobody : .store)
                switch answer {
                case .result(let result): return result
                case .error(let error): throw error
                case .needsAsync: break
                }
            }
        }
        // Each call ends in exactly one outcome, so sum() over customer.get's series counts calls.
        switch await readThrough(parameters.id) {
        case .success(let record):
            memory.answeredByUpstream.increment()
            counters.getReadThrough.increment()
            return JSONRPCResult(encoded: record.body)
        case .failure(let error):
            memory.answeredByNone.increment()
            counters.failed("customer.get", error)
            throw error
        }
    }

    /// Fetches one customer from Digital River (single-flight per id) and stores it under the snapshot rules.
    /// When Digital River is down, a cached live copy is served rather than an error.
    private func readThrough(_ id: String) async -> Result<CustomerRecord, JSONRPCError> {
        await reads.run(id) { [self] in
            guard let store = store.current else { return .failure(RPCErrorCode.storeUnavailable.error([("reason", "store is opening")])) }
            guard let upstream else {
                // Only `consistency: "upstream"` gets here without an upstream. Saying "not found" would deny a
                // customer the cache may hold, so the answer names the missing upstream instead.
                if let cached = await cachedOrStored(id, in: store), cached.state != .live { return .failure(gone(cached)) }
                return .failure(Self.noUpstream)
            }
            let fetched: Customer?
            do throws(DigitalRiverError) {
                fetched = try await upstream.retrieveCustomer(id: id)
            } catch {
                if let cached = await cachedOrStored(id, in: store), cached.state == .live {
                    counters.servedStale.increment()
                    logger.warning("upstream read failed; serving cached copy", metadata: ["customer_id": "\(id)", "error": "\(error.kind.rawValue)"])
                    return .success(cached)
                }
                return .failure(Self.map(error))
            }
            guard let customer = fetched else {
                negativeCache.insert(id, now: clock())
                if let cached = await cachedOrStored(id, in: store), cached.state != .live { return .failure(gone(cached)) }
                return .failure(notFound(id))
            }
            return await storeSnapshot(customer, in: store)
        }
    }

    private func storeSnapshot(_ customer: Customer, in store: CustomerStore) async -> Result<CustomerRecord, JSONRPCError> {
        do {
            _ = try await store.apply(.snapshot(customer, observedAt: clock()))
        } catch {
            return .failure(RPCErrorCode.storeUnavailable.error([("reason", .string(error.code.rawValue))]))
        }
        negativeCache.remove(customer.id)
        guard let record = await cachedOrStored(customer.id, in: store) else { return .failure(notFound(customer.id)) }
        return record.state == .live ? .success(record) : .failure(gone(record))
    }

    /// Memory's record, else (bounded memory) the store's; nil also when the store cannot be read (callers then act
    /// as they would for an unknown customer, which the store's rules make safe for writes).
    private func cachedOrStored(_ id: String, in store: CustomerStore) async -> CustomerRecord? {
        if let cached = store.record(for: id) { return cached }
        return store.isBounded ? try? await store.lookup(id).record : nil
    }

    // MARK: customer.ensure

    private func ensure(_ call: JSONRPCCall) async throws(JSONRPCError) -> JSONRPCResult {
        let (id, body) = try EnsureValidation.createBody(from: call.params)
        guard let store = store.current else { throw RPCErrorCode.storeUnavailable.error([("reason", "store is opening")]) }
        let known: CustomerRecord?
        // With bounded memory the store is asked too: a deleted customer must never be re-created.
        do { known = try await store.lookup(id).record } catch {
            throw RPCErrorCode.storeUnavailable.error([("reason", .string(error.code.rawValue))])
        }
        if let record = known {
            guard record.state == .live else { throw gone(record) }
            counters.ensureExisting.increment()
            return Self.ensureResult(record, created: false)
        }
        guard upstream != nil else { throw Self.noUpstream }
        let flight = await ensures.runReportingLeader(id) { [self] in await ensureOnceInCluster(id: id, body: body, store: store) }
        let (record, leaderCreated) = try flight.value.get()
        let created = leaderCreated && flight.isLeader
        (created ? counters.ensureCreated : counters.ensureExisting).increment()
        return Self.ensureResult(record, created: created)
    }

    /// With PostgreSQL, one create in the whole cluster: this replica's leader waits for the id's create lock, and
    /// whoever gets it after another replica's create finds the committed row (a store read, never a second create).
    /// Other replicas' callers are therefore told `created: false`. A lock holder that dies releases the lock with its
    /// session; the next holder then reads Digital River first, so a create that landed is found, not repeated.
    private func ensureOnceInCluster(id: String, body: JSONObject, store: CustomerStore) async -> Result<(CustomerRecord, Bool), JSONRPCError> {
        guard let cluster, let upstream else { return await ensureUpstream(id: id, body: body, store: store) }
        let turn: ClusterCoordinator.CreateTurn
        do {
            turn = try await cluster.awaitCreateTurn(for: id, waitSeconds: Self.longestUpstreamCallSeconds(upstream.configuration)) {
                store.record(for: id)
            }
        } catch {
            return .failure(RPCErrorCode.storeUnavailable.error([("reason", .string(error.code.rawValue))]))
        }
        func existing(_ record: CustomerRecord) -> Result<(CustomerRecord, Bool), JSONRPCError> {
            record.state == .live ? .success((record, false)) : .failure(gone(record))
        }
        switch turn {
        case .found(let record):
            return existing(record)
        case .timedOut:
            return .failure(RPCErrorCode.upstreamUnavailable.error([("reason", "another replica is still creating this customer")]))
        case .holder(let lock):
            let result = if let committed = lock.committed { existing(committed) } else { await ensureUpstream(id: id, body: body, store: store) }
            await cluster.release(lock)
            return result
        }
    }

    /// How long one Digital River call may take with every retry: how long a replica waits for another's create.
    static func longestUpstreamCallSeconds(_ configuration: DigitalRiverClientConfiguration) -> Double {
        Double(configuration.maxAttempts) * (configuration.connectTimeoutSeconds + configuration.requestTimeoutSeconds + configuration.maxBackoffSeconds)
            + configuration.maxRetryAfterSeconds
    }

    /// Read, else create, else (a concurrent creator won) read back. Never updates an existing customer.
    private func ensureUpstream(id: String, body: JSONObject, store: CustomerStore) async -> Result<(CustomerRecord, Bool), JSONRPCError> {
        guard let upstream else { return .failure(Self.noUpstream) }
        do throws(DigitalRiverError) {
            if let existing = try await upstream.retrieveCustomer(id: id) {
                return await storeSnapshot(existing, in: store).map { ($0, false) }
            }
            do throws(DigitalRiverError) {
                let created = try await upstream.createCustomer(body)
                logger.info("customer created upstream", metadata: ["customer_id": "\(id)"])
                return await storeSnapshot(created, in: store).map { ($0, true) }
            } catch where error.kind == .rejected && (error.status == 409 || error.errors.contains { $0.code.contains("exist") || $0.code.contains("duplicate") }) {
                // Someone else (another instance, or our own retried create) created it first: read it back.
                guard let existing = try await upstream.retrieveCustomer(id: id) else { return .failure(Self.map(error)) }
                let ours = error.isProbableReplayConflict && Self.carries(body, existing)
                if ours { logger.notice("create answer was lost; the retry found this call's customer", metadata: ["customer_id": "\(id)"]) }
                return await storeSnapshot(existing, in: store).map { ($0, ours) }
            }
        } catch {
            return .failure(Self.map(error))
        }
    }

    /// Whether the customer found after a conflicting retry is the one this call sent: a conflict after more than
    /// one attempt most likely met our own earlier attempt, applied by Digital River with its answer lost (500,
    /// reset). The sent `email` and `metadata` must be there, and at least one of them was sent: without either,
    /// our create cannot be told from another caller's, and the answer stays `created: false`. `createdTime` is not
    /// compared: Digital River's clock is not ours.
    static func carries(_ body: JSONObject, _ customer: Customer) -> Bool {
        let identifying = ["email", "metadata"].filter { body[$0] != nil }
        return !identifying.isEmpty && identifying.allSatisfy { key in
            guard let sent = body[key], let stored = customer.object[key] else { return false }
            return sameJSON(sent, stored)
        }
    }

    /// JSON equality with object members compared regardless of order (Digital River may reorder `metadata`).
    private static func sameJSON(_ left: JSONValue, _ right: JSONValue) -> Bool {
        guard case .object(let leftObject) = left, case .object(let rightObject) = right else { return left == right }
        return leftObject.count == rightObject.count && leftObject.allSatisfy { member in
            rightObject[member.0].map { sameJSON(member.1, $0) } ?? false
        }
    }

    private static func ensureResult(_ record: CustomerRecord, created: Bool) -> JSONRPCResult {
        var writer = JSONStreamWriter(reservingCapacity: record.body.count + 32)
        writer.beginObject()
        writer.key("customer")
        writer.encoded(record.body)
        writer.key("created")
        writer.bool(created)
        writer.endObject()
        return JSONRPCResult(encoded: writer.document)
    }

    // MARK: customer.forget

    private func forget(_ call: JSONRPCCall) async throws(JSONRPCError) -> JSONRPCResult {
        try call.rejectUnknownParameters(allowed: ["id"])
        let id = try customerID(call)
        guard let store = store.current else { throw RPCErrorCode.storeUnavailable.error([("reason", "store is opening")]) }
        var alreadyDone = false
        if await cachedOrStored(id, in: store)?.state == .forgotten { alreadyDone = await !forgetDelivery.isQueued(id, in: store) }
        let outcome: ApplyOutcome
        do {
            // Purge locally first and durably queue the upstream request in the same transaction: whatever
            // happens to Digital River, the PII is gone from here and the request will be delivered.
            outcome = try await store.apply(.forget(id: id, queueUpstream: !alreadyDone))
        } catch {
            logger.error("customer.forget failed", metadata: ["caller": "\(call.context.caller ?? "-")", "customer_id": "\(id)", "outcome": "store_error"])
            throw RPCErrorCode.storeUnavailable.error([("reason", .string(error.code.rawValue))])
        }
        negativeCache.remove(id)
        var upstreamState = alreadyDone ? "delivered" : "queued"
        if !alreadyDone, let upstream {
            // Also the way to retry a parked forget at once: calling customer.forget again tries it inline.
            switch await forgetDelivery.deliverNow(id: id, upstream: upstream, store: store) {
            case .delivered?: upstreamState = "delivered"
            case .refused?: upstreamState = "parked"
            case .outage?, .storeFailed?, nil: upstreamState = "queued"
            }
        } else if upstream == nil {
            upstreamState = alreadyDone ? "delivered" : "queued_no_upstream"
        }
        // Read after the commit returned: the writer has already tried to truncate the WAL for this batch.
        let purgeComplete = !store.isPurgePending(id)
        counters.forgets.increment()
        logger.notice("customer.forget", metadata: ["caller": "\(call.context.caller ?? "anonymous")", "customer_id": "\(id)",
                                                    "outcome": "\(outcome.rawValue)", "upstream": "\(upstreamState)",
                                                    "purge": "\(purgeComplete ? "complete" : "pending")"])
        // `forgotten` is true only once the bytes are in no file; until then the customer is already unreadable
        // (customer_gone) and the writer retries the purge.
        return JSONRPCResult(.object(JSONObject([("id", .string(id)), ("forgotten", .bool(purgeComplete)),
                                                 ("purge", .string(purgeComplete ? "complete" : "pending")),
                                                 ("upstream", .string(upstreamState))])))
    }

    // MARK: cache.load and cache.checkpoint (internal: the warm-up job)

    /// `cache.load {customers: [Customer], checkpoint?: {name, value}}`: applies full customer objects under the
    /// same newest-wins, tombstone and forget rules as webhooks, and saves the checkpoint in the same transaction,
    /// so a resumed warm-up never skips a page nor re-applies one out of order.
    private func load(_ call: JSONRPCCall) async throws(JSONRPCError) -> JSONRPCResult {
        try call.rejectUnknownParameters(allowed: ["customers", "checkpoint"])
        guard case .array(let elements)? = call.params["customers"] else {
            throw .invalidParams(parameter: "customers", reason: "is required and must be an array of customer objects")
        }
        guard elements.count <= 1000 else { throw .invalidParams(parameter: "customers", reason: "holds more than 1000 customers") }
        var operations: [StoreOperation] = []
        var invalid: [JSONValue] = []
        let now = clock()
        for (index, element) in elements.enumerated() {
            guard case .object(let object) = element else {
                invalid.append(.object(JSONObject([("index", .number(JSONNumber(index))), ("field", ""), ("reason", "must be an object")])))
                continue
            }
            do {
                operations.append(.snapshot(try Customer(json: object), observedAt: now))
            } catch {
                invalid.append(.object(JSONObject([("index", .number(JSONNumber(index))), ("field", .string(error.field)), ("reason", .string(error.reason))])))
            }
        }
        if let checkpoint = call.params["checkpoint"] {
            guard case .object(let object) = checkpoint, case .string(let name)? = object["name"], !name.isEmpty else {
                throw .invalidParams(parameter: "checkpoint", reason: "must be {name: string, value: string|null}")
            }
            switch object["value"] {
            case .string(let value)?: operations.append(.setCheckpoint(name: name, value: value))
            case .null?, nil: operations.append(.setCheckpoint(name: name, value: nil))
            default: throw .invalidParams(parameter: "checkpoint.value", reason: "must be a string or null")
            }
        }
        guard let store = store.current else { throw RPCErrorCode.storeUnavailable.error([("reason", "store is opening")]) }
        let outcomes: [ApplyOutcome]
        do {
            outcomes = try await store.apply(operations)
        } catch {
            throw RPCErrorCode.storeUnavailable.error([("reason", .string(error.code.rawValue))])
        }
        var counts: [ApplyOutcome: Int] = [:]
        for (operation, outcome) in zip(operations, outcomes) {
            if case .snapshot = operation { counts[outcome, default: 0] += 1 }
        }
        counters.loadedCustomers.increment(by: counts[.applied] ?? 0)
        var result = JSONObject()
        result["applied"] = .number(JSONNumber(counts[.applied] ?? 0))
        result["unchanged"] = .number(JSONNumber(counts[.unchanged] ?? 0))
        result["older"] = .number(JSONNumber((counts[.staleEvent] ?? 0) + (counts[.markedStale] ?? 0)))
        result["forgotten"] = .number(JSONNumber((counts[.forgotten] ?? 0) + (counts[.ignoredTombstone] ?? 0)))
        result["invalid"] = .array(invalid)
        return JSONRPCResult(.object(result))
    }

    /// `cache.checkpoint {name}` reads a saved cursor (null when none).
    private func checkpoint(_ call: JSONRPCCall) throws(JSONRPCError) -> JSONRPCResult {
        let name = try checkpointName(call)
        guard let store = store.current else { throw RPCErrorCode.storeUnavailable.error([("reason", "store is opening")]) }
        return Self.checkpointResult(name, store.checkpoint(name))
    }

    private func checkpointName(_ call: JSONRPCCall) throws(JSONRPCError) -> String {
        try call.rejectUnknownParameters(allowed: ["name"])
        return try call.requiredString("name")
    }

    private static func checkpointResult(_ name: String, _ value: String?) -> JSONRPCResult {
        JSONRPCResult(.object(JSONObject([("name", .string(name)), ("value", value.map(JSONValue.string) ?? .null)])))
    }

    /// `cache.checkpoint` with PostgreSQL: the committed value, whichever replica the warm job wrote it through.
    private func sharedCheckpoint(_ call: JSONRPCCall, cluster: ClusterCoordinator) async throws(JSONRPCError) -> JSONRPCResult {
        let name = try checkpointName(call)
        do {
            return Self.checkpointResult(name, try await cluster.checkpoint(name))
        } catch {
            throw RPCErrorCode.storeUnavailable.error([("reason", .string(error.code.rawValue))])
        }
    }

    // MARK: helpers

    private func customerID(_ call: JSONRPCCall) throws(JSONRPCError) -> String {
        let id = try call.requiredString("id")
        guard !id.isEmpty, id.utf8.count <= Customer.maxStoredIdLength else {
            throw .invalidParams(parameter: "id", reason: "must be 1 to \(Customer.maxStoredIdLength) bytes")
        }
        return id
    }

    /// No API key and no sandbox: the request needs Digital River, which this deployment does not talk to.
    private static let noUpstream = RPCErrorCode.upstreamUnavailable.error([("reason", "no upstream configured")])

    private func notFound(_ id: String) -> JSONRPCError {
        RPCErrorCode.customerNotFound.error([("id", .string(id)), ("upstream", upstream == nil ? "disabled" : "checked")])
    }

    private func gone(_ record: CustomerRecord) -> JSONRPCError {
        RPCErrorCode.customerGone.error([("id", .string(record.id)), ("state", record.state == .deleted ? "deleted" : "forgotten")])
    }

    /// Digital River's failure as the caller's error code, carrying DR's own code and parameter when it gave them.
    static func map(_ error: DigitalRiverError) -> JSONRPCError {
        switch error.kind {
        case .notFound:
            return RPCErrorCode.customerNotFound.error([("upstream", "checked")])
        case .rejected, .unauthorized:
            var details: [(String, JSONValue)] = [("status", error.status.map { .number(JSONNumber($0)) } ?? .null)]
            if let type = error.type { details.append(("type", .string(type))) }
            if let first = error.errors.first {
                details.append(("code", .string(first.code)))
                if let parameter = first.parameter { details.append(("parameter", .string(parameter))) }
            }
            return RPCErrorCode.upstreamRejected.error(details)
        case .rateLimited:
            return RPCErrorCode.rateLimited.error(error.retryAfterSeconds.map { [("retryAfterSeconds", .number(JSONNumber($0)))] } ?? [])
        case .unavailable, .invalidResponse:
            return RPCErrorCode.upstreamUnavailable.error([("reason", .string(error.kind.rawValue))])
        }
    }
}

/// Per-method outcome counters for /metrics: each call of customer.get, customer.ensure and customer.forget ends
/// in exactly one outcome (errors by code: not_found, gone, error), so sum() by method counts calls.
final class RPCCounters: Sendable {
    let getHit, getStoreRead, getReadThrough, servedStale, ensureCreated, ensureExisting, forgets, loadedCustomers: Counter
    private let failures: [String: (notFound: Counter, gone: Counter, other: Counter)]

    init(_ metrics: MetricsRegistry) {
        let outcome = { (method: String, outcome: String) in metrics.counter(.rpcOutcomes, labels: [("method", method), ("outcome", outcome)]) }
        getHit = outcome("customer.get", "cache_hit")
        getStoreRead = outcome("customer.get", "store_read")
        getReadThrough = outcome("customer.get", "read_through")
        // A separate family: a call served this way is also a read_through outcome, and must not count twice.
        servedStale = metrics.counter(.servedCachedUpstreamDown)
        ensureCreated = outcome("customer.ensure", "created")
        ensureExisting = outcome("customer.ensure", "existing")
        forgets = outcome("customer.forget", "forgotten")
        // Customers, not calls: its own family, so it never inflates a sum over calls.
        loadedCustomers = metrics.counter(.loadAppliedCustomers)
        var failures: [String: (notFound: Counter, gone: Counter, other: Counter)] = [:]
        for method in ["customer.get", "customer.ensure", "customer.forget"] {
            failures[method] = (outcome(method, "not_found"), outcome(method, "gone"), outcome(method, "error"))
        }
        self.failures = failures
    }

    /// Counts a call of `method` that answered `error`.
    func failed(_ method: String, _ error: JSONRPCError) {
        guard let counters = failures[method] else { return }
        switch error.code {
        case RPCErrorCode.customerNotFound.rawValue: counters.notFound.increment()
        case RPCErrorCode.customerGone.rawValue: counters.gone.increment()
        default: counters.other.increment()
        }
    }
}
