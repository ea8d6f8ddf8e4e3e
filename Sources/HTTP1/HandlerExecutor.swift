import Foundation
import Sockets
import Synchronization

/// The bounded pool that runs `.async` handlers off the event loops. It is the handlers' preferred task executor,
/// so their work (and whatever resumes after an await) lands on these threads rather than on Swift's global pool,
/// where any blocking caller elsewhere in the process could starve the server.
/// Workers start lazily, one more only when a job arrives and every started worker is busy: an idle service (or a
/// listener whose routes never go async) keeps no parked threads and their stacks, and a loaded one reaches
/// `threadCount` within its first concurrent jobs.
public final class HandlerExecutor: TaskExecutor, @unchecked Sendable {
    // @unchecked: the mutable state (`queue`, `stopping`, `started`, `waiting`) is guarded by `condition`.
    private let condition = NSCondition()
    private var queue: [UnownedJob] = []
    private var stopping = false
    private var started = 0
    private var waiting = 0
    private let name: String
    public let threadCount: Int

    /// A pool of at most `threadCount` worker threads named `name-N`, started as work needs them.
    public init(threadCount: Int, name: String) {
        self.threadCount = max(1, threadCount)
        self.name = name
    }

    /// Worker threads started so far (at most `threadCount`).
    public var startedThreads: Int {
        condition.lock()
        defer { condition.unlock() }
        return started
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        condition.lock()
        queue.append(unowned)
        // A waiting worker takes the whole queue when it wakes; only with none waiting does a new one pay.
        let index = waiting == 0 && started < threadCount ? started : nil
        if index != nil { started += 1 } else { condition.signal() }
        condition.unlock()
        if let index { startWorker(index) }
    }

    private func startWorker(_ index: Int) {
        let threadName = "\(name)-\(index)"
        let thread = Thread { [self] in
            setCurrentThreadName(threadName)
            work()
        }
        thread.name = threadName
        thread.start()
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
            while queue.isEmpty, !stopping {
                waiting += 1
                condition.wait()
                waiting -= 1
            }
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
