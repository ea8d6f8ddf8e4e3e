import DigitalRiverAPI
import Foundation
import HTTP1
import JSON
import Logging
import Sockets
import Synchronization
import Testing

/// A request as the fake saw it on the wire.
struct SeenRequest: Sendable {
    var method: HTTPMethod
    var path: String
    var query: String?
    var headers: HTTPHeaders
    var body: [UInt8]
    var id: String?
    /// 1-based position among all requests this fake received.
    var number: Int
}

/// A stand-in for api.digitalriver.com: our own HTTP/1.1 server on 127.0.0.1 (port picked by the kernel) serving the
/// Customers routes through one scripted responder, and recording every request plus the peak of concurrent ones.
final class FakeDigitalRiver: Sendable {
    typealias Responder = @Sendable (SeenRequest) async -> HTTPResponse

    let server: HTTPServer
    let address: SocketAddress
    private let state = Locked<(requests: [SeenRequest], inFlight: Int, maxInFlight: Int)>(([], 0, 0))

    var baseURL: String { "http://\(address)" }
    var requests: [SeenRequest] { state.withLock { $0.requests } }
    var requestCount: Int { state.withLock { $0.requests.count } }
    var maxInFlight: Int { state.withLock { $0.maxInFlight } }

    init(_ responder: @escaping Responder) throws {
        let state = self.state
        let handler = HTTPHandler.async { request in
            let seen = state.withLock { current in
                let seen = SeenRequest(method: request.method, path: request.path, query: request.query,
                                       headers: request.headers, body: request.body, id: request.pathParameters["id"],
                                       number: current.requests.count + 1)
                current.requests.append(seen)
                current.inFlight += 1
                current.maxInFlight = max(current.maxInFlight, current.inFlight)
                return seen
            }
            let response = await responder(seen)
            state.withLock { $0.inFlight -= 1 }
            return response
        }
        var router = HTTPRouter()
        for method in [HTTPMethod.get, .post, .delete] {
            router.add(method, "/customers", handler)
            router.add(method, "/customers/{id}", handler)
        }
        var timeouts = HTTPTimeouts()
        timeouts.shutdownGraceMilliseconds = 2_000
        let configuration = HTTPServerConfiguration(address: try SocketAddress(parsing: "127.0.0.1:0"), name: "fake-dr",
                                                    eventLoopCount: 1, timeouts: timeouts)
        var logger = Logger(label: "fake-dr")
        logger.logLevel = .critical
        server = HTTPServer(configuration: configuration, router: router, logger: logger)
        address = try server.start()
    }

    func stop() {
        server.shutdown()
        server.waitUntilStopped()
    }

    deinit { stop() }
}

// MARK: Canned DR answers

enum DR {
    static let created = HTTPStatus(code: 201, reason: "Created")
    static let found = HTTPStatus(code: 302, reason: "Found")
    static let conflict = HTTPStatus(code: 409, reason: "Conflict")
    static let gatewayTimeout = HTTPStatus(code: 504, reason: "Gateway Timeout")

    /// A customer as DR documents it (reference §1), valid for `Customer(json:)`.
    static func customer(_ id: String, email: String = "jane@example.com") -> JSONValue {
        [
            "id": .string(id), "createdTime": "2024-01-01T00:00:00Z", "updatedTime": "2024-02-01T12:00:00Z",
            "email": .string(email), "locale": "en_US", "enabled": true, "requestToBeForgotten": false,
            "liveMode": false, "metadata": ["crm": "7"],
            "shipping": ["name": "Jane", "address": ["line1": "1 Main St", "city": "Minneapolis", "country": "US"]],
        ]
    }

    static func customerResponse(_ id: String, status: HTTPStatus = .ok) -> HTTPResponse {
        .json(status, customer(id).encoded())
    }

    static func page(_ elements: [JSONValue], hasMore: Bool) -> HTTPResponse {
        .json(.ok, JSONValue.object(["hasMore": .bool(hasMore), "data": .array(elements)]).encoded())
    }

