import DigitalRiverAPI
import Foundation
import JSON

/// Why a JSON-RPC call to the service failed. `kind` decides whether the job tries again; `description` is safe to
/// log (our text, the HTTP status and the JSON-RPC code, never a body, a customer or the token).
public struct ServiceError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The outcome classes the job branches on.
    public enum Kind: String, Sendable, Hashable {
        /// No HTTP answer: refused, reset, timed out. The call may or may not have been applied.
        case unreachable
        /// HTTP 401, or JSON-RPC -31005: the token is missing, wrong, or not allowed this method. Retrying cannot help.
        case unauthorized
        /// HTTP 413: the body exceeds the service's `max-body-bytes`. The job splits the batch.
        case tooLarge
        /// The service is up but cannot take the call now: HTTP 5xx, or -31007 `store_unavailable`.
        case busy
        /// Any other refusal (a 4xx, or a JSON-RPC error such as -32602): a bug or a version mismatch, not transient.
        case rejected
        /// A 200 whose body is not the JSON-RPC answer the job expects.
        case invalidResponse
    }

    public let kind: Kind
    /// HTTP status, when an answer came.
    public let status: Int?
    /// JSON-RPC error code, when the answer was a JSON-RPC error.
    public let code: Int?
    /// Our own words.
    public let message: String

    public init(kind: Kind, status: Int? = nil, code: Int? = nil, message: String) {
        self.kind = kind
        self.status = status
        self.code = code
        self.message = message
    }

    /// Worth another attempt after a pause: the service may be restarting or committing a large batch.
    public var isRetryable: Bool { kind == .unreachable || kind == .busy || kind == .invalidResponse }

    public var description: String {
        var facts: [String] = []
        if let status { facts.append("HTTP \(status)") }
        if let code { facts.append("JSON-RPC \(code)") }
        return "service \(kind.rawValue)" + (facts.isEmpty ? "" : " (" + facts.joined(separator: ", ") + ")") + ": " + message
    }
}

/// What one `cache.load` did, as the service counts it.
public struct LoadCounts: Sendable, Hashable {
    /// Stored or replaced (new or newer than the cached copy).
    public var applied = 0
    /// Same version and content as the cached copy.
    public var unchanged = 0
    /// Older than the cached copy (for instance a webhook delivered a newer version first), so skipped.
    public var older = 0
    /// The cached customer is forgotten or deleted, so the snapshot was not allowed to restore it.
    public var forgotten = 0
    /// Refused by the service's validation.
    public var invalid = 0

    public init() {}

    static func += (lhs: inout LoadCounts, rhs: LoadCounts) {
        lhs.applied += rhs.applied
        lhs.unchanged += rhs.unchanged
        lhs.older += rhs.older
        lhs.forgotten += rhs.forgotten
        lhs.invalid += rhs.invalid
    }
}

/// The answer to one `customer.get` in a batch.
public enum GetOutcome: Sendable, Hashable {
    /// The service holds it (from its cache or a read-through).
    case found
    /// -31001: neither the cache nor Digital River knows it.
    case notFound
    /// -31002: deleted or forgotten.
    case gone
    /// Any other JSON-RPC error; `retryable` for -31003 (upstream unavailable), -31006 (rate limited) and -31007
    /// (store unavailable), which a later attempt may get past.
    case failed(code: Int, retryable: Bool)
    /// -31005: this token may not call `customer.get`; no id will fare better.
    case unauthorized
}

/// The job's JSON-RPC client for the running service: `cache.load`, `cache.checkpoint` and batches of `customer.get`.
///
/// It rides on `DigitalRiverAPI`'s `URLSessionTransport` (Foundation's URLSession over libcurl, with our own deadlines
/// and redirects refused, so the bearer token never follows a `Location`), with keep-alive connections pooled by
/// libcurl. The job sends few, large requests (a `cache.load` of 1,000 customers is about 600 KB), so per-request
/// overhead is small next to the bytes; the benchmark's figures are in the README.
public struct ServiceClient: Sendable {
    /// The `/rpc` endpoint.
    public let url: String
    let token: String?
    let transport: any DigitalRiverTransport
    let timeoutSeconds: Double

    /// Responses are bounded; a batch of 100 customers is well under this.
    static let responseLimits = JSONLimits(maxDepth: 64, maxBytes: 64 << 20)

