import Customers
import DigitalRiverSandbox
import Foundation
import JSON
import Testing

@Suite("Sandbox synthetic customers")
struct SeedingTests {
    static let reference = Timestamp.microseconds(from: "2025-06-01T00:00:00Z") ?? 0

    static func seeded(_ count: Int, random: UInt64 = 42) throws -> DigitalRiverSandbox {
        var configuration = SandboxConfiguration(listen: try .init(parsing: "127.0.0.1:0"))
        configuration.seed = count
        configuration.seedRandom = random
        configuration.seedReferenceTime = reference
        return DigitalRiverSandbox(configuration: configuration, logger: quietLogger())
    }

    @Test("the same seed gives the same customers; another seed gives others")
    func deterministic() throws {
        let first = try Self.seeded(1_000)
        let second = try Self.seeded(1_000)
        #expect(first.customerCount == 1_000)
        let one = try #require(first.customer(id: "cust-000001"))
        #expect(second.customer(id: "cust-000001") == one)
        #expect(first.customerIDs == second.customerIDs)
        #expect(first.customerIDs.first.flatMap(first.customer(id:)) == second.customerIDs.first.flatMap(second.customer(id:)))
        #expect(first.customer(id: "cust-001000") == second.customer(id: "cust-001000"))
        #expect(first.customer(id: "cust-001001") == nil)

        let other = try Self.seeded(1_000, random: 7)
        #expect(other.customer(id: "cust-000001") != one)
        // Customer n does not depend on how many were generated.
        #expect(try Self.seeded(10).customer(id: "cust-000010") == first.customer(id: "cust-000010"))
    }

    @Test("seeded customers are valid, realistic and spread over the past year")
    func realistic() throws {
        let sandbox = try Self.seeded(1_000)
        let year: Int64 = 365 * 86_400_000_000
        var countries: Set<String> = []
        var businesses = 0
        var withTaxIdentifier = 0
        var metadataSizes: Set<Int> = []
        for id in sandbox.customerIDs {
            let object = try #require(sandbox.customer(id: id))
            let customer = try Customer(json: object)
            #expect(id.hasPrefix("cust-"))
            let created = try #require(customer.createdTime)
            let updated = try #require(customer.updatedTime)
            #expect(created < Self.reference && created >= Self.reference - year)
            #expect(updated >= created && updated < Self.reference)
            let email = try #require(object["email"]?.stringValue)
            #expect(email.hasSuffix("@example.com") || email.hasSuffix("@example.org"))
            let country = try #require(object["shipping"]?["address"]?["country"]?.stringValue)
            countries.insert(country)
            let locale = try #require(object["locale"]?.stringValue)
            #expect(locale.hasSuffix("_" + country), "\(locale) matches \(country)")
            #expect(object["shipping"]?["address"]?["postalCode"]?.stringValue?.isEmpty == false)
            #expect(object["shipping"]?["name"]?.stringValue?.contains(" ") == true)
            let metadata = object["metadata"]?.objectValue
            if object["type"] == "business" {
                businesses += 1
                #expect(object["shipping"]?["organization"]?.stringValue != nil)
                #expect(metadata?.isEmpty == false)
            } else {
                #expect(object["type"] == "individual")
                metadataSizes.insert(metadata?.count ?? 0)
            }
            #expect((metadata?.count ?? 0) <= 3)
            if object["taxIdentifiers"]?.arrayValue?.isEmpty == false { withTaxIdentifier += 1 }
            #expect(object["liveMode"] == false)
            #expect(object["sources"] == [])
        }
        #expect(countries.isSuperset(of: ["US", "GB", "DE", "FR", "JP"]))
        #expect((100...300).contains(businesses), "about one in five: \(businesses)")
        #expect((20...90).contains(withTaxIdentifier), "about 5 %: \(withTaxIdentifier)")
        #expect(metadataSizes == [0, 1, 2, 3])
        // US postal codes are five digits, Japanese ones NNN-NNNN.
        for id in sandbox.customerIDs.prefix(300) {
            let address = try #require(sandbox.customer(id: id)?["shipping"]?["address"])
            let postal = try #require(address["postalCode"]?.stringValue)
            switch address["country"]?.stringValue {
            case "US": #expect(postal.count == 5 && postal.allSatisfy(\.isNumber), "\(postal)")
            case "JP": #expect(postal.count == 8 && postal.dropFirst(3).first == "-", "\(postal)")
            case "DE", "FR": #expect(postal.count == 5 && postal.allSatisfy(\.isNumber), "\(postal)")
            default: break
            }
        }
    }

    @Test("seeding emits no webhooks, and later changes do")
    func noWebhooksForSeeds() async throws {
        let receiver = try WebhookReceiver()
        defer { receiver.stop() }
        try await withSandbox({ configuration in
            configuration.seed = 1_000
            configuration.webhookURL = receiver.url
            configuration.webhookSecret = "s"
        }) { sandbox, client async throws in
            #expect(sandbox.customerCount == 1_000)
            try await Task.sleep(nanoseconds: 300_000_000)
            #expect(receiver.received.isEmpty)
            #expect(sandbox.webhookStatistics == WebhookStatistics())
            #expect(try await client.get("/customers/cust-000500").status == 200)
            #expect(try await client.post("/customers/cust-000500", ["enabled": false]).status == 200)
            #expect(await sandbox.waitForWebhookQueueToDrain(timeoutSeconds: 10))
            #expect(receiver.accepted.map(\.type) == ["customer.updated"])
        }
    }

    @Test("customers created after seeding sort after every seeded one")
    func createdAfterSeed() async throws {
        try await withSandbox({ $0.seed = 50 }) { sandbox, client async throws in
            let created = try await client.post("/customers", .object(customerBody(id: "new")))
            #expect(created.status == 201)
            #expect(sandbox.customerIDs.last == "new")
            let seededLatest = try sandbox.customerIDs.dropLast().map { id in
                try #require(sandbox.customer(id: id)?["updatedTime"]?.stringValue.flatMap(Timestamp.microseconds(from:)))
            }.max() ?? 0
            let createdTime = try #require(created.json?["createdTime"]?.stringValue.flatMap(Timestamp.microseconds(from:)))
            #expect(createdTime > seededLatest)
        }
    }
}
