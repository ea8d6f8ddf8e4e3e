import JSON

/// An error object as it goes on the wire; `code` is API that callers branch on, `message` is for humans.
///
/// Handlers throw these for application failures (e.g. `-32001` with data), and the server builds the
/// standard ones for protocol failures. Whatever a handler throws is returned exactly as thrown.
public struct JSONRPCError: Error, Sendable, Hashable, CustomStringConvertible {
    public let code: Int
    /// A short single sentence (the spec's wording); never contains text from a caught Swift error.
    public let message: String
    /// Structured detail; omitted from the response when nil.
    public let data: JSONValue?

    public init(code: Int, message: String, data: JSONValue? = nil) {
        self.code = code
        self.message = message
        self.data = data
    }

    /// The body was not JSON (`data` names the parser's reason and byte offset).
    public static let parseError = JSONRPCError(code: parseErrorCode, message: "Parse error")
    /// The JSON was not a valid Request object, or broke a limit.
    public static let invalidRequest = JSONRPCError(code: invalidRequestCode, message: "Invalid Request")
    /// No method of that name is registered.
    public static let methodNotFound = JSONRPCError(code: methodNotFoundCode, message: "Method not found")
    /// Parameters did not fit the method; prefer `invalidParams(parameter:reason:)`, which names the culprit.
    public static let invalidParams = JSONRPCError(code: invalidParamsCode, message: "Invalid params")
    /// Something failed inside the server; prefer `internalError(reason:)` with a stable reason code.
    public static let internalError = JSONRPCError(code: internalErrorCode, message: "Internal error")

    public static let parseErrorCode = -32700
    public static let invalidRequestCode = -32600
    public static let methodNotFoundCode = -32601
    public static let invalidParamsCode = -32602
    public static let internalErrorCode = -32603

    /// -32602 with `data` `{"parameter": …, "reason": …}`, so callers can see which parameter to fix.
    public static func invalidParams(parameter: String, reason: String) -> JSONRPCError {
        JSONRPCError(code: invalidParamsCode, message: "Invalid params",
                     data: .object(["parameter": .string(parameter), "reason": .string(reason)]))
    }

    /// -32603 with `data` `{"reason": …}`; `reason` must be a stable code, never an error's text,
    /// because internal error text can leak paths, SQL or secrets.
    public static func internalError(reason: String) -> JSONRPCError {
        JSONRPCError(code: internalErrorCode, message: "Internal error", data: .object(["reason": .string(reason)]))
    }

    /// -32600 for a malformed request member, naming the member so the client can fix it.
    static func invalidRequest(member: String, reason: String) -> JSONRPCError {
        JSONRPCError(code: invalidRequestCode, message: "Invalid Request",
                     data: .object(["member": .string(member), "reason": .string(reason)]))
    }

    /// -32600 for a request that breaks one of `JSONRPCLimits`; the message says which limit.
    static func limitExceeded(_ message: String, limit: Int) -> JSONRPCError {
        JSONRPCError(code: invalidRequestCode, message: message, data: .object(["limit": .number(JSONNumber(limit))]))
    }

    /// The error as JSON (`{"code":…,"message":…,"data":…}`), e.g. for logs.
    public var description: String {
        var bytes: [UInt8] = []
        encodeObject(into: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends `{"code":…,"message":…[,"data":…]}`.
    func encodeObject(into buffer: inout [UInt8]) {
        buffer.append(contentsOf: #"{"code":"#.utf8)
        buffer.append(contentsOf: String(code).utf8)
        buffer.append(contentsOf: #","message":"#.utf8)
        JSONValue.appendEscaped(message, to: &buffer)
        if let data {
            buffer.append(contentsOf: #","data":"#.utf8)
            data.encode(into: &buffer)
        }
        buffer.append(UInt8(ascii: "}"))
    }

    /// Exact byte length of `encodeObject(into:)`.
    var encodedObjectCount: Int {
        var size = 8 + String(code).utf8.count + 11 + JSONWriter.escapedCount(message) + 1
        if let data { size += 8 + data.encodedCount }
        return size
    }
}
