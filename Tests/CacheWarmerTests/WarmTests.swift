import CacheWarmer
@testable import CustomerCacheApp
import Customers
import DigitalRiverAPI
import DigitalRiverSandbox
import Foundation
import HTTPTestClient
import JSON
import Logging
import Sockets
import Testing

/// Every sandbox customer is in the service: live ones at the sandbox's `updatedTime`, forgotten ones as tombstones.
private func expectAllPresent(_ sandbox: DigitalRiverSandbox, in service: TestService, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let store = try #require(service.store)
    var missing: [String] = []
    for id in sandbox.customerIDs {
        let object = try #require(sandbox.customer(id: id))
        guard let record = store.record(for: id) else {
            missing.append(id)
            continue
        }
        if object["requestToBeForgotten"]?.boolValue == true {
            #expect(record.state == .forgotten, "\(id)", sourceLocation: sourceLocation)
        } else {
            #expect(record.state == .live, "\(id)", sourceLocation: sourceLocation)
            #expect(record.updatedTime == Timestamp.microseconds(from: object["updatedTime"]?.stringValue ?? ""), "\(id)",
                    sourceLocation: sourceLocation)
        }
    }
    #expect(missing.isEmpty, "\(missing.count) customers missing, e.g. \(missing.prefix(5))", sourceLocation: sourceLocation)
}

