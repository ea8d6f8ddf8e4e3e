import Foundation
import HTTPTestClient
import JSON
import Sockets
import Synchronization
import Testing
import WebhookSignature
#if canImport(Glibc)
import Glibc
#endif

@Suite("Replicas on one PostgreSQL (processes)",
       .enabled(if: TestDatabase.isAvailable && builtCustomerCacheExecutable != nil, "needs the built binary and CUSTOMER_CACHE_TEST_DATABASE_URL"))
struct ReplicaTests {
    @Test("webhooks spread round-robin over three serve replicas: every replica converges, each event applies once, no password in any log")
    func roundRobinConverges() throws {
        let binary = try #require(builtCustomerCacheExecutable)
        let database = try TestDatabase()
        let secret = "whsec_replica_test"
        let replicas = try (0..<3).map { _ in try ServeReplica(binary: binary, database: database, secret: secret) }
        var statuses: [String: Int] = [:]
        for index in 0..<60 {
            let customer = "c\(index % 10)"
            let minute = String(format: "%02d", index / 10)
            let object = #"{"id":"\#(customer)","email":"v\#(index / 10)@example.com","liveMode":false,"updatedTime":"2024-01-01T00:\#(minute):00Z"}"#
            let body = Events.event("evt-\(index)", object: object)
            // Each event goes to one replica, and a redelivery of it to the next one.
            for target in [index % 3, (index + 1) % 3] {
                let header = WebhookSigner.header(secret: secret, timestamp: Int64(Date().timeIntervalSince1970), body: body)
                let response = try RawClient(replicas[target].webhook).exchange(
                    method: "POST", path: "/webhooks/digitalriver", headers: [("Content-Type", "application/json"), ("DigitalRiver-Signature", header)], body: body)
                let status = (try? JSONValue.parse(response?.body ?? []))?["status"]?.stringValue ?? "http \(response?.status ?? 0)"
                statuses[status, default: 0] += 1
            }
        }
        #expect(statuses["applied"] == 60)
        #expect(statuses["duplicate"] == 60)
        let deadline = Date().addingTimeInterval(30)
        func converged() -> Bool { replicas.allSatisfy { replica in (0..<10).allSatisfy { replica.email(of: "c\($0)") == "v5@example.com" } } }
        while !converged(), Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        #expect(converged())
        #expect(replicas[0].email(of: "c3", consistency: "store") == "v5@example.com")
        let readiness = try RawClient(replicas[2].rpc).exchange(method: "GET", path: "/readyz")
        #expect(readiness?.status == 200)
        #expect(readiness?.bodyText.contains("changes behind") == true)
        let password = try #require(database.password)
        for replica in replicas {
            let log = replica.stop()
            #expect(!log.contains(password))
        }
    }

