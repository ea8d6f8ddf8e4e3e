/// A JSON document tree that keeps number literals and object key order, so values round-trip and unknown fields survive.
///
/// `description` is the compact encoding, which makes test failures and logs readable.
public enum JSONValue: Sendable, Hashable, CustomStringConvertible {
    case null
    case bool(Bool)
    case number(JSONNumber)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)

    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    public var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    public var numberValue: JSONNumber? {
        if case .number(let value) = self { return value }
        return nil
    }

    public var arrayValue: [JSONValue]? {
        if case .array(let value) = self { return value }
        return nil
    }

    public var objectValue: JSONObject? {
        if case .object(let value) = self { return value }
        return nil
    }

    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// See `JSONNumber.int64`: plain integer literals only.
    public var int64Value: Int64? { numberValue?.int64 }

    public var intValue: Int? { numberValue?.int }

    /// See `JSONNumber.double`: nil for literals beyond Double's finite range.
    public var doubleValue: Double? { numberValue?.double }

    /// Object member lookup; nil when this is not an object or the key is absent.
    public subscript(key: String) -> JSONValue? {
        guard case .object(let object) = self else { return nil }
        return object[key]
    }

    /// Array element lookup; nil when this is not an array or the index is out of range.
    public subscript(index: Int) -> JSONValue? {
        guard case .array(let elements) = self, elements.indices.contains(index) else { return nil }
        return elements[index]
    }

    public var description: String {
        String(decoding: encoded(), as: UTF8.self)
    }

    // MARK: Parsing

    public static func parse(_ bytes: UnsafeRawBufferPointer,
                             limits: JSONLimits = .init()) throws(JSONParseError) -> JSONValue {
        try JSONParser.parse(bytes, limits: limits)
    }

    public static func parse(_ bytes: [UInt8], limits: JSONLimits = .init()) throws(JSONParseError) -> JSONValue {
        // withUnsafeBytes only rethrows untyped errors, so the typed error travels out in a Result.
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(JSONParseError) in try JSONParser.parse(raw, limits: limits) }
        }
        return try result.get()
    }

    public static func parse(_ text: String, limits: JSONLimits = .init()) throws(JSONParseError) -> JSONValue {
        var text = text
        let result = text.withUTF8 { utf8 in
            Result { () throws(JSONParseError) in try JSONParser.parse(UnsafeRawBufferPointer(utf8), limits: limits) }
        }
        return try result.get()
    }

    /// Writes `s` as a quoted JSON string; the HTTP and RPC layers use it to splice pre-encoded bytes.
    public static func appendEscaped(_ s: String, to buffer: inout [UInt8]) {
        JSONWriter.appendEscaped(s, to: &buffer)
    }
}

extension JSONValue: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
                     ExpressibleByFloatLiteral, ExpressibleByStringLiteral, ExpressibleByArrayLiteral,
                     ExpressibleByDictionaryLiteral {
    public init(nilLiteral: ()) {
        self = .null
    }

    public init(booleanLiteral value: Bool) {
        self = .bool(value)
    }

    public init(integerLiteral value: Int) {
        self = .number(JSONNumber(value))
    }

    public init(floatLiteral value: Double) {
        self = .number(JSONNumber(value))
    }

    public init(stringLiteral value: String) {
        self = .string(value)
    }

    public init(arrayLiteral elements: JSONValue...) {
        self = .array(elements)
    }

    /// Keeps the written order; a repeated key keeps its first position with the last value.
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(JSONObject(elements))
    }
}
