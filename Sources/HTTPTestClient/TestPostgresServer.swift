import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A PostgreSQL server of one test's own (`scripts/postgres start`), so a fault test can stop and restart it without
/// disturbing the suites that share the one scripts/test started. Stopped and removed at deinit.
public final class TestPostgresServer: @unchecked Sendable {
    // @unchecked: every field is immutable after init.
    /// The repository's `scripts/postgres`.
    public static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("scripts/postgres").path

    public let directory: String
    public let url: String
    public let passwordFile: String

    /// True when this machine has a PostgreSQL server to start (scripts/setup installs one).
    public static var isAvailable: Bool {
        FileManager.default.isExecutableFile(atPath: script)
            && ((try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []).isEmpty == false
    }

    /// Runs initdb into a temporary directory and starts the server on a free loopback port (a few seconds).
    public init() throws {
        let output = try Self.run(["start"])
        var exports: [String: String] = [:]
        for line in output.split(separator: "\n") where line.hasPrefix("export ") {
            let pair = line.dropFirst("export ".count).split(separator: "=", maxSplits: 1)
            if pair.count == 2 { exports[String(pair[0])] = String(pair[1]) }
        }
        guard let directory = exports["CUSTOMER_CACHE_TEST_PG_DIR"], let url = exports["CUSTOMER_CACHE_TEST_DATABASE_URL"],
              let passwordFile = exports["CUSTOMER_CACHE_TEST_DATABASE_PASSWORD_FILE"] else {
            throw Failure(description: "scripts/postgres start printed no server: \(output)")
        }
        self.directory = directory
        self.url = url
        self.passwordFile = passwordFile
    }

    deinit { _ = try? Self.run(["stop", directory]) }

    /// Fast shutdown (every session terminated), `downSeconds` with no server, then up again on the same port and data.
    public func restart(downSeconds: Int = 0) throws {
        _ = try Self.run(["restart", directory, String(downSeconds)])
    }

    /// A schema of its own on this server.
    public func database() throws -> TestDatabase { try TestDatabase(serverURL: url, passwordFile: passwordFile) }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Runs scripts/postgres and returns its stdout. Both streams go to files, never pipes: a server started with an
    /// inherited pipe would keep it open, and reading it to the end would never return.
    @discardableResult
    private static func run(_ arguments: [String]) throws -> String {
        let base = NSTemporaryDirectory() + "cc-postgres-" + UUID().uuidString
        let paths = (output: base + ".out", errors: base + ".err")
        defer { for path in [paths.output, paths.errors] { try? FileManager.default.removeItem(atPath: path) } }
        for path in [paths.output, paths.errors] { FileManager.default.createFile(atPath: path, contents: nil) }
        guard let output = FileHandle(forWritingAtPath: paths.output), let errors = FileHandle(forWritingAtPath: paths.errors) else {
            throw Failure(description: "cannot create \(base).*")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: script)
        process.arguments = arguments
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let status = exitStatus(of: process)
        try? output.close()
        try? errors.close()
        guard status == 0 else {
            let message = (try? String(contentsOfFile: paths.errors, encoding: .utf8)) ?? ""
            throw Failure(description: "scripts/postgres \(arguments.first ?? "") failed (\(status)): \(message)")
        }
        return (try? String(contentsOfFile: paths.output, encoding: .utf8)) ?? ""
    }

    /// Waits for `process` with waitpid. Foundation's `waitUntilExit` was seen to miss the exit of this script (it
    /// starts a daemon through runuser), leaving a zombie and the test waiting forever.
    private static func exitStatus(of process: Process) -> Int32 {
        var status: Int32 = 0
        while true {
            let result = waitpid(process.processIdentifier, &status, WNOHANG)
            if result == process.processIdentifier {
                // WIFEXITED / WEXITSTATUS by hand: Swift does not import the macros.
                return status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
            }
            if result < 0 {
                // Foundation reaped it first.
                while process.isRunning { usleep(10_000) }
                return process.terminationStatus
            }
            usleep(20_000)
        }
    }
}
