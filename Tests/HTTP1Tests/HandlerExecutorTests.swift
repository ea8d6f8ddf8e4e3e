import Testing
@testable import HTTP1

@Suite("Handler executor starts workers only when work needs them")
struct HandlerExecutorTests {
    @Test("no thread before the first job; every job runs; never more threads than threadCount")
    func lazyWorkers() async {
        let executor = HandlerExecutor(threadCount: 3, name: "test-lazy")
        defer { executor.shutdown() }
        #expect(executor.startedThreads == 0)

        let first = await Task(executorPreference: executor) { 41 + 1 }.value
        #expect(first == 42)
        #expect(executor.startedThreads >= 1)

        let tasks = (0..<64).map { value in Task(executorPreference: executor) { value * 2 } }
        var sum = 0
        for task in tasks { sum += await task.value }
        #expect(sum == (0..<64).reduce(0) { $0 + $1 * 2 })
        #expect((1...3).contains(executor.startedThreads))
    }
}
