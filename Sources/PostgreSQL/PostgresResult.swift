import CLibPQ

/// The rows of one statement, copied out of libpq's result (text format) so it can outlive the `PGresult`.
public struct PostgresRows: Sendable {
    /// Column names, in order.
    public let columns: [String]
    /// Each row's fields as text; nil is SQL NULL.
    public let rows: [[String?]]
    /// Rows the statement changed (`INSERT`, `UPDATE`, `DELETE`), from `PQcmdTuples`.
    public let affectedRows: Int
    /// The command tag (`INSERT 0 3`, `COMMIT`, or `ROLLBACK` for a COMMIT of an aborted transaction).
    public let command: String

    public var count: Int { rows.count }

    init(result: OpaquePointer) {
        let columnCount = Int(PQnfields(result))
        let rowCount = Int(PQntuples(result))
        columns = (0..<columnCount).map { String(cString: PQfname(result, Int32($0))) }
        var rows: [[String?]] = []
        rows.reserveCapacity(rowCount)
        for row in 0..<rowCount {
            var fields: [String?] = []
            fields.reserveCapacity(columnCount)
            for column in 0..<columnCount {
                if PQgetisnull(result, Int32(row), Int32(column)) != 0 {
                    fields.append(nil)
                } else {
                    fields.append(String(cString: PQgetvalue(result, Int32(row), Int32(column))))
                }
            }
            rows.append(fields)
        }
        self.rows = rows
        affectedRows = Int(String(cString: PQcmdTuples(result))) ?? 0
        command = String(cString: PQcmdStatus(result))
    }

    /// Field `column` of `row` as text.
    public func text(_ row: Int, _ column: Int) -> String? { rows[row][column] }

    /// Field as an integer (`bigint`, `integer`, `smallint`); nil when NULL or not an integer.
    public func integer(_ row: Int, _ column: Int) -> Int64? { rows[row][column].flatMap { Int64($0) } }

    /// Field as a boolean (`t`/`f`).
    public func boolean(_ row: Int, _ column: Int) -> Bool? { rows[row][column].map { $0 == "t" } }

    /// A `bytea` field (hex output format, the server default since 9.0), decoded straight from the field's UTF-8.
    public func bytes(_ row: Int, _ column: Int) -> [UInt8]? {
        guard var text = rows[row][column] else { return nil }
        return text.withUTF8 { utf8 -> [UInt8]? in
            guard utf8.count >= 2, utf8.count % 2 == 0, utf8[0] == UInt8(ascii: "\\"), utf8[1] == UInt8(ascii: "x") else { return nil }
            let count = (utf8.count - 2) / 2
            var valid = true
            let out = hexValues.withUnsafeBufferPointer { table in
                [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
                    guard var source = utf8.baseAddress.map({ $0 + 2 }), var target = buffer.baseAddress else { return }
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
    }
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
