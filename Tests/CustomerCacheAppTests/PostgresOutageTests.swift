@testable import CustomerCacheApp
import Customers
import Foundation
import HTTPTestClient
import JSON
import Sockets
import Testing

/// One service on a PostgreSQL server of the test's own, which the test stops and restarts.
private struct OutageFixture {
    let server: TestPostgresServer
    let database: TestDatabase
    let live: LiveService
    let logs = LogCapture()

    /// `beforeStart` runs once the server and the schema exist, before the service starts.
    init(settings: [String: String] = [:], beforeStart: (TestPostgresServer, TestDatabase) throws -> Void = { _, _ in }) throws {
        server = try TestPostgresServer()
        database = try server.database()
        try beforeStart(server, database)
        var all = ["database-url": database.url]
        for (key, value) in settings { all[key] = value }
        live = try LiveService(settings: all, environment: [
            AppConfiguration.webhookSecretsEnvironmentName: LiveService.secret,
            AppConfiguration.databasePasswordEnvironmentName: database.password ?? "",
        ], logHandler: logs)
    }

    func readiness(_ address: SocketAddress) throws -> WireResponse {
        try #require(try RawClient(address).exchange(method: "GET", path: "/readyz"))
    }

    func post(_ eventID: String, customer: String, email: String) throws -> WireResponse? {
        try live.postEvent(Events.event(eventID, object: Events.customer(customer, email: email)))
    }
}

@Suite("PostgreSQL down or restarting (one service, a server of its own)", .serialized,
       .enabled(if: TestPostgresServer.isAvailable, "needs a PostgreSQL server to start (scripts/setup installs it)"))
