import CLibPQ
import Foundation
import Glibc

/// Where and how to connect. The password is a separate field, handed to libpq as its own keyword, so it never has
/// to be part of a URL that could reach argv or a log line.
public struct PostgresConfiguration: Sendable {
    /// A libpq connection URI (`postgres://user@host:port/db?sslmode=require`) or `key=value` string, without a password.
    public var connectionString: String
    /// The password (from a file or the environment), or nil for libpq's own sources (`~/.pgpass`, `PGPASSWORD`).
    public var password: String?
    /// Shown in `pg_stat_activity`.
    public var applicationName: String = "customer-cache"
    /// libpq's `connect_timeout`, in seconds.
    public var connectTimeoutSeconds: Int = 5
    /// How long a connection may go unanswered before the kernel reports it lost, so a vanished server or network
    /// fails a statement (and wakes a waiting LISTEN) in seconds rather than after TCP's ~15 minutes of retransmits:
    /// `tcp_user_timeout` bounds unacknowledged writes, TCP keepalives probe an idle connection. nil: libpq's defaults.
    /// A connection string that sets these keywords itself wins.
    public var deadConnectionTimeoutMilliseconds: Int? = 10_000

    public init(connectionString: String, password: String? = nil) {
        self.connectionString = connectionString
        self.password = password
    }

    /// The connection string with any `user:password@` password and `password=` parameter replaced by `***`, for logs.
    public var redacted: String { Self.redact(connectionString) }

    /// Replaces a password in a URI (`//user:secret@`) or in `password=` (query parameter or key/value) with `***`.
    public static func redact(_ text: String) -> String {
        var result = text
        if let scheme = result.range(of: "://"), let at = result[scheme.upperBound...].firstIndex(of: "@"),
           let colon = result[scheme.upperBound..<at].firstIndex(of: ":") {
            result.replaceSubrange(result.index(after: colon)..<at, with: "***")
        }
        var searchFrom = result.startIndex
        while let found = result.range(of: "password=", options: [.caseInsensitive], range: searchFrom..<result.endIndex) {
            let end = result[found.upperBound...].firstIndex { $0 == "&" || $0 == " " } ?? result.endIndex
            result.replaceSubrange(found.upperBound..<end, with: "***")
            searchFrom = found.upperBound
        }
        return result
    }
}

/// One statement of a `PostgresConnection.pipeline`: SQL with `$1…$n` and its parameters.
public struct PostgresStatement: Sendable {
    public var sql: String
    public var parameters: [PostgresValue]
    /// Rows in binary format: integers, booleans and `bytea` as they are stored, not printed and parsed back (hot
    /// reads of customer bodies). Every `PostgresRows` accessor reads both formats.
    public var binaryResults: Bool

    public init(_ sql: String, _ parameters: [PostgresValue] = [], binaryResults: Bool = false) {
        self.sql = sql
        self.parameters = parameters
        self.binaryResults = binaryResults
    }
}

/// One libpq connection. Not thread-safe: one thread uses it at a time (the store's writer, the follower, a reader
/// behind a lock). Statements take text-format parameters (bytes and arrays in binary format) and return text-format
/// rows unless asked for binary ones. Statements with parameters, and every pipelined one, are prepared once per
/// session (a named statement sent with the first use, in the same round trip), so the server parses and plans a
/// group commit's statements once rather than in every batch.
public final class PostgresConnection {
    private var handle: OpaquePointer?
    /// Named server-side statements of this session, by SQL and parameter types.
    private var prepared: [PreparedKey: String] = [:]
    /// Most statements prepared per session; SQL beyond it runs unnamed (parsed and planned each time).
    static let preparedLimit = 128

