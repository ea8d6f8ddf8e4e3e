import JSON
import JSONRPC

/// The service's JSON-RPC application errors. Codes are API: callers branch on them, `openapi/openrpc.json` lists
/// them, and a test fails if the two disagree. Never renumber; add new ones at the end of the range.
public enum RPCErrorCode: Int, CaseIterable, Sendable {
    /// Neither the cache nor Digital River knows the customer.
    case customerNotFound = -31001
    /// The customer was deleted or asked to be forgotten; `data.state` says which. No PII is served for it again.
    case customerGone = -31002
    /// Digital River could not be reached (or no upstream is configured); `data.reason` says why.
    case upstreamUnavailable = -31003
    /// Digital River refused the request; `data` carries its status, `type`, `code` and `parameter`.
    case upstreamRejected = -31004
    /// The caller's token does not allow this method.
    case unauthorized = -31005
    /// Digital River kept answering 429; `data.retryAfterSeconds` when it said.
    case rateLimited = -31006
    /// The local store could not commit, is unreachable or is still opening; retry after `data.retryAfterSeconds`.
    case storeUnavailable = -31007

    /// Stable machine-readable name, also in `data.error`.
    public var name: String {
        switch self {
        case .customerNotFound: "customer_not_found"
        case .customerGone: "customer_gone"
        case .upstreamUnavailable: "upstream_unavailable"
        case .upstreamRejected: "upstream_rejected"
        case .unauthorized: "unauthorized"
        case .rateLimited: "rate_limited"
        case .storeUnavailable: "store_unavailable"
        }
    }

    var message: String {
        switch self {
        case .customerNotFound: "Customer not found"
        case .customerGone: "Customer deleted or forgotten"
        case .upstreamUnavailable: "Digital River unavailable"
        case .upstreamRejected: "Digital River rejected the request"
        case .unauthorized: "Caller not allowed to call this method"
        case .rateLimited: "Rate limited by Digital River"
        case .storeUnavailable: "Store unavailable"
        }
    }

    /// Seconds a caller should wait before retrying a `store_unavailable` write: the store reconnects and probes
    /// in about this time (webhooks get the same as `Retry-After`).
    static let storeRetryAfterSeconds = 5

    /// The error object, with `data.error` = `name` plus any details (and, for `store_unavailable`, `retryAfterSeconds`).
    func error(_ details: [(String, JSONValue)] = []) -> JSONRPCError {
        var data = JSONObject([("error", .string(name))])
        if self == .storeUnavailable { data["retryAfterSeconds"] = .number(JSONNumber(Self.storeRetryAfterSeconds)) }
        for (key, value) in details { data[key] = value }
        return JSONRPCError(code: rawValue, message: message, data: .object(data))
    }
}
