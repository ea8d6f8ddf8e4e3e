import JSON

/// What went wrong talking to Digital River. `kind` is stable (the app maps it to JSON-RPC error codes); the rest
/// explains.
///
/// `description` is safe to log: it holds our message, the status, DR's error `type`, and each detail's `code` and
/// `parameter`, but never DR's free-text `message`s (they may echo submitted values, and DR says they change without
/// notice), never the API key, never a body.
public struct DigitalRiverError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The outcome class callers branch on.
    public enum Kind: String, Sendable, Hashable {
        /// 404 on anything but `retrieveCustomer`, which returns nil instead.
        case notFound
        /// DR said no: a 4xx other than 401/403/404/429 (400 bad request, 409 conflict, …), or our own refusal of an
        /// argument DR would refuse (an empty id, a malformed timestamp).
        case rejected
        /// 401 or 403: the key is wrong, revoked, or lacks the permission.
        case unauthorized
        /// 429 still after every attempt, or a `Retry-After` longer than the client will wait.
        case rateLimited
        /// 5xx, timeouts, connection failures (after retries), or the call was cancelled.
        case unavailable
        /// A success status with a body that is not what DR documents (unparseable, not a customer, not a page), or
        /// a status DR never sends (1xx, 3xx).
        case invalidResponse
    }

    public let kind: Kind
    /// The last HTTP status received; nil when no response came back or the client refused before sending.
    public let status: Int?
    /// DR's error `type` (`bad_request`, `conflict`, …), when the body had one.
    public let type: String?
    /// DR's error details, in order; empty when the body had none or could not be read.
    public let errors: [DigitalRiverErrorDetail]
    /// The last `Retry-After`, in whole seconds (rounded up), when DR sent one.
    public let retryAfterSeconds: Int?
    /// Ours: what happened, with no PII, no key, no body.
    public let message: String
    /// Requests sent for this call (0 when refused before sending). A create that ends in a conflict after more than
    /// one attempt most likely collided with its own earlier attempt, which DR processed but whose answer was lost.
    public let attempts: Int

    public init(kind: Kind, status: Int? = nil, type: String? = nil, errors: [DigitalRiverErrorDetail] = [],
                retryAfterSeconds: Int? = nil, message: String, attempts: Int = 0) {
        self.kind = kind
        self.status = status
        self.type = type
        self.errors = errors
        self.retryAfterSeconds = retryAfterSeconds
        self.message = message
        self.attempts = attempts
    }

    /// True for a create whose conflict most likely came from replaying a create DR had already applied.
    public var isProbableReplayConflict: Bool { kind == .rejected && status == 409 && attempts > 1 }

    public var description: String {
        var text = "DigitalRiverError.\(kind.rawValue)"
        var facts: [String] = []
        if let status { facts.append("status \(status)") }
        if let type { facts.append("type \(type)") }
        if !errors.isEmpty {
            facts.append("errors [" + errors.map { detail in
                detail.parameter.map { "\(detail.code)(\($0))" } ?? detail.code
            }.joined(separator: ", ") + "]")
        }
        if let retryAfterSeconds { facts.append("retry after \(retryAfterSeconds) s") }
        if attempts > 0 { facts.append("\(attempts) attempt" + (attempts == 1 ? "" : "s")) }
        if !facts.isEmpty { text += " (" + facts.joined(separator: ", ") + ")" }
        return text + ": " + message
    }
}

/// One element of DR's `errors` array (reference §2): branch on `code`; `message` is for humans and may change.
public struct DigitalRiverErrorDetail: Sendable, Hashable {
    /// E.g. `invalid_parameter`, `missing_parameter`, `not_found`.
    public let code: String
    /// The request field the error is about, when DR names one.
    public let parameter: String?
    /// DR's text, with the API key removed should DR ever echo it; kept out of `DigitalRiverError.description`.
    public let message: String

    public init(code: String, parameter: String?, message: String) {
        self.code = code
        self.parameter = parameter
        self.message = message
    }
}

/// DR's error body `{ "type": …, "errors": [ { "code", "parameter"?, "message" } ] }`, read tolerantly: a missing,
/// truncated or foreign body (a proxy's HTML page) yields an empty result rather than hiding the status.
struct DigitalRiverErrorBody: Sendable, Hashable {
    var type: String?
    var errors: [DigitalRiverErrorDetail]

    init(type: String? = nil, errors: [DigitalRiverErrorDetail] = []) {
        self.type = type
        self.errors = errors
    }

    /// Error bodies are small; anything larger than this is not DR's error object and is ignored.
    static let maxBytes = 64 << 10

    init(parsing body: [UInt8], redactingWith key: DigitalRiverAPIKey) {
        self.init()
        guard !body.isEmpty, body.count <= Self.maxBytes,
              case .object(let object)? = try? JSONValue.parse(body, limits: JSONLimits(maxDepth: 16, maxBytes: Self.maxBytes))
        else { return }
        type = object["type"]?.stringValue.map(key.redacting)
        guard case .array(let elements)? = object["errors"] else { return }
        for element in elements.prefix(100) {
            // An element without a string code carries nothing to branch on; skip it rather than invent one.
            guard case .object(let detail) = element, let code = detail["code"]?.stringValue else { continue }
            errors.append(DigitalRiverErrorDetail(code: key.redacting(code),
                                                  parameter: detail["parameter"]?.stringValue.map(key.redacting),
                                                  message: key.redacting(detail["message"]?.stringValue ?? "")))
        }
    }
}