    /// - Parameters:
    ///   - url: the service's RPC listener, `http://host:port` (then `/rpc` is appended) or the full `…/rpc` URL.
    ///   - token: sent as `Authorization: Bearer`; nil when the service has no caller tokens configured.
    ///   - transport: default a URLSession with `maxConnections` pooled connections.
    ///   - timeoutSeconds: deadline of one call; `cache.load` commits synchronously, so leave room for a slow disk.
    public init(url: String, token: String?, transport: (any DigitalRiverTransport)? = nil, maxConnections: Int = 4,
                timeoutSeconds: Double = 60) throws(ServiceError) {
        self.url = try Self.normalized(url)
        self.token = token
        self.transport = transport ?? URLSessionTransport(maxConnectionsPerHost: maxConnections)
        self.timeoutSeconds = timeoutSeconds
    }

    /// `http(s)://host[:port]` gets `/rpc`; a URL that already has a path is used as given.
    static func normalized(_ text: String) throws(ServiceError) -> String {
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
              scheme == "http" || scheme == "https", let host = components.host, !host.isEmpty,
              components.query == nil, components.fragment == nil, components.user == nil, components.password == nil
        else {
            throw ServiceError(kind: .rejected, message: "the RPC URL must be http(s)://host[:port][/path], without credentials or query")
        }
        var result = text
        while result.hasSuffix("/") { result.removeLast() }
        if components.path.isEmpty || components.path == "/" { result += "/rpc" }
        return result
    }

    // MARK: cache.load

    /// `cache.load {customers, checkpoint?}` with customers given as their encoded JSON objects (spliced, not
    /// re-encoded). `checkpoint` commits in the same transaction as the customers.
    public func load(_ customers: [[UInt8]], checkpoint: (name: String, value: String?)?, id: Int) async throws(ServiceError) -> LoadCounts {
        let body = Self.loadBody(customers, checkpoint: checkpoint, id: id)
        let result = try await callSingle(body, method: "cache.load")
        guard case .object(let object) = result else {
            throw ServiceError(kind: .invalidResponse, message: "cache.load result is not an object")
        }
        func count(_ name: String) throws(ServiceError) -> Int {
            guard let value = object[name]?.intValue, value >= 0 else {
                throw ServiceError(kind: .invalidResponse, message: "cache.load result has no count \(name)")
            }
            return value
        }
        var counts = LoadCounts()
        counts.applied = try count("applied")
        counts.unchanged = try count("unchanged")
        counts.older = try count("older")
        counts.forgotten = try count("forgotten")
        guard case .array(let invalid)? = object["invalid"] else {
            throw ServiceError(kind: .invalidResponse, message: "cache.load result has no invalid list")
        }
        counts.invalid = invalid.count
        return counts
    }

    /// The request body of `load`, built by splicing each customer's bytes.
    static func loadBody(_ customers: [[UInt8]], checkpoint: (name: String, value: String?)?, id: Int) -> [UInt8] {
        var body = JSONStreamWriter(reservingCapacity: customers.reduce(160) { $0 + $1.count + 1 }
                                        + (checkpoint.map { $0.name.utf8.count + ($0.value?.utf8.count ?? 0) * 2 } ?? 0))
        body.beginObject()
        body.member("jsonrpc", "2.0")
        body.member("method", "cache.load")
        body.key("params")
        body.beginObject()
        body.key("customers")
        body.beginArray()
        for customer in customers { body.encoded(customer) }
        body.endArray()
        if let checkpoint {
            body.member("checkpoint", .object(JSONObject([("name", .string(checkpoint.name)), ("value", checkpoint.value.map(JSONValue.string) ?? .null)])))
        }
        body.endObject()
        body.key("id")
        body.int(id)
        body.endObject()
        return body.document
    }

    // MARK: cache.checkpoint

    /// The saved value of checkpoint `name`, nil when none was ever saved (or it was cleared).
    public func checkpoint(name: String) async throws(ServiceError) -> String? {
        let request: JSONValue = ["jsonrpc": "2.0", "method": "cache.checkpoint", "params": ["name": .string(name)], "id": 1]
        let result = try await callSingle(request.encoded(), method: "cache.checkpoint")
        switch result["value"] {
        case .string(let value)?: return value
        case .null?: return nil
        default: throw ServiceError(kind: .invalidResponse, message: "cache.checkpoint result has no value")
        }
    }

    // MARK: customer.get batches

