import Customers
import Foundation
import HTTP1
import Logging
import ServiceLifecycle
import Synchronization

// The pieces `CustomerCacheService.services` hands to the ServiceGroup. Each `run()` returns only after its part
// has stopped, so the group's reverse-order shutdown is the service's shutdown order.

/// Every listener of the service: the first one asked to stop makes all of them stop accepting, so both listeners
/// drain within one `shutdown-grace-ms` instead of one after the other.
final class ListenerGroup: Sendable {
    private let servers: [HTTPServer]
    private let logger: Logger
    private let stopping = Atomic<Bool>(false)

    init(_ servers: [HTTPServer], logger: Logger) {
        self.servers = servers
        self.logger = logger
    }

    /// Stop accepting on every listener (idempotent); in-flight requests go on within the grace period.
    func stopAccepting() {
        guard !stopping.exchange(true, ordering: .relaxed) else { return }
        logger.info("shutdown requested: the listeners stop accepting and drain in-flight requests")
        for server in servers { server.shutdown() }
    }
}

/// One listener, bound by `CustomerCacheService.start()`: serves until graceful shutdown, then stops accepting
/// (with its peers) and returns once its in-flight requests are answered or the grace period is over.
struct HTTPListenerService: Service {
    let server: HTTPServer
    let listeners: ListenerGroup

    func run() async {
        try? await gracefulShutdown()
        listeners.stopAccepting()
        let server = server
        await runBlocking { server.waitUntilStopped() }
    }
}

/// Forget delivery's retry rounds, on the RPC work threads; cancelled at graceful shutdown, after the listeners
/// have drained (a `customer.forget` in flight still delivers inline). It is the last user of those threads, so
/// it stops them.
struct ForgetDeliveryService: Service {
    let delivery: ForgetDelivery
    let executor: HandlerExecutor

    func run() async {
        let delivery = delivery
        await withTaskExecutorPreference(executor) {
            await cancelWhenGracefulShutdown { await delivery.run() }
        }
        executor.shutdown()
    }
}

/// The store's lifetime: finishes an open that PostgreSQL's absence at start left pending, holds the store open
/// while the service runs, and at graceful shutdown (the last step: nothing writes any more) commits what the
/// writer holds and closes it. The store's own threads (writer, probes, purge retries, PostgreSQL change
/// follower) start with the open and end with this close.
struct StoreService: Service {
    let holder: StoreHolder
    let cluster: ClusterCoordinator?
    let logger: Logger

    func run() async throws {
        let (holder, cluster, logger) = (holder, cluster, logger)
        do {
            try await cancelWhenGracefulShutdown { try await holder.keepOpening(logger: logger) }
        } catch is CancellationError {
            // Shut down before PostgreSQL answered: nothing to close but the coordinator.
        }
        try? await gracefulShutdown()
        await runBlocking {
            holder.current?.close()
            cluster?.close()
        }
        logger.info("stopped")
    }
}

/// Runs a blocking call (joining threads, a final commit, a libpq connect) on a thread of its own and awaits it, so
/// it never holds one of the cooperative pool's few threads (two on two cores).
public func runBlocking<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        let thread = Thread { continuation.resume(returning: body()) }
        thread.name = "blocking-call"
        thread.start()
    }
}