    /// Connects, or throws `.connection` with libpq's message (which never includes the password).
    public init(_ configuration: PostgresConfiguration) throws(PostgresError) {
        // Keywords before `dbname` are defaults the connection string may override; those after it always apply.
        var keywords: [String] = []
        var values: [String] = []
        if let timeout = configuration.deadConnectionTimeoutMilliseconds {
            // Keepalives: first probe after half the timeout, then three more spread over the rest.
            let idle = max(1, timeout / 2000), interval = max(1, timeout / 6000)
            keywords += ["keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count", "tcp_user_timeout"]
            values += ["1", String(idle), String(interval), "3", String(timeout)]
        }
        keywords += ["dbname", "application_name", "connect_timeout", "client_encoding"]
        values += [configuration.connectionString, configuration.applicationName, String(configuration.connectTimeoutSeconds), "UTF8"]
        if let password = configuration.password {
            keywords.append("password")
            values.append(password)
        }
        let connection = Self.withCStringArray(keywords) { keywordPointers in
            Self.withCStringArray(values) { valuePointers in PQconnectdbParams(keywordPointers, valuePointers, 1) }
        }
        guard let connection else { throw PostgresError(.connection, message: "out of memory") }
        guard PQstatus(connection) == CONNECTION_OK else {
            let message = Self.message(connection)
            PQfinish(connection)
            throw PostgresError(.connection, message: message)
        }
        clibpq_silence_notices(connection)
        handle = connection
    }

    deinit {
        if let handle { PQfinish(handle) }
    }

    /// False once the connection broke; `reset()` tries to reconnect.
    public var isConnected: Bool {
        guard let handle else { return false }
        return PQstatus(handle) == CONNECTION_OK
    }

    /// Whether an idle connection is still usable, without a round trip: whatever the server sent unasked (the
    /// FATAL of a shutdown or restart, an EOF, a socket error after failed keepalives) is read first. Never blocks.
    public func checkAlive() -> Bool {
        guard let handle else { return false }
        // A terminated session sends its FATAL and then closes: the first read takes the message, only a second one
        // meets the EOF that marks the connection bad. A few rounds cover both; a live idle connection has none.
        for _ in 0..<4 {
            var poller = pollfd(fd: PQsocket(handle), events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 0) > 0 else { break }
            guard PQconsumeInput(handle) == 1 else { break }
            _ = PQisBusy(handle)
        }
        return PQstatus(handle) == CONNECTION_OK
    }

    /// The server process serving this session (`pg_backend_pid()`), which is the sender of the NOTIFYs it commits.
    public var backendPID: Int32 { handle.map { PQbackendPID($0) } ?? 0 }

    /// The server's version number (`150018` for 15.18).
    public var serverVersion: Int { handle.map { Int(PQserverVersion($0)) } ?? 0 }

    /// Reconnects with the same parameters; throws `.connection` when the server is still unreachable.
    public func reset() throws(PostgresError) {
        guard let handle else { throw PostgresError(.connection, message: "connection closed") }
        PQreset(handle)
        prepared.removeAll()
        guard PQstatus(handle) == CONNECTION_OK else { throw PostgresError(.connection, message: Self.message(handle)) }
    }

    /// Closes the connection now rather than at deinit.
    public func close() {
        if let handle { PQfinish(handle) }
        handle = nil
        prepared.removeAll()
    }

    /// The socket libpq reads from, for `poll` (LISTEN/NOTIFY).
    var socket: Int32 { handle.map { PQsocket($0) } ?? -1 }

    /// Runs one statement with `$1…$n` parameters and returns its rows (empty for commands).
    @discardableResult
    public func execute(_ sql: String, _ parameters: [PostgresValue] = [], binaryResults: Bool = false) throws(PostgresError) -> PostgresRows {
        guard let handle else { throw PostgresError(.connection, message: "connection closed", sql: sql) }
        roundTrips += 1
        statementsSent += 1
        // Without parameters the simple protocol runs, which also accepts several statements (migrations).
        guard !parameters.isEmpty || binaryResults else { return try Self.rows(PQexec(handle, sql), handle, sql) }
        let key = PreparedKey(sql: sql, types: parameters.map(\.typeOID))
        var name = prepared[key]
        if name == nil, prepared.count < Self.preparedLimit {
            let made = "cc_\(prepared.count)"
            roundTrips += 1
            let result = key.types.withUnsafeBufferPointer { PQprepare(handle, made, sql, Int32(parameters.count), $0.baseAddress) }
            _ = try Self.rows(result, handle, sql)
            prepared[key] = made
            name = made
        }
        let result = Self.withParameters(parameters) { count, values, lengths, formats in
            if let name { PQexecPrepared(handle, name, count, values, lengths, formats, binaryResults ? 1 : 0) } else {
                key.types.withUnsafeBufferPointer { PQexecParams(handle, sql, count, $0.baseAddress, values, lengths, formats, binaryResults ? 1 : 0) }
            }
        }
        return try Self.rows(result, handle, sql)
    }

