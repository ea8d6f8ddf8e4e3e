@testable import Customers
import Dispatch
import Testing

/// The package's one backoff formula, which the store's writer, Digital River retries, forget delivery, the warm
/// job and the emulator's webhook retries all use.
@Suite("RetrySchedule: the one backoff")
struct RetryScheduleTests {
    @Test("doubling from first, capped at maximum; the first failure waits first")
    func doubling() {
        #expect((1...6).map { RetrySchedule.delay(afterFailures: $0, first: 0.2, maximum: 1) } == [0.2, 0.4, 0.8, 1, 1, 1])
        #expect(RetrySchedule.delay(afterFailures: 0, first: 0.5, maximum: 10) == 0.5)
        #expect(RetrySchedule.delay(afterFailures: 10_000, first: 1, maximum: 600) == 600)
    }

    @Test("jitter draws from [delay × (1 − jitter), delay]")
    func jitter() {
        for _ in 0..<200 {
            let delay = RetrySchedule.delay(afterFailures: 3, first: 1, maximum: 30, jitter: 0.25)
            #expect(delay >= 3 && delay <= 4)
        }
        // Out-of-range jitter is clamped: never negative, never above the ceiling.
        for _ in 0..<50 {
            let delay = RetrySchedule.delay(afterFailures: 2, first: 1, maximum: 30, jitter: 7)
            #expect(delay >= 0 && delay <= 2)
        }
    }

    @Test("the schedule waits nothing before a failure, then follows the formula")
    func schedule() {
        var schedule = RetrySchedule(first: 1, maximum: 4)
        let now = DispatchTime.now()
        #expect(!schedule.isScheduled)
        #expect([schedule.failed(at: now), schedule.failed(at: now), schedule.failed(at: now), schedule.failed(at: now)] == [1, 2, 4, 4])
        #expect(schedule.isScheduled && !schedule.isDue(at: now))
        schedule.reset()
        #expect(!schedule.isScheduled)
    }
}
