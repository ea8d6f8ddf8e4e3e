import Foundation
import HTTPTestClient
import JSON
import PostgreSQL
import Sockets
import Synchronization
import Testing
import WebhookSignature

/// A steady signed-webhook load spread round-robin over replicas, delivered the way Digital River delivers: an
/// event that got no 2xx (a 503, a reset, a refused connection) is sent again, to the next replica, until one
/// acknowledges it. Each sender owns a few customers and gives every event a newer `updatedTime`, so the version an
/// acknowledgement promises can be checked afterwards.
private final class WebhookLoad: Sendable {
    /// One event some replica answered 200.
    struct Acknowledged: Sendable {
        let eventID: String
        let customer: String
        let version: Int
    }

    /// What the senders saw.
    struct Outcome: Sendable {
        var acknowledged: [Acknowledged] = []
        /// HTTP status → count, every answer included (retries too).
        var statuses: [Int: Int] = [:]
        /// 503s without a Retry-After header.
        var unavailableWithoutRetryAfter = 0
        /// Requests that got no HTTP answer at all (connection refused or reset).
        var unanswered = 0
    }

    static let customersPerSender = 4
    private let targets: [SocketAddress]
    private let secret: String
    private let senders: Int
    private let stopping = Atomic<Bool>(false)
    private let state = Mutex(Outcome())
    private let finished = DispatchGroup()

    init(targets: [SocketAddress], secret: String, senders: Int) {
        self.targets = targets
        self.secret = secret
        self.senders = senders
    }

    static func customer(sender: Int, sequence: Int) -> String { "c-\(sender)-\(sequence % customersPerSender)" }

    /// Customer `version` was updated `version` seconds after 2024-01-01T00:00:00Z and says so in its email.
    static func email(version: Int) -> String { "v\(version)@example.com" }

    var acknowledgedCount: Int { state.withLock { $0.acknowledged.count } }

    func start() {
        for sender in 0..<senders {
            finished.enter()
            let thread = Thread { [self] in
                send(as: sender)
                finished.leave()
            }
            thread.start()
        }
    }

    /// Stops the senders (an event still unacknowledged is dropped, as if its retries ran out) and returns what they saw.
    func stop() -> Outcome {
        stopping.store(true, ordering: .relaxed)
        finished.wait()
        return state.withLock { $0 }
    }

    private func send(as sender: Int) {
        var clients: [Int: RawClient] = [:]
        var next = sender
        var sequence = 0
        while !stopping.load(ordering: .relaxed) {
            sequence += 1
            let customer = Self.customer(sender: sender, sequence: sequence)
            let eventID = "evt-\(sender)-\(sequence)"
            let updated = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: 1_704_067_200 + Double(sequence)))
            let object = #"{"id":"\#(customer)","email":"\#(Self.email(version: sequence))","liveMode":false,"updatedTime":"\#(updated)"}"#
            let body = Array(#"{"id":"\#(eventID)","type":"customer.updated","data":{"object":\#(object)},"liveMode":false,"createdTime":"\#(updated)"}"#.utf8)
            while !stopping.load(ordering: .relaxed) {
                let target = next % targets.count
                next += 1
                let header = WebhookSigner.header(secret: secret, timestamp: Int64(Date().timeIntervalSince1970), body: body)
                let client = clients[target] ?? (try? RawClient(targets[target], receiveTimeoutMilliseconds: 15_000))
                let response = client?.exchange(method: "POST", path: "/webhooks/digitalriver",
                                                headers: [("Content-Type", "application/json"), ("DigitalRiver-Signature", header)], body: body)
                clients[target] = response == nil || response?.header("Connection") == "close" ? nil : client
                state.withLock { outcome in
                    guard let response else { outcome.unanswered += 1; return }
                    outcome.statuses[response.status, default: 0] += 1
                    if response.status == 503, response.header("Retry-After") == nil { outcome.unavailableWithoutRetryAfter += 1 }
                    if response.status == 200 { outcome.acknowledged.append(Acknowledged(eventID: eventID, customer: customer, version: sequence)) }
                }
                if response?.status == 200 { break }
                // Digital River waits before a retry; a short pause keeps the test quick without a busy loop.
                Thread.sleep(forTimeInterval: 0.05)
            }
        }
    }
}