    /// Sends every statement and then one Sync in libpq's pipeline mode, and reads their results: one round trip
    /// for all of them instead of one each. The server runs them in order; after the first that fails it skips the
    /// rest up to the Sync, and that first error is thrown. Outside `BEGIN` the statements up to the Sync are one
    /// implicit transaction, rolled back by the failure; inside, the transaction is aborted and the caller rolls back.
    @discardableResult
    public func pipeline(_ statements: [PostgresStatement]) throws(PostgresError) -> [PostgresRows] {
        guard let handle else { throw PostgresError(.connection, message: "connection closed") }
        guard !statements.isEmpty else { return [] }
        guard PQenterPipelineMode(handle) == 1 else { throw PostgresError(.protocolViolation, message: Self.message(handle)) }
        defer {
            // Every normal path leaves pipeline mode below; one that could not (results lost with a broken
            // connection) closes it, so the next caller reconnects instead of meeting a connection stuck mid-pipeline.
            if self.handle != nil, PQpipelineStatus(handle) != PQ_PIPELINE_OFF, PQexitPipelineMode(handle) != 1 { close() }
        }
        roundTrips += 1
        statementsSent += statements.count
        var firstError: PostgresError?
        // What the server answers, in order: a statement's Prepare (its first use in this session) and its execution.
        var expected: [(statement: Int, preparing: PreparedKey?)] = []
        expected.reserveCapacity(statements.count)
        var preparing: [PreparedKey: String] = [:]
        for (index, statement) in statements.enumerated() {
            let key = PreparedKey(sql: statement.sql, types: statement.parameters.map(\.typeOID))
            var name = prepared[key] ?? preparing[key]
            if name == nil, prepared.count + preparing.count < Self.preparedLimit {
                let made = "cc_\(prepared.count + preparing.count)"
                let queued = key.types.withUnsafeBufferPointer {
                    PQsendPrepare(handle, made, statement.sql, Int32(statement.parameters.count), $0.baseAddress)
                }
                guard queued == 1 else {
                    firstError = PostgresError(PQstatus(handle) == CONNECTION_OK ? .protocolViolation : .connection,
                                               message: Self.message(handle), sql: statement.sql)
                    break
                }
                expected.append((index, key))
                preparing[key] = made
                name = made
            }
            let format: Int32 = statement.binaryResults ? 1 : 0
            let queued = Self.withParameters(statement.parameters) { count, values, lengths, formats in
                if let name { PQsendQueryPrepared(handle, name, count, values, lengths, formats, format) } else {
                    key.types.withUnsafeBufferPointer { PQsendQueryParams(handle, statement.sql, count, $0.baseAddress, values, lengths, formats, format) }
                }
            }
            guard queued == 1 else {
                firstError = PostgresError(PQstatus(handle) == CONNECTION_OK ? .protocolViolation : .connection,
                                           message: Self.message(handle), sql: statement.sql)
                break
            }
            expected.append((index, nil))
        }
        guard PQpipelineSync(handle) == 1 else { throw firstError ?? PostgresError(.connection, message: Self.message(handle)) }
        var results: [PostgresRows] = []
        results.reserveCapacity(statements.count)
        for (index, key) in expected {
            let sql = statements[index].sql
            // Each Prepare and each statement yields one result, then a NULL that ends it.
            guard let result = PQgetResult(handle) else {
                throw firstError ?? PostgresError(.connection, message: Self.message(handle), sql: sql)
            }
            let status = PQresultStatus(result)
            do throws(PostgresError) {
                if status == PGRES_PIPELINE_ABORTED {
                    PQclear(result)
                    if firstError == nil { firstError = PostgresError(.statement, message: "skipped after an earlier failure", sql: sql) }
                } else if let key {
                    _ = try Self.rows(result, handle, sql)
                    // Prepared statements outlive the transaction, so this one is usable whatever happens next.
                    prepared[key] = preparing[key]
                } else {
                    results.append(try Self.rows(result, handle, sql))
                }
            } catch {
                if firstError == nil { firstError = error }
            }
            while let extra = PQgetResult(handle) { PQclear(extra) }
        }
        // The Sync's own result, after which the connection is idle and may leave pipeline mode.
        while let result = PQgetResult(handle) {
            let status = PQresultStatus(result)
            PQclear(result)
            if status == PGRES_PIPELINE_SYNC { break }
        }
        if PQexitPipelineMode(handle) != 1, firstError == nil {
            firstError = PostgresError(PQstatus(handle) == CONNECTION_OK ? .protocolViolation : .connection, message: Self.message(handle))
        }
        if let firstError { throw firstError }
        return results
    }

