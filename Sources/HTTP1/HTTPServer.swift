import Foundation
import Logging
import Sockets
import Synchronization
import Timekeeping

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
    let acceptErrorsProcessLimit = Atomic<Int>(0)
    let acceptErrorsSystemLimit = Atomic<Int>(0)
    let acceptErrorsOther = Atomic<Int>(0)
    let idleConnectionsClosed = Atomic<Int>(0)
    let connectionsRefused = Atomic<Int>(0)
    let readsPausedForOutput = Atomic<Int>(0)
    let peakOutputBufferBytes = Atomic<Int>(0)

    func acceptErrors(_ reason: HTTPServer.AcceptErrorReason) -> Int {
        switch reason {
        case .processDescriptorLimit: return acceptErrorsProcessLimit.load(ordering: .relaxed)
        case .systemDescriptorLimit: return acceptErrorsSystemLimit.load(ordering: .relaxed)
        case .other: return acceptErrorsOther.load(ordering: .relaxed)
        }
    }

    func countAcceptError(_ reason: HTTPServer.AcceptErrorReason) {
        switch reason {
        case .processDescriptorLimit: acceptErrorsProcessLimit.wrappingAdd(1, ordering: .relaxed)
        case .systemDescriptorLimit: acceptErrorsSystemLimit.wrappingAdd(1, ordering: .relaxed)
        case .other: acceptErrorsOther.wrappingAdd(1, ordering: .relaxed)
        }
    }

    /// Raises the high-water mark; a store only when it is passed, so the hot path stays a load.
    func notePendingOutput(_ bytes: Int) {
        var current = peakOutputBufferBytes.load(ordering: .relaxed)
        while bytes > current {
            let (exchanged, original) = peakOutputBufferBytes.compareExchange(expected: current, desired: bytes, ordering: .relaxed)
            if exchanged { return }
            current = original
        }
    }
}

extension HTTPServer {
    /// Why `accept4` failed; the raw value is the metrics label.
    public enum AcceptErrorReason: String, CaseIterable, Sendable {
        /// EMFILE: this process is at RLIMIT_NOFILE.
        case processDescriptorLimit = "emfile"
        /// ENFILE: the system is out of descriptors.
        case systemDescriptorLimit = "enfile"
        case other
    }

    /// Failed accepts since start, by reason (each failure is counted; the log line is rate-limited).
    public func acceptErrors(_ reason: AcceptErrorReason) -> Int { shared.acceptErrors(reason) }

    /// Idle connections closed to admit a new one at `maxConnections` or when descriptors ran out.
    public var idleConnectionsClosed: Int { shared.idleConnectionsClosed.load(ordering: .relaxed) }

    /// Connections answered 503 and closed because none could be admitted.
    public var connectionsRefused: Int { shared.connectionsRefused.load(ordering: .relaxed) }

    /// Times a connection stopped being read because its unsent output passed `maxOutputBufferBytes`.
    public var readsPausedForOutput: Int { shared.readsPausedForOutput.load(ordering: .relaxed) }

    /// The most unsent response bytes any one connection has held since start.
    public var peakOutputBufferBytes: Int { shared.peakOutputBufferBytes.load(ordering: .relaxed) }
}

/// Milliseconds on the monotonic clock, which wall-clock changes cannot move (the package's one clock).
@inline(__always) func monotonicMilliseconds() -> Int {
    SystemClock.monotonicMilliseconds()
}
