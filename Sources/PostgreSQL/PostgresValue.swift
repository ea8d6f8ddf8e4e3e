/// A statement parameter. Integers and text travel in text format; bytes in binary format, so no escaping is needed.
public enum PostgresValue: Sendable, Hashable {
    case null
    case text(String)
    case integer(Int64)
    case boolean(Bool)
    case bytes([UInt8])
}

extension PostgresValue {
    /// A one-dimensional text-format array literal (`{"a","b"}`) for `= ANY($1::text[])` and `unnest`, so a batch
    /// is one statement instead of one round trip per element.
    public static func textArray(_ elements: [String]) -> PostgresValue {
        var literal = "{"
        literal.reserveCapacity(elements.count * 16)
        for (index, element) in elements.enumerated() {
            if index > 0 { literal += "," }
            literal += "\""
            for character in element.unicodeScalars {
                if character == "\"" || character == "\\" { literal += "\\" }
                literal.unicodeScalars.append(character)
            }
            literal += "\""
        }
        literal += "}"
        return .text(literal)
    }

    /// An integer array literal (`{1,2,3}`).
    public static func integerArray(_ elements: [Int64]) -> PostgresValue {
        .text("{" + elements.map(String.init).joined(separator: ",") + "}")
    }

    /// A boolean array literal (`{t,f}`).
    public static func booleanArray(_ elements: [Bool]) -> PostgresValue {
        .text("{" + elements.map { $0 ? "t" : "f" }.joined(separator: ",") + "}")
    }

    /// A bytea array literal in hex form (`{"\\x6869"}`).
    public static func bytesArray(_ elements: [[UInt8]]) -> PostgresValue {
        let digits = Array("0123456789abcdef".utf8)
        var literal: [UInt8] = [UInt8(ascii: "{")]
        for (index, element) in elements.enumerated() {
            if index > 0 { literal.append(UInt8(ascii: ",")) }
            literal.append(contentsOf: Array(#""\\x"#.utf8))
            for byte in element {
                literal.append(digits[Int(byte >> 4)])
                literal.append(digits[Int(byte & 0x0F)])
            }
            literal.append(UInt8(ascii: "\""))
        }
        literal.append(UInt8(ascii: "}"))
        return .text(String(decoding: literal, as: UTF8.self))
    }
}
