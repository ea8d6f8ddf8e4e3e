import CacheWarmer
import DigitalRiverAPI
import Foundation
import HTTP1
import JSON
import Logging
import Sockets
import Synchronization
import Testing

/// A Digital River whose `GET /customers` is scripted by cursor, to play a list that never advances.
final class ScriptedListUpstream: Sendable {
    let server: HTTPServer
    let address: SocketAddress
    private let listCalls = RequestCounter()
    var listRequests: Int { listCalls.value.load(ordering: .relaxed) }
    var baseURL: String { "http://\(address)" }

    /// `next` maps the request's `startingAfter` (nil on the first page) to the page's ids and `hasMore`.
    init(_ next: @escaping @Sendable (String?) -> (ids: [String], hasMore: Bool)) throws {
        let calls = listCalls
        var router = HTTPRouter()
        router.add(.get, "/customers", .async { request in
            calls.value.add(1, ordering: .relaxed)
            let after = request.query?.split(separator: "&").first { $0.hasPrefix("startingAfter=") }
                .map { String($0.dropFirst("startingAfter=".count)) }
            let (ids, hasMore) = next(after)
            let data: [JSONValue] = ids.map { id in
                ["id": .string(id), "createdTime": "2024-01-01T00:00:00Z", "updatedTime": "2024-02-01T12:00:00Z",
                 "email": "x@example.com", "liveMode": false, "enabled": true, "requestToBeForgotten": false]
            }
            return .json(.ok, JSONValue.object(["hasMore": .bool(hasMore), "data": .array(data)]).encoded())
        })
        var logger = Logger(label: "scripted-dr")
        logger.logLevel = .critical
        server = HTTPServer(configuration: HTTPServerConfiguration(address: try SocketAddress(parsing: "127.0.0.1:0"),
                                                                   name: "scripted-dr", eventLoopCount: 1),
                            router: router, logger: logger)
        address = try server.start()
    }

    deinit {
        server.shutdown()
        server.waitUntilStopped()
    }
}

/// An atomic in a class, so the server's handler closure can share it (an Atomic itself cannot be captured).
final class RequestCounter: Sendable {
    let value = Atomic<Int>(0)
}

@Suite("warm-up job against a list that does not advance", .serialized)
struct WarmStallTests {
    func run(_ upstream: ScriptedListUpstream) async throws -> WarmReport {
        let service = try TestService()
        defer { service.stop() }
        var configuration = WarmConfiguration(source: .list(since: nil, sinceArgument: nil), rpcURL: service.rpcURL)
        var settings = DigitalRiverClientConfiguration(apiKey: try require(DigitalRiverAPIKey(TestService.apiKey)))
        settings.baseURL = upstream.baseURL
        settings.initialBackoffSeconds = 0.05
        configuration.upstream = settings
        configuration.requestsPerSecond = 0
        configuration.retryDelaySeconds = 0.05
        return try await warm(configuration)
    }

    @Test("a page that says hasMore and repeats its cursor ends the run with exit 1 and a clear reason, not a loop")
    func repeatedCursor() async throws {
        let upstream = try ScriptedListUpstream { after in
            after == nil ? (["a1", "a2"], true) : (["a2"], true)
        }
        let report = try await run(upstream)
        #expect(report.outcome == .failed)
        #expect(report.exitCode == 1)
        #expect(report.failure?.contains("not advancing") == true, "\(report.failure ?? "-")")
        #expect(report.failure?.contains("a2") == true)
        #expect(upstream.listRequests <= 3)
    }

    @Test("a list whose cursors cycle (a → b → a) is caught as well")
    func cycle() async throws {
        let upstream = try ScriptedListUpstream { after in
            switch after {
            case nil: (["a"], true)
            case "a": (["b"], true)
            default: (["a"], true)
            }
        }
        let report = try await run(upstream)
        #expect(report.exitCode == 1)
        #expect(report.failure?.contains("already passed") == true, "\(report.failure ?? "-")")
        #expect(upstream.listRequests <= 4)
    }

    @Test("an empty page that says hasMore fails the run instead of asking again forever")
    func emptyPageWithMore() async throws {
        let upstream = try ScriptedListUpstream { after in
            after == nil ? (["a"], true) : ([], true)
        }
        let report = try await run(upstream)
        #expect(report.exitCode == 1)
        #expect(upstream.listRequests < 20)
    }

    @Test("a list that advances still completes (the check does not misfire)")
    func advancing() async throws {
        let upstream = try ScriptedListUpstream { after in
            switch after {
            case nil: (["a"], true)
            case "a": (["b"], true)
            default: (["c"], false)
            }
        }
        let report = try await run(upstream)
        #expect(report.exitCode == 0, "\(report.failure ?? "-")")
        #expect(upstream.listRequests == 3)
    }
}
