import DigitalRiverSandbox
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import HTTP1
import JSON
import Logging
import Sockets
import Synchronization
import Testing
import WebhookSignature

/// What a test sees of one HTTP exchange.
struct ClientResponse: Sendable {
    var status: Int
    var headers: [String: String]
    var body: [UInt8]

    var json: JSONValue? { try? JSONValue.parse(body) }

    func header(_ name: String) -> String? {
        headers.first { $0.key.lowercased() == name.lowercased() }?.value
    }

    /// `(code, parameter)` of every element of a Digital River error body.
    var errors: [ErrorPair] {
        (json?["errors"]?.arrayValue ?? []).map { ErrorPair(code: $0["code"]?.stringValue ?? "", parameter: $0["parameter"]?.stringValue) }
    }
}

struct ErrorPair: Hashable, Sendable, CustomStringConvertible {
    var code: String
    var parameter: String?
    var description: String { parameter.map { "\(code)(\($0))" } ?? code }
}

/// A URLSession client for one sandbox, as an application would use it.
struct SandboxClient: Sendable {
    let baseURL: String
    var apiKey: String?
    let session: URLSession

    init(baseURL: String, apiKey: String? = nil) {
        self.baseURL = baseURL
        self.apiKey = apiKey
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = 10
        session = URLSession(configuration: configuration)
    }

    func send(_ method: String, _ path: String, json: JSONValue? = nil, rawBody: [UInt8]? = nil,
              headers: [String: String] = [:]) async throws -> ClientResponse {
        let url = try #require(URL(string: baseURL + path))
        var request = URLRequest(url: url)
        request.httpMethod = method
        if let apiKey { request.setValue("Bearer \(apiKey)", forHTTPHeaderField: "Authorization") }
        if let json {
            request.httpBody = Data(json.encoded())
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        } else if let rawBody {
            request.httpBody = Data(rawBody)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        let session = session
        return try await withCheckedThrowingContinuation { continuation in
            session.dataTask(with: request) { data, response, error in
                if let error {
                    continuation.resume(throwing: error)
                } else if let http = response as? HTTPURLResponse {
                    var headers: [String: String] = [:]
                    for (name, value) in http.allHeaderFields {
                        if let name = name as? String, let value = value as? String { headers[name] = value }
                    }
                    continuation.resume(returning: ClientResponse(status: http.statusCode, headers: headers, body: Array(data ?? Data())))
                } else {
                    continuation.resume(throwing: URLError(.badServerResponse))
                }
            }.resume()
        }
    }

    func get(_ path: String) async throws -> ClientResponse { try await send("GET", path) }
    func post(_ path: String, _ json: JSONValue) async throws -> ClientResponse { try await send("POST", path, json: json) }
    func delete(_ path: String) async throws -> ClientResponse { try await send("DELETE", path) }
}

/// A log handler that keeps every rendered line, so tests can check what never reaches a log.
final class RecordingLogHandlerStore: Sendable {
    private let lines = Mutex<[String]>([])
    func append(_ line: String) { lines.withLock { $0.append(line) } }
    var all: [String] { lines.withLock { $0 } }
}

struct RecordingLogHandler: LogHandler {
    let store: RecordingLogHandlerStore
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        store.append("\(event.level) \(event.message) \(merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))")
    }
}

func quietLogger() -> Logger {
    Logger(label: "sandbox-test") { _ in SwiftLogNoOpLogHandler() }
}

/// Runs `body` against a started sandbox on 127.0.0.1:0 and always shuts it down.
func withSandbox<T>(logger: Logger = quietLogger(), _ configure: (inout SandboxConfiguration) -> Void = { _ in },
                    _ body: (DigitalRiverSandbox, SandboxClient) async throws -> T) async throws -> T {
    var configuration = SandboxConfiguration(listen: try SocketAddress(parsing: "127.0.0.1:0"))
    configure(&configuration)
    let sandbox = DigitalRiverSandbox(configuration: configuration, logger: logger)
    try sandbox.start()
    defer {
        sandbox.shutdown()
        sandbox.waitUntilStopped()
    }
    return try await body(sandbox, SandboxClient(baseURL: sandbox.baseURL, apiKey: configuration.apiKey))
}

