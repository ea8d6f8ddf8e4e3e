import Foundation
import HTTP1
import Logging
import ServiceLifecycle

/// Runs a test's services in one `ServiceGroup`, as `serve` does, and stops them as SIGTERM would. The group runs on
/// threads of its own, so a test that blocks Swift's cooperative pool (two threads on two cores) cannot stall it.
public final class RunningServices: Sendable {
    private let group: ServiceGroup
    private let task: Task<Void, any Error>
    private let executor: HandlerExecutor

    public init(_ services: [any Service], logger: Logger) {
        let group = ServiceGroup(services: services, logger: logger)
        let executor = HandlerExecutor(threadCount: 2, name: "test-service-group")
        self.group = group
        self.executor = executor
        task = Task(executorPreference: executor) { try await group.run() }
    }

    /// Graceful shutdown, then waits until every service has returned; rethrows what the group threw.
    public func stop() async throws {
        await group.triggerGracefulShutdown()
        try await task.value
    }

    deinit { executor.shutdown() }

    /// `stop()` for synchronous callers (a harness's `deinit`): blocks this thread until the group has stopped.
    public func stopAndWait() {
        let done = DispatchSemaphore(value: 0)
        Task.detached(executorPreference: executor) { [self] in
            try? await stop()
            done.signal()
        }
        done.wait()
    }
}
