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
        if path == "webhook" {
            #expect(try live.postEvent(Events.event("evt-fixture-src", type: "customer.created", object: body))?.status == 200)
        } else {
            let answer = try live.rpcJSON(#"{"jsonrpc":"2.0","method":"cache.load","params":{"customers":[\#(body)]},"id":1}"#)
            #expect(answer["result"]?["applied"] == 1)
        }
        let got = try live.rpcJSON(#"{"jsonrpc":"2.0","method":"customer.get","params":{"id":"5823594809"},"id":2}"#)
        expectedSource["clientSecret"] = nil
        customer["sources"] = .array([.object(expectedSource)])
        #expect(got["result"] == .object(customer))
        #expect(!String(decoding: got.encoded(), as: UTF8.self).contains("clientSecret"))
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
