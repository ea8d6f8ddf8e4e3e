import JSON

/// A JSON-RPC request id, echoed byte-for-byte (numbers keep their literal text).
///
/// The spec lets clients use strings, numbers (even fractional ones) or null; callers match responses to
/// requests by comparing ids, so a number is kept as the literal the client wrote (`1.50` stays `1.50`,
/// `-0` stays `-0`) rather than being normalised through a Double.
public enum JSONRPCID: Sendable, Hashable, CustomStringConvertible {
    case string(String)
    case number(JSONNumber)
    case null

    /// The id a request member carries; nil for any other JSON type (bool, array, object), which the
    /// spec does not allow and the server answers with -32600 and id null.
    public init?(_ value: JSONValue) {
        switch value {
        case .string(let string): self = .string(string)
        case .number(let number): self = .number(number)
        case .null: self = .null
        case .bool, .array, .object: return nil
        }
    }

    /// The id as a JSON value, for handlers that want to log or store it.
    public var jsonValue: JSONValue {
        switch self {
        case .string(let string): .string(string)
        case .number(let number): .number(number)
        case .null: .null
        }
    }

    /// The encoded form, so log lines show exactly what the client sent (`"abc"`, `1.50`, `null`).
    public var description: String {
        var bytes: [UInt8] = []
        encode(into: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends the id as JSON; the response writer calls this directly to avoid building a JSONValue.
    func encode(into buffer: inout [UInt8]) {
        switch self {
        case .string(let string): JSONValue.appendEscaped(string, to: &buffer)
        case .number(let number): buffer.append(contentsOf: number.literal.utf8)
        case .null: buffer.append(contentsOf: "null".utf8)
        }
    }

    /// Exact byte length of `encode(into:)`, so responses are allocated once at their final size.
    var encodedCount: Int {
        switch self {
        case .string(let string): JSONWriter.escapedCount(string)
        case .number(let number): number.literal.utf8.count
        case .null: 4
        }
    }
}
