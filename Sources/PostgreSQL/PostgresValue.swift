import CLibPQ

/// A statement parameter. Integers and text travel in text format; bytes and arrays in binary format, so nothing
/// is escaped, hex-encoded or parsed back on either side.
public enum PostgresValue: Sendable, Hashable {
    case null
    case text(String)
    case integer(Int64)
    case boolean(Bool)
    case bytes([UInt8])
    /// A value in PostgreSQL's binary format for the type `oid` (the arrays below), sent declared as that type.
    case binary(oid: UInt32, [UInt8])

    /// The type the parameter is declared with when prepared; 0 lets the server infer it from the statement.
    var typeOID: Oid {
        if case .binary(let oid, _) = self { return oid }
        return 0
    }
}

extension PostgresValue {
    /// A one-dimensional `text[]` for `= ANY($1::text[])` and `unnest`, so a batch is one statement instead of one
    /// round trip per element.
    public static func textArray(_ elements: [String]) -> PostgresValue {
        var array = BinaryArray(elementOID: 25, count: elements.count, payloadBytes: elements.reduce(0) { $0 + $1.utf8.count })
        for element in elements {
            var element = element
            element.withUTF8 { array.append($0) }
        }
        return .binary(oid: 1009, array.bytes)
    }

    /// A `bigint[]` (a statement may cast it, e.g. to `smallint[]`).
    public static func integerArray(_ elements: [Int64]) -> PostgresValue {
        var array = BinaryArray(elementOID: 20, count: elements.count, payloadBytes: elements.count * 8)
        for element in elements {
            withUnsafeBytes(of: element.bigEndian) { array.append($0.bindMemory(to: UInt8.self)) }
        }
        return .binary(oid: 1016, array.bytes)
    }

    /// A `boolean[]`.
    public static func booleanArray(_ elements: [Bool]) -> PostgresValue {
        var array = BinaryArray(elementOID: 16, count: elements.count, payloadBytes: elements.count)
        for element in elements {
            withUnsafeBytes(of: UInt8(element ? 1 : 0)) { array.append($0.bindMemory(to: UInt8.self)) }
        }
        return .binary(oid: 1000, array.bytes)
    }

    /// A `bytea[]`, each element's bytes as they are: the batch's customer bodies are most of what a commit sends.
    public static func bytesArray(_ elements: [[UInt8]]) -> PostgresValue {
        var array = BinaryArray(elementOID: 17, count: elements.count, payloadBytes: elements.reduce(0) { $0 + $1.count })
        for element in elements {
            element.withUnsafeBufferPointer { array.append($0) }
        }
        return .binary(oid: 1001, array.bytes)
    }
}

/// PostgreSQL's binary format of a one-dimensional array without NULLs (`array_recv`): dimensions, flags, element
/// type, then each element as a 32-bit length and its bytes, every integer big-endian.
private struct BinaryArray {
    private(set) var bytes: [UInt8] = []

    init(elementOID: Oid, count: Int, payloadBytes: Int) {
        bytes.reserveCapacity(20 + 4 * count + payloadBytes)
        // An empty array has no dimensions at all.
        put(Int32(count == 0 ? 0 : 1))
        put(Int32(0))
        put(Int32(bitPattern: elementOID))
        if count > 0 {
            put(Int32(count))
            put(Int32(1))
        }
    }

    mutating func append(_ element: UnsafeBufferPointer<UInt8>) {
        put(Int32(element.count))
        bytes.append(contentsOf: element)
    }

    private mutating func put(_ value: Int32) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }
}
