import Foundation
import HTTPTestClient
import JSON
import Testing

/// Digital River's own documented example objects (Tests/Fixtures/digitalriver, sources in its README.md),
/// sent the way Digital River would send them.
@Suite("Digital River's documented examples")
struct DigitalRiverFixtureTests {
    static func fixture(_ name: String) throws -> String {
        let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/digitalriver")
        return try String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)
    }

    /// Stores `customer` the way `path` names: a signed customer.created webhook, or the RPC `cache.load`.
    static func deliver(_ customer: String, via path: String, to live: LiveService) throws {
        if path == "webhook" {
            #expect(try live.postEvent(Events.event("evt-fixture-deliver", type: "customer.created", object: customer))?.status == 200)
        } else {
            let answer = try live.rpcJSON(#"{"jsonrpc":"2.0","method":"cache.load","params":{"customers":[\#(customer)]},"id":1}"#)
            #expect(answer["result"]?["applied"] == 1)
        }
    }

    @Test("the documented 201 customer, signed and sent as customer.created, is stored with every field kept")
    func customerWebhook() throws {
        let live = try LiveService()
        defer { live.stop(); live.removeData() }
        let customer = try Self.fixture("customer-201.json")
        let response = try #require(try live.postEvent(Events.event("evt-fixture-1", type: "customer.created", object: customer)))
        #expect(response.status == 200)
        #expect(response.bodyText.contains("applied"))
        let stored = try #require(live.store?.record(for: "5823594809"))
        #expect(try JSONValue.parse(stored.body) == JSONValue.parse(Array(customer.utf8)))
    }

    @Test("the documented 201 customer loaded with cache.load is stored with every field kept")
    func customerLoad() throws {
        let live = try LiveService()
        defer { live.stop(); live.removeData() }
        let customer = try Self.fixture("customer-201.json")
        let answer = try live.rpcJSON(#"{"jsonrpc":"2.0","method":"cache.load","params":{"customers":[\#(customer)]},"id":1}"#)
        #expect(answer["result"]?["applied"] == 1)
        let got = try live.rpcJSON(#"{"jsonrpc":"2.0","method":"customer.get","params":{"id":"5823594809"},"id":2}"#)
        #expect(got["result"] == (try JSONValue.parse(Array(customer.utf8))))
    }

    @Test("the documented customer with the documented source in sources[] keeps every field but clientSecret", arguments: ["webhook", "cache.load"])
    func customerWithSource(_ path: String) throws {
        let live = try LiveService()
        defer { live.stop(); live.removeData() }
        let source = try Self.fixture("source-amazon-pay.json")
        guard case .object(var customer) = try JSONValue.parse(Array(try Self.fixture("customer-201.json").utf8)),
              case .object(var expectedSource) = try JSONValue.parse(Array(source.utf8)) else {
            Issue.record("fixtures are not objects")
            return
        }
        customer["sources"] = .array([try JSONValue.parse(Array(source.utf8))])
        let body = String(decoding: JSONValue.object(customer).encoded(), as: UTF8.self)
        try Self.deliver(body, via: path, to: live)
        let got = try live.rpcJSON(#"{"jsonrpc":"2.0","method":"customer.get","params":{"id":"5823594809"},"id":2}"#)
        expectedSource["clientSecret"] = nil
        customer["sources"] = .array([.object(expectedSource)])
        #expect(got["result"] == .object(customer))
        #expect(!String(decoding: got.encoded(), as: UTF8.self).contains("clientSecret"))
    }

    @Test("the documented tax identifier, sent as customer.tax_identifier.created, lands in the cached customer's taxIdentifiers with every field kept")
    func taxIdentifierAttached() throws {
        let live = try LiveService()
        defer { live.stop(); live.removeData() }
        let taxIdentifier = try JSONValue.parse(Array(try Self.fixture("tax-identifier-attached.json").utf8))
        // The documented customer, renumbered to the tax identifier's documented customerId.
        guard case .object(var customer) = try JSONValue.parse(Array(try Self.fixture("customer-201.json").utf8)),
              case .string(let customerID)? = taxIdentifier["customerId"] else {
            Issue.record("fixtures are not as documented")
            return
        }
        customer["id"] = .string(customerID)
        let body = String(decoding: JSONValue.object(customer).encoded(), as: UTF8.self)
        try Self.deliver(body, via: "cache.load", to: live)
        let object = String(decoding: taxIdentifier.encoded(), as: UTF8.self)
        let response = try #require(try live.postEvent(Events.event("evt-fixture-tax", type: "customer.tax_identifier.created", object: object)))
        #expect(response.status == 200)
        #expect(response.bodyText.contains("applied"))
        let got = try live.rpcJSON(#"{"jsonrpc":"2.0","method":"customer.get","params":{"id":"\#(customerID)"},"id":2}"#)
        customer["taxIdentifiers"] = .array([taxIdentifier])
        #expect(got["result"] == .object(customer))
    }

    @Test("the documented customer with taxCertificates keeps them with every field", arguments: ["webhook", "cache.load"])
    func customerWithTaxCertificates(_ path: String) throws {
        let live = try LiveService()
        defer { live.stop(); live.removeData() }
        let customer = try Self.fixture("customer-tax-certificates.json")
        try Self.deliver(customer, via: path, to: live)
        let got = try live.rpcJSON(#"{"jsonrpc":"2.0","method":"customer.get","params":{"id":"543790170336"},"id":2}"#)
        let expected = try JSONValue.parse(Array(customer.utf8))
        #expect(got["result"] == expected)
        #expect(got["result"]?["taxCertificates"]?.arrayValue?.count == 2)
    }

    @Test("the documented order.accepted envelope is answered ignored_type")
    func orderAccepted() throws {
        let live = try LiveService()
        defer { live.stop(); live.removeData() }
        let response = try #require(try live.postEvent(Array(try Self.fixture("order-accepted.json").utf8)))
        #expect(response.status == 200)
        #expect(response.bodyText == #"{"status":"ignored_type"}"#)
    }
}
