import Customers
import Foundation
import HTTPTestClient
import JSON
import PostgreSQL
import Testing

/// A fresh directory per test, removed afterwards.
final class ScratchDirectory {
    let path: String
    init() throws {
        path = NSTemporaryDirectory() + "customers-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    var database: String { path + "/customers.sqlite" }
}

/// The store's backends under test: SQLite always, PostgreSQL when scripts/postgres started a server (scripts/test does).
enum StoreBackendKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite
    case postgres

    static var available: [StoreBackendKind] { TestDatabase.isAvailable ? [.sqlite, .postgres] : [.sqlite] }

    var testDescription: String { rawValue }
}

/// Where one test's store lives (a scratch directory, or a PostgreSQL schema of its own); reopening uses the same place.
final class StoreLocation: @unchecked Sendable {
    // @unchecked: immutable after init.
    let configuration: StoreConfiguration
    private let directory: ScratchDirectory
    let database: TestDatabase?

    init(_ kind: StoreBackendKind) throws {
        directory = try ScratchDirectory()
        var configuration = StoreConfiguration(path: directory.database)
        if kind == .postgres {
            let database = try TestDatabase()
            configuration.database = database.configuration
            self.database = database
        } else {
            database = nil
        }
        self.configuration = configuration
    }

    func open(clock: (@Sendable () -> Int64)? = nil, onCommit: @escaping @Sendable (Double, Int) -> Void = { _, _ in },
              configure: (inout StoreConfiguration) -> Void = { _ in }) throws -> CustomerStore {
        var configuration = configuration
        configure(&configuration)
        if let clock { return try CustomerStore(configuration: configuration, clock: clock, onCommit: onCommit) }
        return try CustomerStore(configuration: configuration, onCommit: onCommit)
    }
}

@Suite("Customer store (SQLite and PostgreSQL)")
struct CustomerStoreTests {
    @Test("applied events survive a restart: apply, close, reopen, read back", arguments: StoreBackendKind.available)
    func restartPersistence(kind: StoreBackendKind) async throws {
        let location = try StoreLocation(kind)
        do {
            let store = try location.open()
            #expect(try await store.apply(.event(try Fixture.decoded(Fixture.event("e1", object: Fixture.customer("c1"))))) == .applied)
            #expect(try await store.apply(.event(try Fixture.decoded(Fixture.event("e2", type: "customer.deleted", object: ["id": "c2"])))) == .deleted)
            #expect(try await store.apply(.forget(id: "c3", queueUpstream: true)) == .forgotten)
            _ = try await store.apply(.setCheckpoint(name: "warm", value: "cursor-1"))
            store.close()
        }
        let reopened = try location.open()
        defer { reopened.close() }
        #expect(reopened.record(for: "c1")?.state == .live)
        let body = String(decoding: reopened.record(for: "c1")?.body ?? [], as: UTF8.self)
        #expect(body.contains("a@example.com"))
        #expect(reopened.record(for: "c2")?.state == .deleted)
        #expect(reopened.record(for: "c3")?.state == .forgotten)
        #expect(reopened.checkpoint("warm") == "cursor-1")
        #expect(reopened.queuedForgets == ["c3"])
        // Dedup is persisted too: the same event id after restart is a duplicate.
        #expect(try await reopened.apply(.event(try Fixture.decoded(Fixture.event("e1", object: Fixture.customer("c1"))))) == .duplicate)
    }

    @Test("a duplicate storm from 50 concurrent senders applies each event exactly once", arguments: StoreBackendKind.available)
    func duplicateStorm(kind: StoreBackendKind) async throws {
        let location = try StoreLocation(kind)
        let store = try location.open()
        defer { store.close() }
        let events = try (0..<20).map { index in
            try Fixture.decoded(Fixture.event("event-\(index)", object: Fixture.customer("c\(index)")))
        }
        let outcomes = try await withThrowingTaskGroup(of: [ApplyOutcome].self) { group in
            for _ in 0..<50 {
                group.addTask { try await store.apply(events.map { StoreOperation.event($0) }) }
            }
            var all: [ApplyOutcome] = []
            for try await outcome in group { all += outcome }
            return all
        }
        #expect(outcomes.filter { $0 == .applied }.count == 20)
        #expect(outcomes.filter { $0 == .duplicate }.count == 20 * 49)
        #expect(store.count == 20)
    }

    @Test("the forget purge really removes PII bytes from the database files")
    func forgetErasesBytes() async throws {
        let directory = try ScratchDirectory()
        let store = try CustomerStore(configuration: StoreConfiguration(path: directory.database))
        let marker = "unique-marker-\(UUID().uuidString)@example.com"
        _ = try await store.apply(.event(try Fixture.decoded(Fixture.event("e1", object: Fixture.customer("c1", email: marker)))))
        _ = try await store.apply(.forget(id: "c1", queueUpstream: false))
        store.close()
        let markerBytes = Data(marker.utf8)
        for suffix in ["", "-wal"] {
            if let contents = FileManager.default.contents(atPath: directory.database + suffix) {
                #expect(contents.range(of: markerBytes) == nil, "marker found in \(suffix.isEmpty ? "db" : suffix)")
            }
        }
    }