/// One webhook request as the receiver got it.
struct ReceivedWebhook: Sendable {
    var signature: String?
    var contentType: String?
    var body: [UInt8]
    var answeredStatus: Int

    var json: JSONValue? { try? JSONValue.parse(body) }
    var eventID: String? { json?["id"]?.stringValue }
    var type: String? { json?["type"]?.stringValue }
    /// Unix seconds of the signature's timestamp element.
    var signedAt: Int64? { signature?.split(separator: ",").first.flatMap { Int64($0.trimmingCharacters(in: .whitespaces)) } }
}

/// The receiver's script and log, shared with its route.
final class ReceiverState: Sendable {
    let value: Mutex<(script: [Int], received: [ReceivedWebhook])>
    /// While true, requests are held unanswered (up to 120 s) to emulate a receiver that hangs.
    let holding: Mutex<Bool>
    init(script: [Int], holding: Bool) {
        value = Mutex((script, []))
        self.holding = Mutex(holding)
    }
}

/// A tiny webhook endpoint on HTTP1 that answers statuses from a script (then 200) and records every request.
final class WebhookReceiver: Sendable {
    private let server: HTTPServer
    private let state: ReceiverState
    let address: SocketAddress

    /// `script` is consumed one status per request; once empty every request gets `defaultStatus`. With `hold`,
    /// requests wait unanswered until `release()` (at most 120 s).
    init(script: [Int] = [], defaultStatus: Int = 200, hold: Bool = false) throws {
        let state = ReceiverState(script: script, holding: hold)
        self.state = state
        var router = HTTPRouter()
        router.add(.post, "/webhooks", .async { request in
            for _ in 0..<12_000 where state.holding.withLock({ $0 }) {
                try? await Task.sleep(nanoseconds: 10_000_000)
            }
            let status = state.value.withLock { state -> Int in
                let status = state.script.isEmpty ? defaultStatus : state.script.removeFirst()
                state.received.append(ReceivedWebhook(signature: request.headers["DigitalRiver-Signature"],
                                                      contentType: request.headers["Content-Type"], body: request.body,
                                                      answeredStatus: status))
                return status
            }
            var headers = HTTPHeaders()
            if (300..<400).contains(status) { headers.add(name: "Location", value: "/elsewhere") }
            return HTTPResponse(status: HTTPStatus(code: status, reason: "Scripted"), headers: headers)
        })
        router.add(.post, "/elsewhere", .inline { _ in HTTPResponse(status: .ok) })
        server = HTTPServer(configuration: HTTPServerConfiguration(address: try SocketAddress(parsing: "127.0.0.1:0"), name: "receiver",
                                                                   eventLoopCount: 1),
                            router: router, logger: quietLogger())
        address = try server.start()
    }

    var url: String { "http://127.0.0.1:\(address.port)/webhooks" }

    var received: [ReceivedWebhook] { state.value.withLock { $0.received } }

    /// Lets held requests be answered.
    func release() { state.holding.withLock { $0 = false } }

    /// Requests answered 2xx, in arrival order.
    var accepted: [ReceivedWebhook] { received.filter { (200..<300).contains($0.answeredStatus) } }

    func stop() {
        release()
        server.shutdown()
        server.waitUntilStopped()
    }
}

/// Signature verification exactly as the cache would do it.
func verifySignature(_ webhook: ReceivedWebhook, secret: String) throws {
    let verifier = WebhookSignatureVerifier(secrets: [SigningSecret(secret)])
    _ = try verifier.verify(header: webhook.signature, body: webhook.body)
}

/// A minimal valid create body.
func customerBody(id: String? = nil, email: String = "jane@example.com", extra: [(String, JSONValue)] = []) -> JSONObject {
    var body = JSONObject()
    if let id { body["id"] = .string(id) }
    body["email"] = .string(email)
    for (key, value) in extra { body[key] = value }
    return body
}

/// Percent-encodes a query value (everything outside unreserved characters).
func queryEscaped(_ text: String) -> String {
    var allowed = CharacterSet.alphanumerics
    allowed.insert(charactersIn: "-._~")
    return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
}
