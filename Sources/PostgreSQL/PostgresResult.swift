import CLibPQ

/// The rows of one statement. The fields are read in place from libpq's result, which this keeps alive (a
/// `PGresult` is immutable once made, so any thread may read it): no copy and no String per field, which is what a
/// group commit's rows and a follower's pages used to cost. Text-format and binary-format results read the same.
public struct PostgresRows: Sendable {
    /// Rows in the result.
    public let count: Int
    private let columnCount: Int
    private let result: ResultHandle

    /// Takes ownership of `result` (cleared when the last copy of these rows goes).
    init(result: OpaquePointer) {
        self.result = ResultHandle(result)
        columnCount = Int(PQnfields(result))
        count = Int(PQntuples(result))
    }

    /// Column names, in order.
    public var columns: [String] { (0..<columnCount).map { String(cString: PQfname(result.pointer, Int32($0))) } }

    /// Rows the statement changed (`INSERT`, `UPDATE`, `DELETE`), from `PQcmdTuples`.
    public var affectedRows: Int { Int(String(cString: PQcmdTuples(result.pointer))) ?? 0 }

    /// The command tag (`INSERT 0 3`, `COMMIT`, or `ROLLBACK` for a COMMIT of an aborted transaction).
    public var command: String { String(cString: PQcmdStatus(result.pointer)) }

    /// Each row's fields as text (nil is SQL NULL); for tests and small results, the typed accessors below read in place.
    public var rows: [[String?]] {
        (0..<count).map { row in (0..<columnCount).map { text(row, $0) } }
    }

    /// Field `column` of `row` as text (a binary-format field of a non-text type reads as its raw bytes).
    public func text(_ row: Int, _ column: Int) -> String? {
        field(row, column).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Field as an integer (`bigint`, `integer`, `smallint`, in either format); nil when NULL or not an integer.
    public func integer(_ row: Int, _ column: Int) -> Int64? {
        guard let bytes = field(row, column) else { return nil }
        if isBinary(column) {
            switch PQftype(result.pointer, Int32(column)) {
            case Self.int8OID where bytes.count == 8, Self.int4OID where bytes.count == 4, Self.int2OID where bytes.count == 2:
                // Big-endian, sign-extended from the first byte.
                var value = Int64(Int8(bitPattern: bytes[0]))
                for byte in bytes.dropFirst() { value = value << 8 | Int64(byte) }
                return value
            default:
                break
            }
        }
        return Self.decimal(bytes)
    }

    /// Field as a boolean (`t`/`f` in text format, one byte in binary format).
    public func boolean(_ row: Int, _ column: Int) -> Bool? {
        guard let bytes = field(row, column), let first = bytes.first else { return nil }
        return isBinary(column) && PQftype(result.pointer, Int32(column)) == Self.boolOID ? first != 0 : first == UInt8(ascii: "t")
    }

    /// A `bytea` field: its bytes as they are in binary format, else decoded from the hex output format (the server
    /// default since 9.0).
    public func bytes(_ row: Int, _ column: Int) -> [UInt8]? {
        guard let field = field(row, column) else { return nil }
        if isBinary(column) { return Array(field) }
        guard field.count >= 2, field.count % 2 == 0, field[0] == UInt8(ascii: "\\"), field[1] == UInt8(ascii: "x") else { return nil }
        let count = (field.count - 2) / 2
        var valid = true
        let out = hexValues.withUnsafeBufferPointer { table in
            [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
                guard var source = field.baseAddress.map({ $0 + 2 }), var target = buffer.baseAddress else { return }
                for _ in 0..<count {
                    let high = table[Int(source[0])], low = table[Int(source[1])]
                    if high | low > 0x0F {
                        valid = false
                        break
                    }
                    target.pointee = high << 4 | low
                    target += 1
                    source += 2
                }
                initialized = valid ? count : 0
            }
        }
        return valid ? out : nil
    }

    /// The field's bytes inside the result, nil for SQL NULL. Valid while `self` (and so the result) lives.
    private func field(_ row: Int, _ column: Int) -> UnsafeBufferPointer<UInt8>? {
        precondition(row >= 0 && row < count && column >= 0 && column < columnCount, "no field (\(row), \(column))")
        let pointer = result.pointer
        guard PQgetisnull(pointer, Int32(row), Int32(column)) == 0, let value = PQgetvalue(pointer, Int32(row), Int32(column)) else { return nil }
        let length = Int(PQgetlength(pointer, Int32(row), Int32(column)))
        return UnsafeBufferPointer(start: UnsafeRawPointer(value).assumingMemoryBound(to: UInt8.self), count: length)
    }

    private func isBinary(_ column: Int) -> Bool { PQfformat(result.pointer, Int32(column)) == 1 }

    /// An optionally signed decimal integer, nil when the text is anything else or overflows.
    private static func decimal(_ bytes: UnsafeBufferPointer<UInt8>) -> Int64? {
        var index = 0
        let negative = bytes.first == UInt8(ascii: "-")
        if negative || bytes.first == UInt8(ascii: "+") { index = 1 }
        guard index < bytes.count else { return nil }
        var value: Int64 = 0
        while index < bytes.count {
            let digit = bytes[index] &- UInt8(ascii: "0")
            guard digit < 10 else { return nil }
            let (shifted, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (next, overflow2) = negative ? shifted.subtractingReportingOverflow(Int64(digit)) : shifted.addingReportingOverflow(Int64(digit))
            guard !overflow1, !overflow2 else { return nil }
            value = next
            index += 1
        }
        return value
    }

    static let boolOID: Oid = 16
    static let int8OID: Oid = 20
    static let int2OID: Oid = 21
    static let int4OID: Oid = 23
}

/// Owns one `PGresult` and clears it when the last `PostgresRows` holding it goes.
private final class ResultHandle: @unchecked Sendable {
    // @unchecked: libpq never changes a PGresult after returning it, and this never hands out a mutating pointer.
    let pointer: OpaquePointer

    init(_ pointer: OpaquePointer) { self.pointer = pointer }

    deinit { PQclear(pointer) }
}

/// Each byte's value as a hex digit (either case), 0xFF for a byte that is not one.
private let hexValues: [UInt8] = (0...255).map { byte -> UInt8 in
    switch UInt8(byte) {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt8(byte) - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt8(byte) - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt8(byte) - UInt8(ascii: "A") + 10
    default: 0xFF
    }
}