    @Test("concurrent writers are grouped into fewer commits than operations", arguments: StoreBackendKind.available)
    func groupCommit(kind: StoreBackendKind) async throws {
        let location = try StoreLocation(kind)
        let commits = CommitCounter()
        let store = try location.open(onCommit: { _, operations in
            commits.record(operations)
        })
        defer { store.close() }
        try await withThrowingTaskGroup(of: ApplyOutcome.self) { group in
            for index in 0..<400 {
                group.addTask { try await store.apply(.event(try Fixture.decoded(Fixture.event("e\(index)", object: Fixture.customer("c\(index)"))))) }
            }
            for try await outcome in group { #expect(outcome == .applied) }
        }
        #expect(commits.operations == 400)
        #expect(commits.commits < 400)
    }

    @Test("writes after close fail with a typed error instead of hanging", arguments: StoreBackendKind.available)
    func closed(kind: StoreBackendKind) async throws {
        let location = try StoreLocation(kind)
        let store = try location.open()
        store.close()
        await #expect(throws: StoreError.self) { try await store.apply(.markStale(id: "x")) }
    }

    @Test("a store that cannot open reports openFailed")
    func cannotOpen() {
        #expect(throws: StoreError.self) { try CustomerStore(configuration: StoreConfiguration(path: "/nonexistent-dir/x/y.sqlite")) }
    }
}

/// Counts commits from the store's commit hook, across threads.
final class CommitCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var _commits = 0
    private var _operations = 0
    func record(_ operations: Int) {
        lock.lock(); _commits += 1; _operations += operations; lock.unlock()
    }
    var commits: Int { lock.lock(); defer { lock.unlock() }; return _commits }
    var operations: Int { lock.lock(); defer { lock.unlock() }; return _operations }
}

@Suite("Deduplication retention")
struct DedupRetentionTests {
    @Test("event ids are forgotten after the retention period, and remembered within it", arguments: StoreBackendKind.available)
    func retention(kind: StoreBackendKind) async throws {
        let location = try StoreLocation(kind)
        let clock = MovableClock(1_700_000_000_000_000)
        let store = try location.open(clock: { clock.now }, configure: { $0.dedupRetentionSeconds = 3600 })
        defer { store.close() }
        let event = try Fixture.decoded(Fixture.event("e1", object: Fixture.customer("c1")))
        #expect(try await store.apply(.event(event)) == .applied)
        clock.advance(seconds: 1800)
        #expect(try await store.apply(.event(event)) == .duplicate)
        clock.advance(seconds: 3600)
        // Any commit after the retention prunes; the next delivery of e1 is judged by the rules, not as a duplicate.
        _ = try await store.apply(.event(try Fixture.decoded(Fixture.event("e2", object: Fixture.customer("c2")))))
        #expect(try await store.apply(.event(event)) == .unchanged)
    }
}

/// A clock the test moves, in microseconds.
final class MovableClock: @unchecked Sendable {
    // @unchecked: `value` is guarded by `lock`.
    private let lock = NSLock()
    private var value: Int64
    init(_ start: Int64) { value = start }
    var now: Int64 { lock.lock(); defer { lock.unlock() }; return value }
    func advance(seconds: Int64) { lock.lock(); value += seconds * 1_000_000; lock.unlock() }
}

@Suite("State counts")
struct StateCountTests {
    @Test("counts per state follow applies, deletes and forgets, and survive a restart", arguments: StoreBackendKind.available)
    func counts(kind: StoreBackendKind) async throws {
        let location = try StoreLocation(kind)
        do {
            let store = try location.open()
            _ = try await store.apply(.event(try Fixture.decoded(Fixture.event("e1", object: Fixture.customer("c1")))))
            _ = try await store.apply(.event(try Fixture.decoded(Fixture.event("e2", object: Fixture.customer("c2")))))
            #expect(store.countsByState() == [.live: 2])
            _ = try await store.apply(.event(try Fixture.decoded(Fixture.event("e3", type: "customer.deleted", created: "2030-01-01T00:00:00Z", object: ["id": "c1"]))))
            _ = try await store.apply(.forget(id: "c2", queueUpstream: false))
            #expect(store.countsByState() == [.live: 0, .deleted: 1, .forgotten: 1])
            store.close()
        }
        let reopened = try location.open()
        defer { reopened.close() }
        #expect(reopened.countsByState() == [.deleted: 1, .forgotten: 1])
    }
}
