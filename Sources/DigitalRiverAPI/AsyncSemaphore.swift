/// Bounds how many requests are in flight to Digital River, across every task sharing one client.
///
/// An actor rather than a lock, so waiting suspends a task instead of blocking a thread. Waiters are served first in,
/// first out, so no caller starves. A waiter whose task is cancelled leaves the queue at once and throws
/// `CancellationError`; a permit is never lost to a cancelled waiter, because a permit is handed over only by
/// resuming a waiter that is still queued.
actor AsyncSemaphore {
    private var available: Int
    private var waiters: [(id: UInt64, continuation: CheckedContinuation<Void, any Error>)] = []
    private var nextWaiterID: UInt64 = 0

    init(permits: Int) {
        available = max(1, permits)
    }

    /// Takes a permit, waiting for one if needed. Throws `CancellationError` when the task is cancelled before it
    /// gets one (and then holds nothing). Every successful return must be paired with one `release()`.
    func acquire() async throws {
        try Task.checkCancellation()
        if available > 0 {
            available -= 1
            return
        }
        let id = nextWaiterID
        nextWaiterID &+= 1
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                // Runs on this actor before suspending: if cancellation already fired, its handler found no waiter
                // to remove, so honour it here instead of queueing a waiter nobody will cancel.
                if Task.isCancelled {
                    continuation.resume(throwing: CancellationError())
                } else {
                    waiters.append((id, continuation))
                }
            }
        } onCancel: {
            Task { await self.cancelWaiter(id) }
        }
    }

    /// Returns a permit: straight to the longest-waiting task if there is one.
    func release() {
        if waiters.isEmpty {
            available += 1
        } else {
            waiters.removeFirst().continuation.resume()
        }
    }

    private func cancelWaiter(_ id: UInt64) {
        guard let index = waiters.firstIndex(where: { $0.id == id }) else { return }
        waiters.remove(at: index).continuation.resume(throwing: CancellationError())
    }

    /// For tests and diagnostics.
    var waiting: Int { waiters.count }
    var permitsAvailable: Int { available }
}
