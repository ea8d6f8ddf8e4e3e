import Customers
import Foundation
import Testing

@Suite("Forget queue in the store")
struct ForgetQueueTests {
    @Test("a parked forget keeps its reason and place across a restart; delivering it removes it")
    func parkedSurvivesRestart() async throws {
        let directory = try ScratchDirectory()
        let clock: @Sendable () -> Int64 = { Int64(1_700_000_000) * 1_000_000 }
        do {
            let store = try CustomerStore(configuration: StoreConfiguration(path: directory.database), clock: clock)
            _ = try await store.apply(.forget(id: "first", queueUpstream: true))
            _ = try await store.apply(.forget(id: "second", queueUpstream: true))
            _ = try await store.apply(.forgetParked(id: "first", reason: "status 400 bad_request"))
            // Parking an id that is not queued changes nothing.
            _ = try await store.apply(.forgetParked(id: "never-queued", reason: "status 400"))
            #expect(store.forgetQueue.map(\.id) == ["first", "second"])
            store.close()
        }
        let reopened = try CustomerStore(configuration: StoreConfiguration(path: directory.database), clock: clock)
        defer { reopened.close() }
        let queue = reopened.forgetQueue
        #expect(queue.map(\.id) == ["first", "second"])
        #expect(queue.first?.parked == QueuedForget.Parked(reason: "status 400 bad_request", atSeconds: 1_700_000_000))
        #expect(queue.last?.parked == nil)
        _ = try await reopened.apply(.forgetDelivered(id: "first"))
        #expect(reopened.queuedForgets == ["second"])
    }
}