/// Polls every replica's /readyz on both listeners and remembers whether each ever said the store was unreachable.
private final class ReadinessWatch: Sendable {
    private let stopping = Atomic<Bool>(false)
    private let finished = DispatchGroup()
    /// A webhook listener answered 503 with a detail naming the store unreachable.
    let webhookSaidUnreachable = Atomic<Bool>(false)
    /// An RPC listener answered 200 (reads still served) with a detail naming the store unreachable.
    let rpcSaidUnreachable = Atomic<Bool>(false)

    init(replicas: [(webhook: SocketAddress, rpc: SocketAddress)]) {
        finished.enter()
        Thread { [self] in
            while !stopping.load(ordering: .relaxed) {
                for replica in replicas {
                    if let answer = try? RawClient(replica.webhook).exchange(method: "GET", path: "/readyz"),
                       answer.status == 503, answer.bodyText.contains("store unreachable") {
                        webhookSaidUnreachable.store(true, ordering: .relaxed)
                    }
                    if let answer = try? RawClient(replica.rpc).exchange(method: "GET", path: "/readyz"),
                       answer.status == 200, answer.bodyText.contains("store unreachable") {
                        rpcSaidUnreachable.store(true, ordering: .relaxed)
                    }
                }
                Thread.sleep(forTimeInterval: 0.1)
            }
            finished.leave()
        }.start()
    }

    func stop() {
        stopping.store(true, ordering: .relaxed)
        finished.wait()
    }
}

@Suite("Replica and PostgreSQL faults under load (processes)", .serialized,
       .enabled(if: TestDatabase.isAvailable && TestPostgresServer.isAvailable && builtCustomerCacheExecutable != nil,
                "needs the built binary, CUSTOMER_CACHE_TEST_DATABASE_URL and a PostgreSQL server to start"))
struct ReplicaFaultTests {
    static let secret = "whsec_replica_fault_test"

    /// Waits until the senders have had `count` more events acknowledged (generous: the machine is loaded).
    private static func waitForAcknowledgements(_ load: WebhookLoad, atLeast count: Int, seconds: Double = 60) -> Bool {
        eventually(within: seconds) { load.acknowledgedCount >= count }
    }

    /// Every acknowledged event is recorded in the database, every customer's committed version is at least the
    /// newest one acknowledged, and every replica's memory converges on the committed rows.
    private static func verify(_ outcome: WebhookLoad.Outcome, database: TestDatabase, replicas: [ServeReplica]) throws {
        let connection = try database.connect()
        let acknowledgedIDs = Array(Set(outcome.acknowledged.map(\.eventID)))
        let recorded = try connection.execute("SELECT count(*) FROM processed_events WHERE id = ANY($1::text[])", [.textArray(acknowledgedIDs)])
        #expect(recorded.integer(0, 0) == Int64(acknowledgedIDs.count), "acknowledged events missing from processed_events")
        var newestAcknowledged: [String: Int] = [:]
        for event in outcome.acknowledged { newestAcknowledged[event.customer] = max(newestAcknowledged[event.customer] ?? 0, event.version) }
        let rows = try connection.execute("SELECT id, updated_us FROM customers")
        var committed: [String: Int] = [:]
        for index in 0..<rows.count {
            if let id = rows.text(index, 0), let updated = rows.integer(index, 1) { committed[id] = Int(updated / 1_000_000 - 1_704_067_200) }
        }
        for (customer, version) in newestAcknowledged {
            #expect((committed[customer] ?? -1) >= version, "\(customer): acknowledged v\(version), committed v\(committed[customer] ?? -1)")
        }
        func converged() -> Bool {
            replicas.allSatisfy { replica in
                committed.allSatisfy { customer, version in replica.email(of: customer) == WebhookLoad.email(version: version) }
            }
        }
        #expect(eventually(within: 60, converged), "a replica's memory did not converge on the committed rows")
    }

