import Foundation
import HTTP1
import Logging
import Sockets

// Fixed-route server for bench/run: GET /small returns a small JSON body, POST /echo echoes the body.
// It isolates the HTTP layer's cost so the ratio against nginx measures the server, not the app.
let arguments = CommandLine.arguments
let listen = arguments.count > 1 ? arguments[1] : "127.0.0.1:8090"
let loops = arguments.count > 2 ? Int(arguments[2]) ?? HTTPServerConfiguration.defaultEventLoopCount : HTTPServerConfiguration.defaultEventLoopCount
let small = Array(#"{"status":"ok","service":"customer-cache"}"#.utf8)
var router = HTTPRouter()
router.add(.get, "/small", .inline { _ in .json(.ok, small) })
router.add(.post, "/echo", .inline { request in .json(.ok, request.body) })
var logger = Logger(label: "http-bench-server")
logger.logLevel = .warning
do {
    let address = try SocketAddress(parsing: listen)
    let server = HTTPServer(configuration: HTTPServerConfiguration(address: address, name: "bench", eventLoopCount: loops),
                            router: router, logger: logger)
    let bound = try server.start()
    FileHandle.standardOutput.write(Data("listening \(bound)\n".utf8))
    signal(SIGTERM, SIG_IGN)
    let source = DispatchSource.makeSignalSource(signal: SIGTERM)
    source.setEventHandler { server.shutdown() }
    source.resume()
    server.waitUntilStopped()
} catch {
    FileHandle.standardError.write(Data("http-bench-server: \(error)\n".utf8))
    exit(1)
}
