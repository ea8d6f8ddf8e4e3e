import JSON

/// Per-HTTP-request context the transport fills in once (it resolves the caller), so the server can authorise every
/// call and handlers can log without knowing HTTP. Every member of a batch sees the same context.
public struct JSONRPCContext: Sendable, Hashable {
    /// The authenticated caller's name; nil when the transport did not authenticate.
    public var caller: String?
    /// The methods registered `.grantedCallers` this caller may call; nil: all of them (no authentication, or a
    /// caller without a method list). The server refuses any other such method before its handler runs.
    public var grantedMethods: Set<String>?

    public init(caller: String? = nil, grantedMethods: Set<String>? = nil) {
        self.caller = caller
        self.grantedMethods = grantedMethods
    }

    /// Whether this caller may call `name`, registered with `access`.
    @inline(__always)
    func permits(_ name: String, access: JSONRPCAccess) -> Bool {
        guard let grantedMethods, access == .grantedCallers else { return true }
        return grantedMethods.contains(name)
    }
}

/// What a method handler sees: a validated request with named parameters.
public struct JSONRPCCall: Sendable {
    public let method: String
    /// Named parameters are the contract: an absent `params` arrives as an empty object, and positional
    /// (array) params are refused with -32602 before the handler runs.
    public let params: JSONObject
    /// The request's id; nil for a notification.
    public let id: JSONRPCID?
    /// The client expects no response; the handler still runs, but its result and errors are discarded.
    public var isNotification: Bool { id == nil }
    public let context: JSONRPCContext

    public init(method: String, params: JSONObject = JSONObject(), id: JSONRPCID?, context: JSONRPCContext = .init()) {
        self.method = method
        self.params = params
        self.id = id
        self.context = context
    }
}

// Parameter readers: each failure is a -32602 naming the parameter, so handlers stay one line per parameter
// and every method reports bad input the same way.
extension JSONRPCCall {
    /// A required string parameter.
    public func requiredString(_ name: String) throws(JSONRPCError) -> String {
        guard let value = params[name] else {
            throw .invalidParams(parameter: name, reason: "is required")
        }
        guard case .string(let string) = value else {
            throw .invalidParams(parameter: name, reason: "must be a string")
        }
        return string
    }

    /// An optional string parameter; absent or null reads as nil.
    public func optionalString(_ name: String) throws(JSONRPCError) -> String? {
        switch params[name] {
        case nil, .null?: return nil
        case .string(let string)?: return string
        default: throw .invalidParams(parameter: name, reason: "must be a string")
        }
    }

    /// An optional boolean parameter; absent or null reads as nil.
    public func optionalBool(_ name: String) throws(JSONRPCError) -> Bool? {
        switch params[name] {
        case nil, .null?: return nil
        case .bool(let bool)?: return bool
        default: throw .invalidParams(parameter: name, reason: "must be a boolean")
        }
    }

    /// An optional integer parameter written as a plain integer literal (`5`, not `5.0`); absent or null is nil.
    public func optionalInt(_ name: String) throws(JSONRPCError) -> Int? {
        switch params[name] {
        case nil, .null?: return nil
        case .number(let number)?:
            guard let int = number.int else {
                throw .invalidParams(parameter: name, reason: "must be an integer")
            }
            return int
        default: throw .invalidParams(parameter: name, reason: "must be an integer")
        }
    }

    /// Refuses parameters outside `allowed`, so a misspelt optional parameter is an error instead of
    /// being silently ignored.
    public func rejectUnknownParameters(allowed: Set<String>) throws(JSONRPCError) {
        for (key, _) in params where !allowed.contains(key) {
            throw .invalidParams(parameter: key, reason: "is not a known parameter")
        }
    }

    /// The same check against a short list, without building a set per call (the cache-hit path runs this).
    public func rejectUnknownParameters(allowed: [StaticString]) throws(JSONRPCError) {
        for (key, _) in params {
            let known = allowed.contains { name in
                name.withUTF8Buffer { expected in key.utf8.elementsEqual(expected) }
            }
            if !known { throw .invalidParams(parameter: key, reason: "is not a known parameter") }
        }
    }
}

/// A method's result as already-encoded JSON bytes, so cached customer JSON is spliced into the response
/// without being parsed or re-encoded.
public struct JSONRPCResult: Sendable, Hashable {
    /// One complete JSON value.
    public let json: [UInt8]

    /// Trusted: `encoded` must be exactly one valid JSON value. It is copied into the response verbatim
    /// (that is the point), so invalid bytes here produce an invalid response.
    public init(encoded: [UInt8]) {
        assert(!encoded.isEmpty, "a JSON-RPC result must be a JSON value")
        self.json = encoded
    }

    public init(_ value: JSONValue) {
        self.json = value.encoded()
    }

    /// `null`, for methods that succeed with nothing to return.
    public static let null = JSONRPCResult(encoded: Array("null".utf8))
}