    @Test("kill -9 of one of three replicas under round-robin webhooks: every acknowledged event is stored and on every survivor")
    func killOneReplicaUnderLoad() throws {
        let binary = try #require(builtCustomerCacheExecutable)
        let database = try TestDatabase()
        let replicas = try (0..<3).map { _ in try ServeReplica(binary: binary, database: database, secret: Self.secret) }
        let load = WebhookLoad(targets: replicas.map(\.webhook), secret: Self.secret, senders: 6)
        load.start()
        #expect(Self.waitForAcknowledgements(load, atLeast: 300))
        _ = replicas[1].killHard()
        let atKill = load.acknowledgedCount
        #expect(Self.waitForAcknowledgements(load, atLeast: atKill + 300), "the survivors stopped acknowledging")
        let outcome = load.stop()
        print("ReplicaFaultTests kill -9: acknowledged \(outcome.acknowledged.count) (\(atKill) before the kill), statuses \(outcome.statuses), unanswered \(outcome.unanswered)")
        // The dead replica refuses connections; nobody answers anything but 200 or a 503 with Retry-After.
        #expect(Set(outcome.statuses.keys).isSubset(of: [200, 503]), "\(outcome.statuses)")
        #expect(outcome.unavailableWithoutRetryAfter == 0)
        try Self.verify(outcome, database: database, replicas: [replicas[0], replicas[2]])
        let password = try #require(database.password)
        for replica in [replicas[0], replicas[2]] { #expect(!replica.stop().contains(password)) }
    }

    @Test("PostgreSQL restarted mid-load: only 200 or 503 + Retry-After, no acknowledged event lost, /readyz said unreachable, the replicas catch up")
    func postgresRestartedMidLoad() throws {
        let binary = try #require(builtCustomerCacheExecutable)
        let server = try TestPostgresServer()
        let database = try server.database()
        let replicas = try (0..<3).map { _ in try ServeReplica(binary: binary, database: database, secret: Self.secret) }
        let load = WebhookLoad(targets: replicas.map(\.webhook), secret: Self.secret, senders: 6)
        let watch = ReadinessWatch(replicas: replicas.map { ($0.webhook, $0.rpc) })
        load.start()
        #expect(Self.waitForAcknowledgements(load, atLeast: 150))
        try server.restart(downSeconds: 3)
        let atReturn = load.acknowledgedCount
        #expect(Self.waitForAcknowledgements(load, atLeast: atReturn + 150), "no acknowledgements after PostgreSQL came back")
        let outcome = load.stop()
        watch.stop()
        print("ReplicaFaultTests PostgreSQL restart: acknowledged \(outcome.acknowledged.count) (\(atReturn) when it returned), statuses \(outcome.statuses), unanswered \(outcome.unanswered)")
        #expect((outcome.statuses[503] ?? 0) > 0, "the outage was never answered 503: \(outcome.statuses)")
        #expect(Set(outcome.statuses.keys).isSubset(of: [200, 503]), "\(outcome.statuses)")
        #expect(outcome.unavailableWithoutRetryAfter == 0)
        #expect(outcome.unanswered == 0, "the replicas stay up through the outage")
        let webhookSaidUnreachable = watch.webhookSaidUnreachable.load(ordering: .relaxed)
        let rpcSaidUnreachable = watch.rpcSaidUnreachable.load(ordering: .relaxed)
        #expect(webhookSaidUnreachable, "no webhook /readyz said the store was unreachable")
        #expect(rpcSaidUnreachable, "no rpc /readyz said the store was unreachable while serving reads")
        try Self.verify(outcome, database: database, replicas: replicas)
        let password = try #require(database.password)
        for replica in replicas {
            let log = replica.stop()
            #expect(!log.contains(password))
            #expect(log.contains("change follower lost PostgreSQL"))
            #expect(log.contains("change follower reconnected"))
        }
        withExtendedLifetime(server) {}
    }
}
