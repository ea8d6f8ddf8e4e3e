import Sockets

/// Deadlines the server enforces per connection, in milliseconds. Defaults are documented in README.
public struct HTTPTimeouts: Sendable, Hashable {
    /// Until a request head is complete: from accept for a connection's first request (one that never sends a
    /// byte is closed when it ends), from its first byte for later ones (slowloris defence). Default 10 s; 408.
    public var headerReadMilliseconds: Int = 10_000
    /// From the end of the head until the body is complete. Default 30 s; answered 408.
    public var bodyReadMilliseconds: Int = 30_000
    /// How long a keep-alive connection may sit idle between requests. Default 60 s; closed silently.
    public var idleMilliseconds: Int = 60_000
    /// How long a response may wait for the peer to read it without progress. Default 30 s; connection dropped.
    public var writeMilliseconds: Int = 30_000
    /// On shutdown, how long in-flight requests may take before connections are closed anyway. Default 10 s.
    public var shutdownGraceMilliseconds: Int = 10_000

    public init() {}
}

/// Everything one listener needs; a value type so each listener gets its own copy.
public struct HTTPServerConfiguration: Sendable {
    /// Where to listen; port 0 picks a free port (see `HTTPServer.localAddress`).
    public var address: SocketAddress
    /// Event loops (threads), each with its own SO_REUSEPORT listener. Default: one per core.
    public var eventLoopCount: Int
    public var limits: HTTPLimits
    public var timeouts: HTTPTimeouts
    /// Open connections per listener. A new connection beyond this closes the connection of this loop that has
    /// been idle longest (between requests, or silent since accept) to take its place, as nginx reuses idle
    /// keep-alive connections; only when none is idle is it answered 503 and closed. Default 4096.
    public var maxConnections: Int = 4096
    /// Unsent response bytes one connection may hold before the server stops reading and parsing its requests;
    /// reading resumes once they are written. Bounds the memory a client that pipelines requests and never reads
    /// the answers can take to this plus one response. Default 256 KiB.
    public var maxOutputBufferBytes: Int = 256 * 1024
    /// Async handlers running at once; above this requests get 503 instead of queueing without bound. Default 1024.
    public var maxConcurrentAsyncHandlers: Int = 1024
    /// Threads of the pool that runs `.async` handlers. Default: 2 per core, so an await-heavy handler mix keeps
    /// cores busy; blocking work (SQLite, disk) belongs on its own thread, not here.
    public var handlerThreads: Int = 2 * HTTPServerConfiguration.defaultEventLoopCount
    /// Listener name used in logs ("webhook", "rpc").
    public var name: String

    public init(address: SocketAddress, name: String, eventLoopCount: Int = HTTPServerConfiguration.defaultEventLoopCount,
                limits: HTTPLimits = HTTPLimits(), timeouts: HTTPTimeouts = HTTPTimeouts()) {
        self.address = address
        self.name = name
        self.eventLoopCount = max(1, eventLoopCount)
        self.limits = limits
        self.timeouts = timeouts
    }

    /// One loop per online core.
    public static var defaultEventLoopCount: Int {
        max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }
}

#if canImport(Glibc)
import Glibc
#endif
