import HTTP1
import Logging
import ServiceMetrics
import Sockets

/// The running service: the public webhook listener and the internal RPC listener, wired to shared state.
public final class CustomerCacheService: Sendable {
    public let configuration: AppConfiguration
    public let readiness: Readiness
    public let metrics: MetricsRegistry
    private let logger: Logger
    private let webhookServer: HTTPServer
    private let rpcServer: HTTPServer

    public init(configuration: AppConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        let readiness = Readiness()
        self.readiness = readiness

        var webhookRouter = HTTPRouter()
        Self.addHealthRoutes(to: &webhookRouter, readiness: readiness)
        let metrics = MetricsRegistry()
        self.metrics = metrics
        var rpcRouter = HTTPRouter()
        Self.addHealthRoutes(to: &rpcRouter, readiness: readiness)
        rpcRouter.add("GET", "/metrics", .inline { _ in
            HTTPResponse(status: .ok, headers: HTTPHeaders([("Content-Type", "text/plain; version=0.0.4")]),
                         body: Array(metrics.render().utf8))
        })

        webhookServer = HTTPServer(configuration: configuration.httpConfiguration(address: configuration.webhookListen, name: "webhook"),
                                   router: webhookRouter, logger: logger)
        rpcServer = HTTPServer(configuration: configuration.httpConfiguration(address: configuration.rpcListen, name: "rpc"),
                               router: rpcRouter, logger: logger)
        for (name, server) in [("webhook", webhookServer), ("rpc", rpcServer)] {
            metrics.gauge("http_open_connections", help: "Open TCP connections per listener.", labels: [("listener", name)]) {
                server.openConnections
            }
        }
    }

    /// Binds both listeners; returns their real addresses (ports resolved when 0 was asked for).
    @discardableResult
    public func start() throws -> (webhook: SocketAddress, rpc: SocketAddress) {
        let webhook = try webhookServer.start()
        do {
            let rpc = try rpcServer.start()
            return (webhook, rpc)
        } catch {
            webhookServer.shutdown()
            webhookServer.waitUntilStopped()
            throw error
        }
    }

    /// Graceful: both listeners stop accepting and drain in-flight requests within the grace period.
    public func shutdown() {
        logger.info("shutdown requested")
        webhookServer.shutdown()
        rpcServer.shutdown()
    }

    public func waitUntilStopped() {
        webhookServer.waitUntilStopped()
        rpcServer.waitUntilStopped()
        logger.info("stopped")
    }

    static func addHealthRoutes(to router: inout HTTPRouter, readiness: Readiness) {
        let alive = Array(#"{"status":"ok"}"#.utf8)
        router.add("GET", "/healthz", .inline { _ in .json(.ok, alive) })
        router.add("GET", "/readyz", .inline { _ in
            let (ready, checks) = readiness.evaluate()
            var body = Array(#"{"status":"#.utf8)
            body.append(contentsOf: (ready ? #""ready""# : #""not_ready""#).utf8)
            body.append(contentsOf: #","checks":{"#.utf8)
            for (index, check) in checks.enumerated() {
                if index > 0 { body.append(UInt8(ascii: ",")) }
                appendJSONStringLiteral(check.name, to: &body)
                body.append(contentsOf: #":{"ready":"#.utf8)
                body.append(contentsOf: (check.status.ready ? "true" : "false").utf8)
                body.append(contentsOf: #","detail":"#.utf8)
                appendJSONStringLiteral(check.status.detail, to: &body)
                body.append(UInt8(ascii: "}"))
            }
            body.append(contentsOf: "}}".utf8)
            return .json(ready ? .ok : .serviceUnavailable, body)
        })
    }
}

/// JSON string escaping for the few bodies this module writes by hand.
func appendJSONStringLiteral(_ text: String, to buffer: inout [UInt8]) {
    buffer.append(UInt8(ascii: "\""))
    for byte in text.utf8 {
        switch byte {
        case UInt8(ascii: "\""): buffer.append(contentsOf: #"\""#.utf8)
        case UInt8(ascii: "\\"): buffer.append(contentsOf: #"\\"#.utf8)
        case 0x0A: buffer.append(contentsOf: #"\n"#.utf8)
        case 0..<0x20: buffer.append(contentsOf: Array(String(format: "\\u%04x", Int(byte)).utf8))
        default: buffer.append(byte)
        }
    }
    buffer.append(UInt8(ascii: "\""))
}

import Foundation