    /// One JSON-RPC batch of `customer.get {id}` calls; the outcomes are in the order of `ids`.
    public func get(_ ids: [String]) async throws(ServiceError) -> [GetOutcome] {
        guard !ids.isEmpty else { return [] }
        var body = JSONStreamWriter(reservingCapacity: ids.count * 80)
        body.beginArray()
        for (index, id) in ids.enumerated() {
            body.value(["jsonrpc": "2.0", "method": "customer.get", "params": ["id": .string(id)], "id": .number(JSONNumber(index))])
        }
        body.endArray()
        let value = try await post(body.document)
        let members: [JSONValue]
        switch value {
        case .array(let array): members = array
        case .object(let object):
            // A whole-batch refusal (a limit, for instance) comes back as one error object.
            throw Self.rpcError(object["error"], method: "customer.get")
        default: throw ServiceError(kind: .invalidResponse, message: "customer.get batch answer is not an array")
        }
        var outcomes = [GetOutcome?](repeating: nil, count: ids.count)
        for member in members {
            guard case .object(let object) = member, let index = object["id"]?.intValue, outcomes.indices.contains(index) else {
                throw ServiceError(kind: .invalidResponse, message: "customer.get batch member without a known id")
            }
            if object["result"] != nil {
                outcomes[index] = .found
                continue
            }
            let code = object["error"]?["code"]?.intValue ?? -32603
            switch code {
            case -31001: outcomes[index] = .notFound
            case -31002: outcomes[index] = .gone
            case -31005: outcomes[index] = .unauthorized
            case -31003, -31006, -31007: outcomes[index] = .failed(code: code, retryable: true)
            default: outcomes[index] = .failed(code: code, retryable: false)
            }
        }
        return try outcomes.map { outcome throws(ServiceError) in
            guard let outcome else { throw ServiceError(kind: .invalidResponse, message: "customer.get batch answer is missing members") }
            return outcome
        }
    }

    // MARK: wire

    private func callSingle(_ body: [UInt8], method: String) async throws(ServiceError) -> JSONValue {
        guard case .object(let object) = try await post(body) else {
            throw ServiceError(kind: .invalidResponse, message: "\(method) answer is not a JSON object")
        }
        if let result = object["result"] { return result }
        throw Self.rpcError(object["error"], method: method)
    }

    static func rpcError(_ error: JSONValue?, method: String) -> ServiceError {
        guard let code = error?["code"]?.intValue else {
            return ServiceError(kind: .invalidResponse, message: "\(method) answer has neither result nor error")
        }
        let name = error?["data"]?["error"]?.stringValue.map { " " + $0 } ?? ""
        switch code {
        case -31005: return ServiceError(kind: .unauthorized, code: code, message: "\(method) refused\(name): this token may not call it")
        case -31007: return ServiceError(kind: .busy, code: code, message: "\(method) failed\(name): the store could not commit")
        default: return ServiceError(kind: .rejected, code: code, message: "\(method) failed\(name)")
        }
    }

    /// POSTs a JSON-RPC body and parses the answer; HTTP-level refusals become `ServiceError`s.
    private func post(_ body: [UInt8]) async throws(ServiceError) -> JSONValue {
        var headers = [("Content-Type", "application/json"), ("Accept", "application/json"), ("User-Agent", "customer-cache-warm/1")]
        if let token { headers.append(("Authorization", "Bearer " + token)) }
        let response: TransportResponse
        do {
            response = try await transport.send(TransportRequest(method: "POST", url: url, headers: headers, body: body,
                                                                 timeoutSeconds: timeoutSeconds))
        } catch {
            throw ServiceError(kind: .unreachable, message: "no answer from \(url): \(error)")
        }
        switch response.status {
        case 200: break
        case 401: throw ServiceError(kind: .unauthorized, status: 401, message: "the service wants a valid bearer token (CUSTOMER_CACHE_RPC_TOKEN)")
        case 413: throw ServiceError(kind: .tooLarge, status: 413, message: "request body of \(body.count) bytes is over the service's max-body-bytes")
        case 500..<600: throw ServiceError(kind: .busy, status: response.status, message: "the service answered \(response.status)")
        default: throw ServiceError(kind: .rejected, status: response.status, message: "the service answered \(response.status)")
        }
        do {
            return try JSONValue.parse(response.body, limits: Self.responseLimits)
        } catch {
            throw ServiceError(kind: .invalidResponse, status: 200, message: "the answer is not JSON")
        }
    }
}