    @Test("concurrent customer.ensure of one new id on three replicas: one create at Digital River, one created:true in the cluster")
    func ensureCreatesOnceAcrossReplicas() throws {
        let binary = try #require(builtCustomerCacheExecutable)
        let database = try TestDatabase()
        let upstream = try UpstreamSandbox(seed: 0)
        let replicas = try (0..<3).map { _ in try ServeReplica(binary: binary, database: database, secret: "whsec_replica_test", upstream: upstream) }
        // Every upstream call takes a while, so all three replicas are inside their ensure at the same moment.
        upstream.fail(latencyMilliseconds: 300)
        let calls = 30
        let answers = Mutex<[(result: JSONValue?, error: JSONValue?)]>([])
        let addresses = replicas.map(\.rpc)
        DispatchQueue.concurrentPerform(iterations: calls) { index in
            let answer = ServeReplica.call(addresses[index % 3], "customer.ensure", #"{"id":"race-1","email":"race@example.com","locale":"en_US"}"#)
            answers.withLock { $0.append(answer) }
        }
        let all = answers.withLock { $0 }
        #expect(all.count == calls)
        #expect(all.allSatisfy { $0.result?["customer"]?["id"]?.stringValue == "race-1" }, "every call is answered with the customer: \(all.compactMap(\.error))")
        #expect(all.filter { $0.result?["created"] == .bool(true) }.count == 1)
        #expect(upstream.count("POST /customers") == 1)
        #expect(upstream.sandbox.customerCount == 1)
        // A later ensure anywhere finds it without asking Digital River to create it again.
        upstream.fail()
        #expect(replicas[2].call("customer.ensure", #"{"id":"race-1","email":"race@example.com"}"#).result?["created"] == .bool(false))
        #expect(upstream.count("POST /customers") == 1)
        for replica in replicas { _ = replica.stop() }
    }

    @Test("a forget queued on a replica that is then killed -9 is delivered once, by another replica, when Digital River is back")
    func forgetSurvivesItsReplica() throws {
        let binary = try #require(builtCustomerCacheExecutable)
        let database = try TestDatabase()
        let upstream = try UpstreamSandbox(seed: 0)
        try upstream.sandbox.create(JSONObject([("id", "forget-me"), ("email", "forget@example.com")]))
        let replicas = try (0..<3).map { _ in try ServeReplica(binary: binary, database: database, secret: "whsec_replica_test", upstream: upstream) }
        upstream.fail(serverErrors: 1)
        let answer = replicas[0].call("customer.forget", #"{"id":"forget-me"}"#)
        #expect(answer.result?["upstream"]?.stringValue == "queued", "\(String(describing: answer.error))")
        kill(replicas[0].process.processIdentifier, SIGKILL)
        replicas[0].process.waitUntilExit()
        let survivors = Array(replicas[1...])
        // Their readiness describes the cluster's queue, which holds the dead replica's entry.
        #expect(waitUntil(seconds: 15) {
            survivors.allSatisfy { $0.readinessText().contains("1 forget(s) waiting for Digital River (queue shared by every replica)") }
        })
        #expect(survivors.allSatisfy { $0.metric("customer_cache_forget_queue") == 1 })
        let updatesBefore = upstream.count("POST /customers/{id}")
        upstream.fail()
        let delivered = waitUntil(seconds: 60) {
            upstream.sandbox.customer(id: "forget-me")?["requestToBeForgotten"] == .bool(true)
                && survivors.allSatisfy { $0.readinessText().contains("no forget pending upstream") }
        }
        #expect(delivered)
        // Several more rounds on both survivors: nobody delivers it again.
        Thread.sleep(forTimeInterval: 4)
        #expect(upstream.count("POST /customers/{id}") - updatesBefore == 1)
        #expect(survivors.map { $0.metric("customer_cache_forget_deliveries_total", labels: #"outcome="delivered""#) }.reduce(0, +) == 1)
        #expect(survivors.allSatisfy { $0.metric("customer_cache_forget_queue") == 0 })
        for replica in survivors { _ = replica.stop() }
    }

    @Test("a warm-up checkpoint saved through one replica is what cache.checkpoint answers through another")
    func checkpointIsShared() throws {
        let binary = try #require(builtCustomerCacheExecutable)
        let database = try TestDatabase()
        let replicas = try (0..<2).map { _ in try ServeReplica(binary: binary, database: database, secret: "whsec_replica_test") }
        #expect(replicas[1].call("cache.checkpoint", #"{"name":"warm-list"}"#).result?["value"] == .null)
        _ = replicas[0].call("cache.load", #"{"customers":[],"checkpoint":{"name":"warm-list","value":"cursor-7"}}"#)
        #expect(replicas[1].call("cache.checkpoint", #"{"name":"warm-list"}"#).result?["value"]?.stringValue == "cursor-7")
        _ = replicas[1].call("cache.load", #"{"customers":[],"checkpoint":{"name":"warm-list","value":null}}"#)
        #expect(replicas[0].call("cache.checkpoint", #"{"name":"warm-list"}"#).result?["value"] == .null)
        for replica in replicas { _ = replica.stop() }
    }

    /// Polls `condition` every 50 ms for up to `seconds`.
    private func waitUntil(seconds: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while !condition() {
            guard Date() < deadline else { return false }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return true
    }

    @Test("a URL carrying a password is refused at start, without echoing it")
    func passwordInURLRefused() throws {
        let binary = try #require(builtCustomerCacheExecutable)
        let process = Process()
        process.executableURL = binary
        process.arguments = ["serve", "--webhook-listen", "127.0.0.1:0", "--rpc-listen", "127.0.0.1:0",
                             "--database-url", "postgres://cache:pa55word-in-url@127.0.0.1:1/db"]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = errors
        try process.run()
        process.waitUntilExit()
        let output = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus != 0)
        #expect(output.contains("database-url"))
        #expect(!output.contains("pa55word-in-url"))
    }
}
