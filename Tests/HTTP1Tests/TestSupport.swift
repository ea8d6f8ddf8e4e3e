import Foundation
import HTTP1
import HTTPTestClient
import Logging
import Sockets
#if canImport(Glibc)
import Glibc
#endif

/// A live server on 127.0.0.1 with a port picked by the kernel and routes that exercise the server's rules.
final class TestServer {
    let server: HTTPServer
    let address: SocketAddress

    init(limits: HTTPLimits = HTTPLimits(), timeouts: HTTPTimeouts = HTTPTimeouts(), maxConnections: Int = 4096,
         eventLoops: Int = 2, extraRoutes: (inout HTTPRouter) -> Void = { _ in }) throws {
        var router = HTTPRouter()
        router.add(.get, "/hello", .inline { _ in .json(.ok, Array(#"{"hello":"world"}"#.utf8)) })
        router.add(.post, "/echo", .inline { request in
            HTTPResponse(status: .ok, headers: HTTPHeaders([("Content-Type", "application/octet-stream")]), body: request.body)
        })
        router.add(.post, "/slow", .async { request in
            try? await Task.sleep(for: .milliseconds(Int(String(decoding: request.body, as: UTF8.self)) ?? 300))
            return .json(.ok, Array(#"{"slow":true}"#.utf8))
        })
        router.add(.post, "/deferred", .deferred { request, sink in
            // Answered from another thread, as the store's writer does.
            DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(50)) {
                sink.send(HTTPResponse(status: .accepted, body: request.body))
            }
        })
        router.add(.post, "/deferred-now", .deferred { request, sink in
            sink.send(HTTPResponse(status: .ok, body: request.body))
        })
        extraRoutes(&router)
        var configuration = HTTPServerConfiguration(address: try SocketAddress(parsing: "127.0.0.1:0"), name: "test",
                                                    eventLoopCount: eventLoops, limits: limits, timeouts: timeouts)
        configuration.maxConnections = maxConnections
        var logger = Logger(label: "test")
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
