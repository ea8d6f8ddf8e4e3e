@testable import CustomerCacheApp
import Customers
import DigitalRiverAPI
import Foundation
import HTTPTestClient
import Logging
import Sockets
import Synchronization
import Testing
import WebhookSignature

/// A wall clock tests can move; microseconds since the epoch.
final class TestClock: Sendable {
    private let value: Mutex<Int64>
    init(seconds: Int64 = 1_700_000_000) { value = Mutex(seconds * 1_000_000) }
    var microseconds: Int64 { value.withLock { $0 } }
    var seconds: Int64 { microseconds / 1_000_000 }
    func advance(seconds: Int64) { value.withLock { $0 += seconds * 1_000_000 } }
}

/// Where a service test keeps its store: SQLite always, PostgreSQL too when scripts/test started a server.
enum ServiceBackend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite
    case postgres

    static var available: [ServiceBackend] { TestDatabase.isAvailable ? [.sqlite, .postgres] : [.sqlite] }
    var testDescription: String { rawValue }
}

/// A real service on 127.0.0.1 port 0 with a temporary data directory, removed afterwards unless kept for a restart.
final class LiveService {
    let service: CustomerCacheService
    let webhook: SocketAddress
    let rpc: SocketAddress
    let dataDirectory: String
    let clock: TestClock
    /// The PostgreSQL schema the service runs on (nil: SQLite in `dataDirectory`); dropped after the service.
    let database: TestDatabase?
    private let running: RunningServices
    private var stopped = false

    static let secret = "whsec_test_current"
    static let oldSecret = "whsec_test_previous"

    init(dataDirectory: String? = nil, clock: TestClock = TestClock(), settings: [String: String] = [:],
         environment: [String: String] = [AppConfiguration.webhookSecretsEnvironmentName: "\(LiveService.secret),\(LiveService.oldSecret)"],
         logHandler: LogCapture? = nil, backend: ServiceBackend = .sqlite, upstream: DigitalRiverClient? = nil) throws {
        let directory = dataDirectory ?? NSTemporaryDirectory() + "cc-app-tests-" + UUID().uuidString
        self.dataDirectory = directory
        self.clock = clock
        var flags = ["webhook-listen": "127.0.0.1:0", "rpc-listen": "127.0.0.1:0", "data-dir": directory, "event-loops": "2"]
        for (key, value) in settings { flags[key] = value }
        var environment = environment
        database = backend == .postgres ? try TestDatabase() : nil
        if let database {
            flags["database-url"] = database.url
            environment[AppConfiguration.databasePasswordEnvironmentName] = database.password
        }
        let configuration = try AppConfiguration(sources: ConfigurationSources(flags: flags, environment: environment, fileContents: nil),
                                                 environment: environment)
        var logger = logHandler.map { handler in Logger(label: "test") { _ in handler } } ?? Logger(label: "test")
        if logHandler == nil { logger.logLevel = .critical }
        service = CustomerCacheService(configuration: configuration, logger: logger, clock: { clock.microseconds }, upstream: upstream)
        (webhook, rpc) = try service.start()
        running = RunningServices(service.services, logger: logger)
    }

    var store: CustomerStore? { service.storeHolder.current }

    /// The stored body of a customer as text ("" when absent), for PII assertions.
    func storedText(_ id: String) -> String {
        String(decoding: store?.record(for: id)?.body ?? [], as: UTF8.self)
    }

    func stop() {
        guard !stopped else { return }
        stopped = true
        running.stopAndWait()
    }

    func removeData() { try? FileManager.default.removeItem(atPath: dataDirectory) }

    deinit { stop() }

    /// Posts a signed event (signed now by the test clock unless told otherwise) and returns the response.
    func postEvent(_ body: [UInt8], secret: String = LiveService.secret, timestamp: Int64? = nil, header: String?? = nil,
                   client: RawClient? = nil) throws -> WireResponse? {
        let connection = try client ?? RawClient(webhook)
        var headers: [(String, String)] = [("Content-Type", "application/json")]
        let value = header ?? WebhookSigner.header(secret: secret, timestamp: timestamp ?? clock.seconds, body: body)
        if let value { headers.append(("DigitalRiver-Signature", value)) }
        return connection.exchange(method: "POST", path: "/webhooks/digitalriver", headers: headers, body: body)
    }
}

/// Event bodies as Digital River would send them.
enum Events {
    static func customer(_ id: String, updated: String = "2024-01-01T00:00:00Z", email: String = "jane@example.com", forgotten: Bool = false) -> String {
        #"{"id":"\#(id)","email":"\#(email)","enabled":true,"requestToBeForgotten":\#(forgotten),"liveMode":false,"updatedTime":"\#(updated)","shipping":{"name":"Jane Doe","address":{"line1":"1 Main St","city":"Minneapolis","country":"US"}}}"#
    }

    static func event(_ eventID: String, type: String = "customer.updated", object: String, created: String = "2024-01-01T00:00:01Z", liveMode: Bool = false) -> [UInt8] {
        Array(#"{"id":"\#(eventID)","type":"\#(type)","data":{"object":\#(object)},"liveMode":\#(liveMode),"createdTime":"\#(created)","digitalriverVersion":"2021-12-13"}"#.utf8)
    }
}

/// Runs `count` blocking clients on real threads (not Swift tasks: a blocking socket read on the cooperative pool
/// would starve everything else in the process) and returns their results in index order.
func onThreads<T: Sendable>(_ count: Int, _ body: @escaping @Sendable (Int) -> T) -> [T] {
    let results = Mutex<[Int: T]>([:])
    let group = DispatchGroup()
    for index in 0..<count {
        group.enter()
        Thread {
            let value = body(index)
            results.withLock { $0[index] = value }
            group.leave()
        }.start()
    }
    group.wait()
    return results.withLock { map in (0..<count).compactMap { map[$0] } }
}