    /// Round trips to the server so far (a pipeline is one), for tests and benchmarks that count them.
    public private(set) var roundTrips = 0
    /// Statements sent so far, pipelined or not.
    public private(set) var statementsSent = 0

    /// Runs `body` inside `BEGIN … COMMIT`, rolling back when it throws. COMMIT of a transaction the server already
    /// aborted answers `ROLLBACK`; that is reported as an error, never as success.
    public func transaction<T>(_ isolation: String? = nil, _ body: (PostgresConnection) throws -> T) throws -> T {
        try execute(isolation.map { "BEGIN ISOLATION LEVEL \($0)" } ?? "BEGIN")
        let value: T
        do {
            value = try body(self)
        } catch {
            if isConnected { _ = try? execute("ROLLBACK") }
            throw error
        }
        guard let handle else { throw PostgresError(.connection, message: "connection closed", sql: "COMMIT") }
        roundTrips += 1
        statementsSent += 1
        guard let result = PQexec(handle, "COMMIT") else {
            throw PostgresError(.connection, message: Self.message(handle), sql: "COMMIT")
        }
        defer { PQclear(result) }
        guard PQresultStatus(result) == PGRES_COMMAND_OK else {
            let sqlState = clibpq_sqlstate(result).map { String(cString: $0) }
            let message = clibpq_primary_message(result).map { String(cString: $0) } ?? Self.message(handle)
            throw PostgresError(PQstatus(handle) == CONNECTION_OK ? .statement : .connection, sqlState: sqlState, message: message, sql: "COMMIT")
        }
        guard String(cString: PQcmdStatus(result)) == "COMMIT" else {
            throw PostgresError(.statement, sqlState: "40000", message: "transaction was rolled back by the server", sql: "COMMIT")
        }
        return value
    }

    /// A transaction in two round trips whatever its size: `BEGIN` and `reads` in one pipeline, then `decide` turns
    /// their rows into the writes, which go with `COMMIT` in a second pipeline. Any failure (including a COMMIT the
    /// server answers with `ROLLBACK`) rolls back and throws, so nothing of it is committed.
    public func pipelinedTransaction<T>(_ reads: [PostgresStatement], _ decide: ([PostgresRows]) throws -> (writes: [PostgresStatement], value: T)) throws -> T {
        do {
            let rows = try pipeline([PostgresStatement("BEGIN")] + reads)
            let decided = try decide(Array(rows.dropFirst()))
            let written = try pipeline(decided.writes + [PostgresStatement("COMMIT")])
            guard written.last?.command == "COMMIT" else {
                throw PostgresError(.statement, sqlState: "40000", message: "transaction was rolled back by the server", sql: "COMMIT")
            }
            return decided.value
        } catch {
            // Harmless when the transaction already ended (the server only warns).
            if isConnected { _ = try? execute("ROLLBACK") }
            throw error
        }
    }

    /// Takes a transaction-scoped advisory lock (`pg_advisory_xact_lock`): held until COMMIT or ROLLBACK, waited for
    /// when another session holds it. Use inside `transaction`.
    public func advisoryTransactionLock(_ key: Int64) throws(PostgresError) {
        try execute("SELECT pg_advisory_xact_lock($1)", [.integer(key)])
    }

    /// Tries a session-scoped advisory lock without waiting; true when taken. Released by `advisoryUnlock` or on disconnect.
    public func tryAdvisoryLock(_ key: Int64) throws(PostgresError) -> Bool {
        try execute("SELECT pg_try_advisory_lock($1)", [.integer(key)]).boolean(0, 0) ?? false
    }

    /// Releases a session-scoped advisory lock taken by `tryAdvisoryLock`.
    public func advisoryUnlock(_ key: Int64) throws(PostgresError) {
        try execute("SELECT pg_advisory_unlock($1)", [.integer(key)])
    }

