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
        var literal: [UInt8] = [UInt8(ascii: "{")]
        literal.reserveCapacity(elements.reduce(2) { $0 + $1.utf8.count + 3 })
        for (index, element) in elements.enumerated() {
            if index > 0 { literal.append(UInt8(ascii: ",")) }
            literal.append(UInt8(ascii: "\""))
            for byte in element.utf8 {
                if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { literal.append(UInt8(ascii: "\\")) }
                literal.append(byte)
            }
            literal.append(UInt8(ascii: "\""))
        }
        literal.append(UInt8(ascii: "}"))
        return .text(String(decoding: literal, as: UTF8.self))
    }

    /// An integer array literal (`{1,2,3}`).
    public static func integerArray(_ elements: [Int64]) -> PostgresValue {
        var literal = "{"
        literal.reserveCapacity(elements.count * 8 + 2)
        for (index, element) in elements.enumerated() {
            if index > 0 { literal.append(",") }
            literal.append(String(element))
        }
        literal.append("}")
        return .text(literal)
    }

    /// A boolean array literal (`{t,f}`).
    public static func booleanArray(_ elements: [Bool]) -> PostgresValue {
        .text("{" + elements.map { $0 ? "t" : "f" }.joined(separator: ",") + "}")
    }

    /// A bytea array literal in hex form (`{"\\x6869"}`), written in one pass into one buffer: the batch's
    /// customer bodies are most of what a commit sends.
    public static func bytesArray(_ elements: [[UInt8]]) -> PostgresValue {
        // `{`, then per element `"\\x` + two digits a byte + `"` and a comma, then `}`.
        let length = elements.reduce(2) { $0 + 6 + 2 * $1.count }
        let literal = hexDigits.withUnsafeBufferPointer { digits in
            String(unsafeUninitializedCapacity: length) { buffer in
                guard let start = buffer.baseAddress else { return 0 }
                var target = start
                func put(_ byte: UInt8) {
                    target.pointee = byte
                    target += 1
                }
                put(UInt8(ascii: "{"))
                for (index, element) in elements.enumerated() {
                    if index > 0 { put(UInt8(ascii: ",")) }
                    put(UInt8(ascii: "\"")); put(UInt8(ascii: "\\")); put(UInt8(ascii: "\\")); put(UInt8(ascii: "x"))
                    element.withUnsafeBufferPointer { bytes in
                        for byte in bytes {
                            target[0] = digits[Int(byte >> 4)]
                            target[1] = digits[Int(byte & 0x0F)]
                            target += 2
                        }
                    }
                    put(UInt8(ascii: "\""))
                }
                put(UInt8(ascii: "}"))
                return target - start
            }
        }
        return .text(literal)
    }
}

private let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)
