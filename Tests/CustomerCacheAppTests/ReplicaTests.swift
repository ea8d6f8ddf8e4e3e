import Foundation
import HTTPTestClient
import JSON
import Sockets
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