    /// Reads what the socket has (PQconsumeInput); false when the connection broke.
    func consumeInput() -> Bool {
        guard let handle else { return false }
        return PQconsumeInput(handle) == 1
    }

    /// The next queued notification (PQnotifies), if any.
    func nextNotification() -> PostgresNotification? {
        guard let handle, let raw = PQnotifies(handle) else { return nil }
        defer { PQfreemem(raw) }
        return PostgresNotification(channel: String(cString: raw.pointee.relname), payload: String(cString: raw.pointee.extra),
                                    senderPID: raw.pointee.be_pid)
    }

    // MARK: libpq plumbing

    /// A result's rows (which then own it), or, cleared, a failure as a `PostgresError` (SQLSTATE and primary
    /// message only: DETAIL may quote row values). No result at all means libpq could not send or read.
    private static func rows(_ result: OpaquePointer?, _ handle: OpaquePointer, _ sql: String) throws(PostgresError) -> PostgresRows {
        guard let result else {
            throw PostgresError(PQstatus(handle) == CONNECTION_OK ? .protocolViolation : .connection, message: Self.message(handle), sql: sql)
        }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
            return PostgresRows(result: result)
        default:
            let sqlState = clibpq_sqlstate(result).map { String(cString: $0) }
            let message = clibpq_primary_message(result).map { String(cString: $0) } ?? Self.message(handle)
            let code: PostgresError.Code = PQstatus(handle) == CONNECTION_OK ? .statement : .connection
            PQclear(result)
            throw PostgresError(code, sqlState: sqlState, message: message, sql: sql)
        }
    }

    /// Calls `body` with libpq's parameter arrays (count, values, lengths, formats): text format, bytes and arrays in binary.
    private static func withParameters<R>(_ parameters: [PostgresValue],
                                          _ body: (Int32, UnsafePointer<UnsafePointer<CChar>?>?, UnsafePointer<Int32>?, UnsafePointer<Int32>?) -> R) -> R {
        var buffers: [UnsafeMutablePointer<CChar>?] = []
        var lengths: [Int32] = []
        var formats: [Int32] = []
        buffers.reserveCapacity(parameters.count)
        defer { for buffer in buffers { free(buffer) } }
        for parameter in parameters {
            switch parameter {
            case .null:
                buffers.append(nil); lengths.append(0); formats.append(0)
            case .text(let text):
                buffers.append(strdup(text)); lengths.append(0); formats.append(0)
            case .integer(let value):
                buffers.append(strdup(String(value))); lengths.append(0); formats.append(0)
            case .boolean(let value):
                buffers.append(strdup(value ? "t" : "f")); lengths.append(0); formats.append(0)
            case .bytes(let bytes), .binary(_, let bytes):
                // malloc, not allocate: every buffer is released with free() above.
                let copy = malloc(max(bytes.count, 1))?.assumingMemoryBound(to: CChar.self)
                bytes.withUnsafeBufferPointer { source in
                    if let copy, let base = source.baseAddress { UnsafeMutableRawPointer(copy).copyMemory(from: base, byteCount: bytes.count) }
                }
                buffers.append(copy); lengths.append(Int32(bytes.count)); formats.append(1)
            }
        }
        let pointers = buffers.map { UnsafePointer($0) }
        return pointers.withUnsafeBufferPointer { values in
            lengths.withUnsafeBufferPointer { lengthPointer in
                formats.withUnsafeBufferPointer { formatPointer in
                    body(Int32(parameters.count), values.baseAddress, lengthPointer.baseAddress, formatPointer.baseAddress)
                }
            }
        }
    }

    static func message(_ handle: OpaquePointer) -> String {
        guard let text = PQerrorMessage(handle) else { return "unknown error" }
        // libpq wraps its messages over several tab-indented lines; one line keeps log records and /readyz whole.
        return String(cString: text).split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }.joined(separator: " ")
    }

    /// A statement as the server knows it once prepared: its text and the types its parameters were declared with.
    private struct PreparedKey: Hashable {
        let sql: String
        let types: [Oid]
    }

    private static func withCStringArray<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
        let copies = strings.map { strdup($0) }
        defer { for copy in copies { free(copy) } }
        let pointers: [UnsafePointer<CChar>?] = copies.map { UnsafePointer($0) } + [nil]
        return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
    }
}

