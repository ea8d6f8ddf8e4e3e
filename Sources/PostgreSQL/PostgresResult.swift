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

    /// A `bytea` field (hex output format, the server default since 9.0).
    public func bytes(_ row: Int, _ column: Int) -> [UInt8]? {
        guard let text = rows[row][column] else { return nil }
        let utf8 = Array(text.utf8)
        guard utf8.count >= 2, utf8[0] == UInt8(ascii: "\\"), utf8[1] == UInt8(ascii: "x") else { return nil }
        func nibble(_ byte: UInt8) -> UInt8? {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
            default: return nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity((utf8.count - 2) / 2)
        var index = 2
        while index + 1 < utf8.count {
            guard let high = nibble(utf8[index]), let low = nibble(utf8[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }
}