struct PostgresOutageTests {
    @Test("PostgreSQL down: reads from memory, webhook /readyz fails naming the store unreachable without any write, the RPC one stays ready, writes 503 / -31007 with a retry hint; all recover when it returns")
    func outageWithoutTraffic() throws {
        let fixture = try OutageFixture(settings: ["database-reconnect-max-ms": "500"])
        defer { fixture.live.stop() }
        let live = fixture.live
        #expect(try fixture.post("before", customer: "kept", email: "kept@example.com")?.status == 200)
        #expect(try fixture.readiness(live.webhook).status == 200)

        // Down for good (until resumed): `restart` with a long pause runs on its own thread.
        let back = DispatchSemaphore(value: 0)
        let server = fixture.server
        Thread { try? server.restart(downSeconds: 12); back.signal() }.start()
        // No write is sent: the writer's own look at its idle connection must notice.
        #expect(try eventually(within: 15) { try fixture.readiness(live.webhook).status == 503 }, "webhook readiness did not notice the outage")
        let webhookReady = try fixture.readiness(live.webhook)
        #expect(webhookReady.bodyText.contains("store unreachable"))
        let rpcReady = try fixture.readiness(live.rpc)
        #expect(rpcReady.status == 200)
        #expect(rpcReady.bodyText.contains("store unreachable"))
        #expect(live.service.metrics.render().contains("customer_cache_store_reachable 0"))

        let read = try live.rpcJSON(#"{"jsonrpc":"2.0","method":"customer.get","params":{"id":"kept"},"id":1}"#)
        #expect(read["result"]?["email"] == "kept@example.com")
        let refused = try #require(try fixture.post("during", customer: "new", email: "new@example.com"))
        #expect(refused.status == 503)
        #expect(refused.header("Retry-After") != nil)
        #expect(refused.bodyText.contains("store_unavailable"))
        let forget = try live.rpcJSON(#"{"jsonrpc":"2.0","method":"customer.forget","params":{"id":"kept"},"id":2}"#)
        #expect(forget["error"]?["code"]?.intValue == -31007)
        #expect(forget["error"]?["data"]?["reason"] == "store_unreachable")
        #expect(forget["error"]?["data"]?["retryAfterSeconds"]?.intValue == 5)
        // A read that must see the committed row cannot be answered from memory: a prompt -31007, not a hang.
        let started = Date()
        let storeRead = try live.rpcJSON(#"{"jsonrpc":"2.0","method":"customer.get","params":{"id":"kept","consistency":"store"},"id":5}"#)
        #expect(storeRead["error"]?["code"]?.intValue == -31007)
        #expect(storeRead["error"]?["data"]?["reason"] == "store_unreachable")
        #expect(Date().timeIntervalSince(started) < 5)
        // The refused forget changed nothing: the customer is still served.
        #expect(try live.rpcJSON(#"{"jsonrpc":"2.0","method":"customer.get","params":{"id":"kept"},"id":3}"#)["result"]?["email"] == "kept@example.com")

        back.wait()
        #expect(try eventually(within: 30) { try fixture.readiness(live.webhook).status == 200 }, "readiness did not recover without traffic")
        #expect(try fixture.post("during", customer: "new", email: "new@example.com")?.status == 200)
        #expect(try live.rpcJSON(#"{"jsonrpc":"2.0","method":"customer.get","params":{"id":"new","consistency":"store"},"id":4}"#)["result"]?["email"] == "new@example.com")
        #expect(try eventually(within: 30) { (try? fixture.readiness(live.rpc).bodyText.contains("following PostgreSQL")) == true })

        let log = fixture.logs.text
        #expect(log.contains("store cannot commit"))
        #expect(log.contains("change follower lost PostgreSQL"))
        #expect(log.contains("change follower reconnected"))
        #expect(log.contains("store commits again"))
        // About 12 s of reconnect attempts every 0.5 s: a handful of lines, not one per attempt.
        let followerLines = log.split(separator: "\n").filter { $0.contains("change follower") }.count
        #expect(followerLines <= 4, "follower log lines: \(followerLines)")
        if let password = fixture.database.password { #expect(!log.contains(password)) }
        withExtendedLifetime(fixture.server) {}
    }

    @Test("a PostgreSQL restart while the service is idle costs no 503: the first webhook after it is applied")
    func idleRestartIsInvisible() throws {
        let fixture = try OutageFixture()
        defer { fixture.live.stop() }
        #expect(try fixture.post("first", customer: "a", email: "a1@example.com")?.status == 200)
        try fixture.server.restart()
        // Every session of the old server was terminated; the writer must notice before it uses its connection.
        let response = try #require(try fixture.post("second", customer: "b", email: "b1@example.com"))
        #expect(response.status == 200, "\(response.status) \(response.bodyText) \(fixture.logs.text)")
        let read = try fixture.live.rpcJSON(#"{"jsonrpc":"2.0","method":"customer.get","params":{"id":"b","consistency":"store"},"id":1}"#)
        #expect(read["result"]?["email"] == "b1@example.com")
        withExtendedLifetime(fixture.server) {}
    }

    @Test("started while PostgreSQL is down: the service stays up, not ready with the reason, webhooks 503; the store opens when PostgreSQL answers")
    func startWhileDown() throws {
        let back = DispatchSemaphore(value: 0)
        let fixture = try OutageFixture(settings: ["database-reconnect-max-ms": "500"]) { server, database in
            Thread { try? server.restart(downSeconds: 8); back.signal() }.start()
            #expect(eventually(within: 15) { (try? database.connect()) == nil }, "the server did not go down")
        }
        defer { fixture.live.stop() }
        let live = fixture.live
        let webhookReady = try fixture.readiness(live.webhook)
        #expect(webhookReady.status == 503)
        #expect(webhookReady.bodyText.contains("PostgreSQL is unreachable"))
        #expect(try fixture.readiness(live.rpc).status == 503)
        let refused = try #require(try fixture.post("early", customer: "e", email: "e1@example.com"))
        #expect(refused.status == 503)
        #expect(refused.header("Retry-After") != nil)

        back.wait()
        #expect(try eventually(within: 30) { try fixture.readiness(live.webhook).status == 200 }, "the store did not open after PostgreSQL came back")
        #expect(try fixture.post("early", customer: "e", email: "e1@example.com")?.status == 200)
        let log = fixture.logs.text
        #expect(log.contains("PostgreSQL unreachable at start"))
        #expect(log.contains("store open"))
        withExtendedLifetime(fixture.server) {}
    }
}
