@testable import Customers
import Foundation
import Testing

/// The bookkeeping that lets a follower step over what its own writer committed: only a recorded run of changes right
/// after what it applied may be skipped, never a gap, and a reload forgets everything.
@Suite("Own changes a follower steps over")
struct OwnChangesTests {
    @Test("a run of recorded changes right after the applied sequence is skipped, adjacent commits merged")
    func contiguousRun() {
        let own = OwnChanges()
        own.published(11...15, backendPID: 7)
        own.published(16...20, backendPID: 7)
        #expect(own.skip(after: 10, through: nil, senders: [], waitingMilliseconds: 0) == 20)
        #expect(own.skip(after: 10, through: 20, senders: [7], waitingMilliseconds: 0) == 20)
        #expect(own.skip(after: 20, through: nil, senders: [], waitingMilliseconds: 0) == nil)
    }

    @Test("a change of another replica before or inside the run stops it there")
    func gapStops() {
        let own = OwnChanges()
        own.published(12...15, backendPID: 7)
        own.published(17...20, backendPID: 7)
        #expect(own.skip(after: 10, through: nil, senders: [], waitingMilliseconds: 0) == nil)
        #expect(own.skip(after: 11, through: nil, senders: [], waitingMilliseconds: 0) == 15)
        #expect(own.skip(after: 11, through: 20, senders: [7], waitingMilliseconds: 0) == nil)
        #expect(own.skip(after: 16, through: 20, senders: [7], waitingMilliseconds: 0) == 20)
    }

    @Test("ranges the follower already passed are dropped; a range it is inside is skipped from where it is")
    func partlyApplied() {
        let own = OwnChanges()
        own.published(1...5, backendPID: 7)
        own.published(8...12, backendPID: 7)
        #expect(own.skip(after: 9, through: nil, senders: [], waitingMilliseconds: 0) == 12)
        #expect(own.skip(after: 12, through: 12, senders: [7], waitingMilliseconds: 0) == 12)
    }

    @Test("a reload forgets every recorded range")
    func discard() {
        let own = OwnChanges()
        own.published(1...5, backendPID: 7)
        own.discardAll()
        #expect(own.skip(after: 0, through: nil, senders: [], waitingMilliseconds: 0) == nil)
    }

    @Test("a NOTIFY from another session is never waited for")
    func otherSenderNotAwaited() {
        let own = OwnChanges()
        own.published(1...5, backendPID: 7)
        // A wait this long would be noticed; another sender returns at once.
        #expect(own.skip(after: 5, through: 9, senders: [8], waitingMilliseconds: 600_000) == nil)
        #expect(own.skip(after: 5, through: 9, senders: [7, 8], waitingMilliseconds: 600_000) == nil)
    }

    @Test("a NOTIFY from the writer's session waits for the writer to record its commit")
    func writerAwaited() {
        let own = OwnChanges()
        own.published(1...5, backendPID: 7)
        let writer = Thread { own.published(6...9, backendPID: 7) }
        writer.start()
        #expect(own.skip(after: 5, through: 9, senders: [7], waitingMilliseconds: 600_000) == 9)
    }

    @Test("only the newest ranges are kept for a follower far behind; it reads the older ones back")
    func bounded() {
        let own = OwnChanges()
        for index in 0..<Int64(OwnChanges.limit + 10) { own.published(index * 2 + 1...index * 2 + 1, backendPID: 7) }
        #expect(own.skip(after: 0, through: nil, senders: [], waitingMilliseconds: 0) == nil)
        let newest = Int64(OwnChanges.limit + 9) * 2 + 1
        #expect(own.skip(after: newest - 1, through: nil, senders: [], waitingMilliseconds: 0) == newest)
    }
}