private func checkpoint(_ service: TestService, _ name: String) throws -> WarmCheckpoint? {
    try service.store?.checkpoint(name).map { try #require(WarmCheckpoint(parsing: $0)) }
}

@Suite("warm-up job against the sandbox and a real service", .serialized)
struct WarmTests {
    @Test("10,000 customers are warmed, the checkpoint ends complete, and a repeated run changes nothing")
    func warmsTenThousand() async throws {
        let service = try TestService()
        defer { service.stop() }
        let sandbox = try startSandbox(seed: 10_000)
        defer { stop(sandbox) }
        let logs = LogCapture()

        let report = try await warm(try listConfiguration(sandbox: sandbox, service: service), logs: logs)
        #expect(report.outcome == .completed, "\(report.text)")
        #expect(report.exitCode == 0)
        #expect(report.counts.pages == 100)
        #expect(report.counts.loaded == 10_000)
        #expect(report.counts.applied + report.counts.forgotten == 10_000)
        #expect(report.counts.invalid == 0 && report.counts.errors == 0)
        #expect(listRequests(sandbox) == 100)
        try expectAllPresent(sandbox, in: service)
        let saved = try #require(try checkpoint(service, "warm:list:all"))
        #expect(saved.state == .complete)
        #expect(saved.after == sandbox.customerIDs.last)
        #expect(saved.pages == 100 && saved.customers == 10_000)

        let again = try await warm(try listConfiguration(sandbox: sandbox, service: service), logs: logs)
        #expect(again.outcome == .completed)
        #expect(again.counts.applied == 0)
        #expect(again.counts.older == 0)
        #expect(again.counts.unchanged == 10_000)
        #expect(listRequests(sandbox) == 200)

        // No PII and no key in the job's logs.
        let email = try #require(sandbox.customer(id: "cust-000001")?["email"]?.stringValue)
        #expect(!logs.text.contains(email))
        #expect(!logs.text.contains("@example."))
        #expect(!logs.text.contains(TestService.apiKey))
    }

    @Test("an interrupted run resumes after its checkpoint without fetching the first pages again")
    func interruptAndResume() async throws {
        let service = try TestService()
        defer { service.stop() }
        let sandbox = try startSandbox(seed: 10_000)
        defer { stop(sandbox) }

        var configuration = try listConfiguration(sandbox: sandbox, service: service)
        configuration.maxPages = 35
        let first = try await warm(configuration)
        #expect(first.outcome == .stopped)
        #expect(first.exitCode == 3)
        #expect(first.counts.pages == 35)
        #expect(first.counts.loaded == 3_500)
        #expect(listRequests(sandbox) == 35)
        let stopped = try #require(try checkpoint(service, "warm:list:all"))
        #expect(stopped.state == .running)
        #expect(stopped.after == sandbox.customerIDs[3_499])
        #expect(stopped.pages == 35)

        // Without --resume a new run would start over; with it, it continues after customer 3,500.
        configuration.maxPages = nil
        configuration.resume = true
        let second = try await warm(configuration)
        #expect(second.outcome == .completed, "\(second.text)")
        #expect(second.counts.resumedAfter == sandbox.customerIDs[3_499])
        #expect(second.counts.pages == 65)
        #expect(second.counts.loaded == 6_500)
        #expect(listRequests(sandbox) == 100, "no page fetched twice")
        try expectAllPresent(sandbox, in: service)
        let done = try #require(try checkpoint(service, "warm:list:all"))
        #expect(done.state == .complete && done.pages == 100 && done.customers == 10_000)

        // Resuming a completed run starts a new one from the first page.
        let third = try await warm(configuration)
        #expect(third.outcome == .completed)
        #expect(third.counts.resumedAfter == nil)
        #expect(third.counts.pages == 100 && third.counts.applied == 0)
    }

    @Test("a stop request finishes the loads in flight and leaves a resumable checkpoint")
    func stopRequest() async throws {
        let service = try TestService()
        defer { service.stop() }
        let sandbox = try startSandbox(seed: 3_000)
        defer { stop(sandbox) }
        var failures = SandboxFailures()
        failures.latencyMilliseconds = 10
        sandbox.setFailures(failures)

        let configuration = try listConfiguration(sandbox: sandbox, service: service)
        let job = try WarmJob(configuration: configuration, logger: Logger(label: "warm") { _ in LogCapture() })
        let run = Task { await job.run() }
        while job.statistics.snapshot.pages < 12 { try await Task.sleep(nanoseconds: 2_000_000) }
        job.requestStop()
        let report = await run.value
        #expect(report.outcome == .stopped)
        let saved = try #require(try checkpoint(service, "warm:list:all"))
        #expect(saved.state == .running)
        #expect(saved.pages == report.counts.pages)
        #expect(saved.after == sandbox.customerIDs[report.counts.pages * 100 - 1])
        #expect(report.counts.loaded == report.counts.pages * 100)

        var resumed = configuration
        resumed.resume = true
        let rest = try await warm(resumed)
        #expect(rest.outcome == .completed)
        #expect(listRequests(sandbox) == 30)
        try expectAllPresent(sandbox, in: service)
    }

    @Test("a cursor deleted at Digital River during the run makes the job step back a page, not fail")
    func cursorDeletedMidRun() async throws {
        let service = try TestService()
        defer { service.stop() }
        let sandbox = try startSandbox(seed: 1_000)
        defer { stop(sandbox) }
        var failures = SandboxFailures()
        failures.latencyMilliseconds = 100
        sandbox.setFailures(failures)
        let ids = sandbox.customerIDs

        let job = try WarmJob(configuration: try listConfiguration(sandbox: sandbox, service: service),
                              logger: Logger(label: "warm") { _ in LogCapture() })
        let run = Task { await job.run() }
        // Page 3 is in hand and the request for page 4 (startingAfter its last id) sits in the sandbox's latency.
        while job.statistics.snapshot.pages < 3 { try await Task.sleep(nanoseconds: 1_000_000) }
        try sandbox.delete(id: ids[299])
        let report = await run.value
        #expect(report.outcome == .completed, "\(report.text)")
        #expect(report.counts.retries >= 1)
        #expect(listRequests(sandbox) == 12, "10 pages, the refused one, and page 3 again")
        try expectAllPresent(sandbox, in: service)
    }

    @Test("a checkpoint whose cursor was deleted since makes --resume start over from the first page")
    func cursorDeletedBeforeResume() async throws {
        let service = try TestService()
        defer { service.stop() }
        let sandbox = try startSandbox(seed: 1_000)
        defer { stop(sandbox) }
        var configuration = try listConfiguration(sandbox: sandbox, service: service)
        configuration.maxPages = 5
        #expect(try await warm(configuration).outcome == .stopped)
        let after = try #require(try checkpoint(service, "warm:list:all")?.after)
        try sandbox.delete(id: after)

        configuration.maxPages = nil
        configuration.resume = true
        let report = try await warm(configuration)
        #expect(report.outcome == .completed, "\(report.text)")
        #expect(report.counts.pages == 10)
        #expect(report.counts.unchanged >= 499, "the first five pages were applied already")
        #expect(report.counts.loaded == 999)
        #expect(listRequests(sandbox) == 5 + 1 + 10)
        try expectAllPresent(sandbox, in: service)
    }

    @Test("a storm of 429s with Retry-After 1 still completes, paced")
    func rateLimitStorm() async throws {
        let service = try TestService()
        defer { service.stop() }
        let sandbox = try startSandbox(seed: 1_200)
        defer { stop(sandbox) }
        var failures = SandboxFailures()
        // Twelve pages at one 429 in two: a run with no 429 at all (which would prove nothing) is 1 in 4,096.
        failures.rateLimitRate = 0.5
        failures.retryAfterSeconds = 1
        sandbox.setFailures(failures)

        var configuration = try listConfiguration(sandbox: sandbox, service: service)
        configuration.requestsPerSecond = 20
        let report = try await warm(configuration)
        #expect(report.outcome == .completed, "\(report.text)")
        #expect(report.counts.loaded == 1_200)
        #expect(report.counts.rateLimited > 0)
        #expect(report.counts.upstreamRequests == listRequests(sandbox))
        #expect(report.counts.upstreamRequests == 12 + report.counts.rateLimited)
        try expectAllPresent(sandbox, in: service)
    }

    @Test("a webhook with newer data that arrives during the warm-up wins over the page fetched before it")
    func webhookDuringWarmUpWins() async throws {
        let service = try TestService()
        defer { service.stop() }
        let sandbox = try startSandbox(seed: 3_000, webhookURL: service.webhookURL)
        defer { stop(sandbox) }
        var failures = SandboxFailures()
        failures.latencyMilliseconds = 40
        sandbox.setFailures(failures)

        let configuration = try listConfiguration(sandbox: sandbox, service: service)
        let job = try WarmJob(configuration: configuration, logger: Logger(label: "warm") { _ in LogCapture() })
        let run = Task { await job.run() }
        // Page 1 is fetched (old version of cust-000002 in hand) but its batch of 10 pages is not loaded yet.
        while job.statistics.snapshot.pages < 1 { try await Task.sleep(nanoseconds: 1_000_000) }
        // A customer on page 1 (list order is by createdTime, not id) that is not marked forgotten.
        let target = try #require(sandbox.customerIDs.prefix(100).dropFirst(5).first { sandbox.customer(id: $0)?["requestToBeForgotten"]?.boolValue == false })
        let updated = try sandbox.update(id: target, ["email": "newer@example.net", "metadata": ["warmTest": "webhook"]])
        #expect(await sandbox.waitForWebhookQueueToDrain(timeoutSeconds: 30))
        #expect(sandbox.webhookStatistics.delivered >= 1)
        #expect(job.statistics.snapshot.loaded == 0, "the webhook must land before the stale page does")
        let report = await run.value
        #expect(report.outcome == .completed)
        #expect(report.counts.older >= 1)

        let record = try #require(service.store?.record(for: target))
        #expect(record.updatedTime == Timestamp.microseconds(from: updated["updatedTime"]?.stringValue ?? ""))
        #expect(service.storedText(target).contains("newer@example.net"))
        #expect(service.storedText(target).contains("warmTest"))
    }

    @Test("a forgotten customer in the list stays forgotten, without PII, whether forgotten before or after a warm")
    func forgottenStaysForgotten() async throws {
        let service = try TestService()
        defer { service.stop() }
        let sandbox = try startSandbox(seed: 500)
        defer { stop(sandbox) }
        let before = "cust-000010"
        let after = "cust-000020"
        for id in [before, after] {
            #expect(sandbox.customer(id: id)?["requestToBeForgotten"]?.boolValue == false)
        }
        let forgotBefore = try service.call("customer.forget", #"{"id":"\#(before)"}"#)
        #expect(forgotBefore["result"]?["forgotten"]?.boolValue == true)

        let first = try await warm(try listConfiguration(sandbox: sandbox, service: service))
        #expect(first.outcome == .completed)
        #expect(first.counts.forgotten >= 1)
        #expect(service.store?.record(for: after)?.state == .live)

        let forgotAfter = try service.call("customer.forget", #"{"id":"\#(after)"}"#)
        #expect(forgotAfter["result"]?["forgotten"]?.boolValue == true)
        let second = try await warm(try listConfiguration(sandbox: sandbox, service: service))
        #expect(second.outcome == .completed)
        #expect(second.counts.applied == 0)

        for id in [before, after] {
            let object = try #require(sandbox.customer(id: id))
            let stored = service.storedText(id)
            #expect(service.store?.record(for: id)?.state == .forgotten, "\(id)")
            for pii in [object["email"]?.stringValue, object["shipping"]?["name"]?.stringValue, object["shipping"]?["phone"]?.stringValue] {
                let value = try #require(pii)
                #expect(!stored.contains(value), "\(id) kept PII")
            }
            let answer = try service.call("customer.get", #"{"id":"\#(id)"}"#)
            #expect(answer["error"]?["code"]?.intValue == -31002)
        }
    }

    @Test("an incremental warm with --since only loads customers updated at or after it")
    func sinceFilter() async throws {
        let service = try TestService()
        defer { service.stop() }
        let sandbox = try startSandbox(seed: 1_000)
        defer { stop(sandbox) }
        let times = sandbox.customerIDs.compactMap { sandbox.customer(id: $0)?["updatedTime"]?.stringValue }.compactMap(Timestamp.microseconds(from:)).sorted()
        let median = times[times.count / 2]
        let since = Timestamp.string(fromMicroseconds: median)
        let expected = times.filter { $0 >= median }.count

        let report = try await warm(try listConfiguration(sandbox: sandbox, service: service, since: since))
        #expect(report.outcome == .completed, "\(report.text)")
        #expect(report.counts.loaded == expected)
        #expect(report.checkpointName == "warm:list:since=\(since)")
        #expect(try checkpoint(service, report.checkpointName)?.since == since)
        #expect(service.store?.record(for: sandbox.customerIDs.first { id in
            (sandbox.customer(id: id)?["updatedTime"]?.stringValue).flatMap(Timestamp.microseconds(from:)).map { $0 < median } == true
        } ?? "") == nil)
    }

    @Test("ids-file mode reads through customer.get: found, unknown, gone, duplicates; resumable; a rerun costs no upstream reads")
    func idsThroughCustomerGet() async throws {
        let sandbox = try startSandbox(seed: 300)
        defer { stop(sandbox) }
        let service = try TestService(upstreamURL: sandbox.baseURL)
        defer { service.stop() }
        let gone = "cust-000007"
        _ = try service.call("customer.forget", #"{"id":"\#(gone)"}"#)

        var lines = ["# company user ids", ""]
        lines += sandbox.customerIDs.prefix(250).map { "  \($0)\t" }
        lines += ["unknown-1", "unknown-2", "unknown-3", "unknown-4", "unknown-5", "cust-000001", "cust-000002", "\r"]
        let list = IDList(parsing: lines.joined(separator: "\n"))
        #expect(list.ids.count == 255)
        #expect(list.duplicates == 2)

        var configuration = WarmConfiguration(source: .ids(list), rpcURL: service.rpcURL)
        configuration.requestsPerSecond = 0
        configuration.maxPages = 1
        let first = try await warm(configuration)
        #expect(first.outcome == .stopped)
        #expect(first.counts.found + first.counts.gone == 100)
        let name = WarmCheckpoint.idsName(list.ids)
        #expect(try checkpoint(service, name)?.position == 100)

        configuration.maxPages = nil
        configuration.resume = true
        let second = try await warm(configuration)
        #expect(second.outcome == .completed, "\(second.text)")
        #expect(second.counts.resumedAfter == "id #100")
        // Customers the sandbox itself marks requestToBeForgotten are stored as tombstones, so they answer "gone" too.
        let markedForgotten = sandbox.customerIDs.prefix(250).filter { $0 != gone && sandbox.customer(id: $0)?["requestToBeForgotten"]?.boolValue == true }
        #expect(first.counts.found + second.counts.found == 249 - markedForgotten.count)
        #expect(second.counts.notFound == 5)
        #expect(first.counts.gone + second.counts.gone == 1 + markedForgotten.count)
        #expect(second.counts.errors == 0)
        #expect(retrieveRequests(sandbox) == 254, "each id read upstream once; the forgotten one not at all")
        #expect(try checkpoint(service, name)?.state == .complete)
        for id in sandbox.customerIDs.prefix(250) where id != gone {
            #expect(service.store?.record(for: id)?.state == (markedForgotten.contains(id) ? .forgotten : .live), "\(id)")
        }

        // Everything cached or negatively cached: a rerun asks Digital River nothing.
        configuration.resume = false
        let third = try await warm(configuration)
        #expect(third.outcome == .completed)
        #expect(third.counts.found == 249 - markedForgotten.count)
        #expect(third.counts.notFound == 5 && third.counts.gone == 1 + markedForgotten.count)
        #expect(retrieveRequests(sandbox) == 254)
    }

    @Test("ids are paced: one token per id, batches no larger than a second's budget")
    func idsArePaced() async throws {
        let sandbox = try startSandbox(seed: 40)
        defer { stop(sandbox) }
        let service = try TestService(upstreamURL: sandbox.baseURL)
        defer { service.stop() }
        let list = IDList(parsing: sandbox.customerIDs.joined(separator: "\n"))
        var configuration = WarmConfiguration(source: .ids(list), rpcURL: service.rpcURL)
        configuration.requestsPerSecond = 20
        #expect(configuration.idBatchSize == 20)
        let started = Date()
        let report = try await warm(configuration)
        #expect(report.outcome == .completed)
        #expect(report.counts.found == 40)
        #expect(report.counts.pages == 2)
        // The bucket starts with 20 tokens; the next 20 take a second to accrue.
        #expect(Date().timeIntervalSince(started) >= 0.9)
    }

    @Test("a keep-alive connection the service closed while idle is replaced transparently")
    func staleKeepAlive() async throws {
        let sandbox = try startSandbox(seed: 6)
        defer { stop(sandbox) }
        let service = try TestService(upstreamURL: sandbox.baseURL, settings: ["idle-timeout-ms": "150"])
        defer { service.stop() }
        var configuration = WarmConfiguration(source: .ids(IDList(parsing: sandbox.customerIDs.joined(separator: "\n"))), rpcURL: service.rpcURL)
        configuration.requestsPerSecond = 2
        configuration.idBatchesInFlight = 1
        let report = try await warm(configuration)
        #expect(report.outcome == .completed, "\(report.text)")
        #expect(report.counts.pages == 3)
        #expect(report.counts.retries == 0 && report.counts.errors == 0)
    }

    @Test("caller tokens: the job sends its bearer token, and a wrong one fails the run at once (exit 1)")
    func callerTokens() async throws {
        let service = try TestService(tokens: "warm-job s3cret-token-0123456789 cache.load,cache.checkpoint")
        defer { service.stop() }
        let sandbox = try startSandbox(seed: 200)
        defer { stop(sandbox) }
        var configuration = try listConfiguration(sandbox: sandbox, service: service)
        configuration.rpcToken = "wrong-token-0123456789"
        let logs = LogCapture()
        let refused = try await warm(configuration, logs: logs)
        #expect(refused.outcome == .failed)
        #expect(refused.exitCode == 1)
        #expect(refused.failure?.contains("unauthorized") == true)
        #expect(!logs.text.contains("wrong-token-0123456789"))

        configuration.rpcToken = "s3cret-token-0123456789"
        let accepted = try await warm(configuration, logs: logs)
        #expect(accepted.outcome == .completed, "\(accepted.text)")
        #expect(accepted.counts.applied + accepted.counts.forgotten == 200)
        #expect(!logs.text.contains("s3cret-token-0123456789"))
    }

    @Test("Digital River refusing the key fails the run at once, without retries")
    func upstreamRefusesKey() async throws {
        let service = try TestService()
        defer { service.stop() }
        var sandboxConfiguration = SandboxConfiguration(listen: try SocketAddress(parsing: "127.0.0.1:0"))
        sandboxConfiguration.seed = 10
        sandboxConfiguration.apiKey = "sk_test_the_real_one"
        let sandbox = DigitalRiverSandbox(configuration: sandboxConfiguration, logger: Logger(label: "sandbox") { _ in LogCapture() })
        try sandbox.start()
        defer { stop(sandbox) }
        let report = try await warm(try listConfiguration(sandbox: sandbox, service: service))
        #expect(report.outcome == .failed)
        #expect(report.failure?.contains("unauthorized") == true)
        #expect(report.counts.retries == 0)
        #expect(listRequests(sandbox) == 1)
    }

    @Test("a load over the service's body limit is split, and the checkpoint rides only on the last part")
    func splitsOversizedLoads() async throws {
        let service = try TestService(settings: ["max-body-bytes": "65536"])
        defer { service.stop() }
        let sandbox = try startSandbox(seed: 1_000)
        defer { stop(sandbox) }
        var configuration = try listConfiguration(sandbox: sandbox, service: service)
        configuration.maxLoadBytes = 1_000_000
        let report = try await warm(configuration)
        #expect(report.outcome == .completed, "\(report.text)")
        #expect(report.counts.loaded == 1_000)
        try expectAllPresent(sandbox, in: service)
        #expect(try checkpoint(service, "warm:list:all")?.state == .complete)
    }
}
