import Foundation
import Logging
import Sockets
import Synchronization

/// An HTTP/1.1 server on non-blocking POSIX sockets and epoll: one event loop thread per core, each with its own
/// SO_REUSEPORT listener so the kernel spreads connections without a shared accept lock. It knows routes, not customers.
public final class HTTPServer: Sendable {
    public let configuration: HTTPServerConfiguration
    let router: HTTPRouter
    let logger: Logger
    let shared: SharedServerState
    let handlerExecutor: HandlerExecutor
    private let loops: Mutex<[EventLoop]> = Mutex([])
    private let bound: Mutex<SocketAddress?> = Mutex(nil)
    private let stopped = DispatchGroup()

    public init(configuration: HTTPServerConfiguration, router: HTTPRouter, logger: Logger) {
        self.configuration = configuration
        self.router = router
        self.logger = logger
        self.shared = SharedServerState()
        self.handlerExecutor = HandlerExecutor(threadCount: configuration.handlerThreads, name: "\(configuration.name)-handler")
    }

    deinit { handlerExecutor.shutdown() }

    /// The address actually bound (with the real port when 0 was asked for); nil before `start`.
    public var localAddress: SocketAddress? { bound.withLock { $0 } }

    /// Connections open right now, across loops.
    public var openConnections: Int { shared.openConnections.load(ordering: .relaxed) }

    /// Binds every loop's listener and starts the loop threads; returns the bound address.
    @discardableResult
    public func start() throws -> SocketAddress {
        // Probe first: fails with EADDRINUSE if anyone holds the port, and picks the port when 0 was asked for.
        let port = try TCPSocket.reservePort(for: configuration.address)
        let address = try SocketAddress(host: configuration.address.host, port: port)
        var created: [EventLoop] = []
        do {
            for index in 0..<configuration.eventLoopCount {
                let listener = try TCPSocket.listen(on: address, reusePort: true)
                created.append(try EventLoop(index: index, listener: listener, server: self))
            }
        } catch {
            for loop in created { loop.closeListener() }
            throw error
        }
        loops.withLock { $0 = created }
        bound.withLock { $0 = address }
        for loop in created {
            stopped.enter()
            let threadName = "\(configuration.name)-loop-\(loop.index)"
            let thread = Thread { [stopped] in
                setCurrentThreadName(threadName)
                loop.run()
                stopped.leave()
            }
            thread.name = "\(configuration.name)-loop-\(loop.index)"
            thread.start()
        }
        logger.info("listening", metadata: ["listener": "\(configuration.name)", "address": "\(address)",
                                            "event_loops": "\(configuration.eventLoopCount)"])
        return address
    }

    /// Starts a graceful shutdown: stop accepting, finish in-flight requests within the grace period, close idle
    /// keep-alive connections. Returns at once; `waitUntilStopped` blocks until every loop has exited.
    public func shutdown() {
        for loop in loops.withLock({ $0 }) { loop.requestShutdown() }
    }

    /// Blocks until all loop threads have exited.
    public func waitUntilStopped() {
        stopped.wait()
    }
}

/// Counters every loop of one server shares.
final class SharedServerState: Sendable {
    let openConnections = Atomic<Int>(0)
    let asyncHandlersInFlight = Atomic<Int>(0)
}

/// Milliseconds on the monotonic clock, which wall-clock changes cannot move.
@inline(__always) func monotonicMilliseconds() -> Int {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return now.tv_sec * 1000 + now.tv_nsec / 1_000_000
}