    /// DR's error body (reference §2).
    static func error(_ status: HTTPStatus, type: String, code: String, parameter: String? = nil,
                      message: String = "Something is wrong.", headers: HTTPHeaders = HTTPHeaders()) -> HTTPResponse {
        var detail: JSONObject = ["code": .string(code), "message": .string(message)]
        if let parameter { detail["parameter"] = .string(parameter) }
        let body: JSONValue = ["type": .string(type), "errors": [.object(detail)]]
        return .json(status, body.encoded(), headers: headers)
    }
}

// MARK: Client plumbing

/// Records what the client asked to sleep and returns at once, so backoff is observable and tests stay fast.
final class SleepRecorder: Sendable {
    private let recorded = Locked<[Double]>([])
    var sleeps: [Double] { recorded.withLock { $0 } }
    var sleep: @Sendable (Double) async -> Void {
        { [recorded] seconds in recorded.withLock { $0.append(seconds) } }
    }
}

/// A Mutex in a class, so closures can share it (a Mutex itself cannot be captured: it is noncopyable).
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<R: Sendable>(_ body: (inout Value) -> R) -> R { mutex.withLock { body(&$0) } }
}

/// Every log line the client wrote, rendered with metadata, so tests can search them for secrets.
final class LogRecorder: Sendable {
    private let lines = Locked<[String]>([])
    var all: [String] { lines.withLock { $0 } }
    func append(_ line: String) { lines.withLock { $0.append(line) } }

    var logger: Logger {
        var logger = Logger(label: "dr-test") { _ in RecordingLogHandler(recorder: self) }
        logger.logLevel = .trace
        return logger
    }
}

struct RecordingLogHandler: LogHandler {
    let recorder: LogRecorder
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { _, new in new }
        let rendered = merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        recorder.append("\(event.level) \(event.message) \(rendered)")
    }
}

/// A fake, a real URLSessionTransport, and a client with recorded sleeps and logs.
struct Harness {
    static let secret = "sk_test_0123456789abcdefSECRET"

    let fake: FakeDigitalRiver
    let client: DigitalRiverClient
    let sleeps = SleepRecorder()
    let logs = LogRecorder()

    init(configure: (inout DigitalRiverClientConfiguration) -> Void = { _ in }, realSleep: Bool = false,
         _ responder: @escaping FakeDigitalRiver.Responder) throws {
        fake = try FakeDigitalRiver(responder)
        client = Self.client(baseURL: fake.baseURL, configure: configure, sleep: realSleep ? nil : sleeps, logs: logs)
    }

    static func client(baseURL: String, configure: (inout DigitalRiverClientConfiguration) -> Void = { _ in },
                       sleep: SleepRecorder?, logs: LogRecorder) -> DigitalRiverClient {
        guard let key = DigitalRiverAPIKey(secret) else { fatalError("test key must be valid") }
        var configuration = DigitalRiverClientConfiguration(apiKey: key)
        configuration.baseURL = baseURL
        configuration.requestTimeoutSeconds = 5
        configure(&configuration)
        let transport = URLSessionTransport(connectTimeoutSeconds: configuration.connectTimeoutSeconds,
                                            maxConnectionsPerHost: configuration.maxConcurrentRequests)
        if let sleep {
            return DigitalRiverClient(configuration: configuration, transport: transport, logger: logs.logger,
                                      sleep: sleep.sleep)
        }
        return DigitalRiverClient(configuration: configuration, transport: transport, logger: logs.logger)
    }
}

extension HTTPHeaders {
    func value(_ name: String) -> String? { self[name] }
}

/// Runs `body` and returns the `DigitalRiverError` it threw, or nil when it returned. (Closures do not infer typed
/// throws, so this takes an untyped one and records any other error as a failure.)
func drError<T>(_ body: () async throws -> T) async -> DigitalRiverError? {
    do {
        _ = try await body()
        return nil
    } catch let error as DigitalRiverError {
        return error
    } catch {
        Issue.record("expected a DigitalRiverError, got \(error)")
        return nil
    }
}
