import Foundation
import Sockets
import Synchronization

/// The bounded pool that runs `.async` handlers off the event loops. It is the handlers' preferred task executor,
/// so their work (and whatever resumes after an await) lands on these threads rather than on Swift's global pool,
/// where any blocking caller elsewhere in the process could starve the server.
public final class HandlerExecutor: TaskExecutor, @unchecked Sendable {
    // @unchecked: the only mutable state is `queue`, guarded by `condition`.
    private let condition = NSCondition()
    private var queue: [UnownedJob] = []
    private var stopping = false
    public let threadCount: Int

    /// Starts `threadCount` worker threads named `name-N`.
    public init(threadCount: Int, name: String) {
        self.threadCount = max(1, threadCount)
        for index in 0..<self.threadCount {
            let threadName = "\(name)-\(index)"
            let thread = Thread { [self] in
                setCurrentThreadName(threadName)
                work()
            }
            thread.name = "\(name)-\(index)"
            thread.start()
        }
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        condition.lock()
        queue.append(unowned)
        condition.signal()
        condition.unlock()
    }

    /// Lets the workers exit once the queue is empty; jobs enqueued later are still run by the caller's next enqueue.
    public func shutdown() {
        condition.lock()
        stopping = true
        condition.broadcast()
        condition.unlock()
    }

    private func work() {
        var batch: [UnownedJob] = []
        while true {
            condition.lock()
            while queue.isEmpty, !stopping { condition.wait() }
            if queue.isEmpty, stopping {
                condition.unlock()
                return
            }
            swap(&batch, &queue)
            condition.unlock()
            for job in batch { job.runSynchronously(on: asUnownedTaskExecutor()) }
            batch.removeAll(keepingCapacity: true)
        }
    }
}
