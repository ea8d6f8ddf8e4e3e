import Foundation
import SQLite

/// Runs `body` with a fresh directory under the system temp dir and removes it afterwards.
func withTemporaryDirectory<T>(_ body: (String) throws -> T) throws -> T {
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("sqlite-tests-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: url) }
    return try body(url.path)
}

/// Connection options for tests: the production defaults with a short busy timeout.
func testOptions(busyTimeoutMilliseconds: Int32 = 1000) -> SQLiteConnection.Options {
    var options = SQLiteConnection.Options()
    options.busyTimeoutMilliseconds = busyTimeoutMilliseconds
    return options
}

extension SQLiteConnection {
    /// First column of the first row of `sql` as an integer (test convenience).
    func scalar(_ sql: String, _ values: [SQLiteValue] = []) throws -> Int64 {
        let rows = try prepare(sql).query(values) { $0.int64(at: 0) }
        guard let first = rows.first else { throw SQLiteError(code: .notfound, message: "no row", operation: "test") }
        return first
    }

    /// First column of the first row of `sql` as text (test convenience).
    func scalarText(_ sql: String) throws -> String? {
        try prepare(sql).query { $0.text(at: 0) }.first ?? nil
    }
}
