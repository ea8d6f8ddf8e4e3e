import Foundation
import PostgreSQL

/// A PostgreSQL schema of its own for one test, on the server scripts/postgres started
/// (`CUSTOMER_CACHE_TEST_DATABASE_URL`, password in `CUSTOMER_CACHE_TEST_DATABASE_PASSWORD_FILE`). Every connection
/// made from `configuration` sees only this schema (`search_path`), so tests never share tables. Dropped at deinit.
public final class TestDatabase: @unchecked Sendable {
    // @unchecked: every field is immutable after init.
    /// The server's URL without a search path (for tests that connect themselves or start `serve`).
    public let serverURL: String
    public let password: String?
    public let passwordFile: String?
    public let schema: String
    /// Connects into this test's schema.
    public let configuration: PostgresConfiguration

    /// The URL and password of the test server, or nil when no server was started (the suites that need one are
    /// then disabled; scripts/test always starts one).
    public static var server: (url: String, passwordFile: String?)? {
        let environment = ProcessInfo.processInfo.environment
        guard let url = environment["CUSTOMER_CACHE_TEST_DATABASE_URL"], !url.isEmpty else { return nil }
        return (url, environment["CUSTOMER_CACHE_TEST_DATABASE_PASSWORD_FILE"])
    }

    /// True when a test server is configured.
    public static var isAvailable: Bool { server != nil }

    public convenience init() throws {
        guard let server = Self.server else { throw PostgresError(.connection, message: "CUSTOMER_CACHE_TEST_DATABASE_URL is not set") }
        try self.init(serverURL: server.url, passwordFile: server.passwordFile)
    }

    /// A schema on another server, e.g. one a fault test started for itself so that it may restart it.
    public init(serverURL: String, passwordFile: String?) throws {
        let server = (url: serverURL, passwordFile: passwordFile)
        self.serverURL = server.url
        self.passwordFile = server.passwordFile
        password = try server.passwordFile.map { try String(contentsOfFile: $0, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines) }
        schema = "t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        let admin = try PostgresConnection(PostgresConfiguration(connectionString: serverURL, password: password))
        try admin.execute("CREATE SCHEMA \(schema)")
        configuration = PostgresConfiguration(connectionString: Self.url(serverURL, searchPath: schema), password: password)
    }

    deinit {
        if let admin = try? PostgresConnection(PostgresConfiguration(connectionString: serverURL, password: password)) {
            _ = try? admin.execute("DROP SCHEMA \(schema) CASCADE")
        }
    }

    /// `url` with `options=-csearch_path=<schema>` added, so every session starts in that schema.
    public static func url(_ url: String, searchPath: String) -> String {
        url + (url.contains("?") ? "&" : "?") + "options=-csearch_path%3D" + searchPath
    }

    /// The schema's URL (search path included), for `serve --database-url`.
    public var url: String { Self.url(serverURL, searchPath: schema) }

    /// A new connection into this schema.
    public func connect() throws -> PostgresConnection { try PostgresConnection(configuration) }
}
