@testable import CustomerCacheApp
import Foundation
import HTTP1
import JSON
import Logging
import Sockets
import Synchronization
import Testing

/// A Digital River that applies a create but loses its answer (500) on the first attempt, so the client's retry
/// meets a 409 for the customer this very call created. `storedEmail` lets a test make the stored customer differ.
final class LostCreateAnswerUpstream: Sendable {
    let server: HTTPServer
    let address: SocketAddress
    private let storage = StoredCustomer()

    init(conflictFromTheStart: Bool = false, storedEmail: String? = nil) throws {
        let stored = storage
        var router = HTTPRouter()
        if conflictFromTheStart {
            stored.withLock { $0 = ["id": "lost-1", "email": .string(storedEmail ?? "n@example.com"), "createdTime": "2024-01-01T00:00:00Z",
                                    "updatedTime": "2024-01-01T00:00:00Z", "liveMode": false] }
        }
        router.add(.get, "/customers/{id}", .async { _ in
            guard let customer = stored.withLock({ $0 }) else {
                return .json(HTTPStatus(code: 404, reason: "Not Found"), Array(#"{"type":"not_found","errors":[{"code":"not_found","message":"no"}]}"#.utf8))
            }
            return .json(.ok, JSONValue.object(customer).encoded())
        })
        router.add(.post, "/customers", .async { request in
            let applied = stored.withLock { current -> Bool in
                guard current == nil, case .object(var sent)? = try? JSONValue.parse(request.body) else { return false }
                if let storedEmail { sent["email"] = .string(storedEmail) }
                sent["createdTime"] = "2024-01-01T00:00:00Z"
                sent["updatedTime"] = "2024-01-01T00:00:00Z"
                sent["liveMode"] = false
                current = sent
                return true
            }
            // Applied, but the answer is lost: what a 500 after the commit looks like to the client.
            if applied { return .json(HTTPStatus(code: 500, reason: "Internal Server Error"), Array(#"{"type":"internal_server_error","errors":[{"code":"internal","message":"x"}]}"#.utf8)) }
            return .json(HTTPStatus(code: 409, reason: "Conflict"), Array(#"{"type":"conflict","errors":[{"code":"already_exists","message":"x"}]}"#.utf8))
        })
        var logger = Logger(label: "lost-create")
        logger.logLevel = .critical
        server = HTTPServer(configuration: HTTPServerConfiguration(address: try SocketAddress(parsing: "127.0.0.1:0"), name: "lost-create",
                                                                   eventLoopCount: 1), router: router, logger: logger)
        address = try server.start()
    }

    deinit {
        server.shutdown()
        server.waitUntilStopped()
    }
}

/// The fake's one customer, in a class so the route closures can share the Mutex (it cannot be captured).
final class StoredCustomer: Sendable {
    private let mutex = Mutex<JSONObject?>(nil)
    func withLock<R: Sendable>(_ body: (inout JSONObject?) -> R) -> R { mutex.withLock { body(&$0) } }
}

@Suite("customer.ensure when a create's answer is lost", .serialized)
struct EnsureLostAnswerTests {
    func ensure(_ upstream: LostCreateAnswerUpstream, on backend: ServiceBackend) throws -> JSONValue {
        let live = try LiveService(settings: ["upstream-url": "http://\(upstream.address)", "upstream-timeout-ms": "3000"],
                                   environment: [AppConfiguration.webhookSecretsEnvironmentName: LiveService.secret,
                                                 AppConfiguration.apiKeyEnvironmentName: UpstreamSandbox.apiKey], backend: backend)
        defer { live.stop(); live.removeData() }
        return try live.rpcJSON(#"{"jsonrpc":"2.0","method":"customer.ensure","params":{"id":"lost-1","email":"n@example.com","metadata":{"a":"1","b":"2"}},"id":1}"#)
    }

    @Test("the retry that meets this call's own committed create reports created:true", arguments: ServiceBackend.available)
    func ownCreate(backend: ServiceBackend) throws {
        let response = try ensure(try LostCreateAnswerUpstream(), on: backend)
        #expect(response["result"]?["created"] == true, "\(response)")
        #expect(response["result"]?["customer"]?["email"] == "n@example.com")
    }

    @Test("a conflict on the first attempt is someone else's create: created:false", arguments: ServiceBackend.available)
    func othersCreate(backend: ServiceBackend) throws {
        let response = try ensure(try LostCreateAnswerUpstream(conflictFromTheStart: true), on: backend)
        #expect(response["result"]?["created"] == false, "\(response)")
    }

    @Test("a customer that does not carry what this call sent is not claimed: created:false", arguments: ServiceBackend.available)
    func differentCustomer(backend: ServiceBackend) throws {
        let response = try ensure(try LostCreateAnswerUpstream(storedEmail: "someone-else@example.com"), on: backend)
        #expect(response["result"]?["created"] == false, "\(response)")
    }
}
