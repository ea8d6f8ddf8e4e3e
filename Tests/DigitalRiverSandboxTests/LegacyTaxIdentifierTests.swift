import DigitalRiverSandbox
import JSON
import Testing

/// `taxIdentifiers[]` in customer bodies, which Digital River took on API versions up to 2020-12-17
/// (GitBook `customer-management/setting-tax-related-attributes.md`), chosen per request with `digitalriver-version`.
@Suite("Sandbox legacy taxIdentifiers")
struct LegacyTaxIdentifierTests {
    static let legacy = ["digitalriver-version": "2020-12-17"]
    static let documented: JSONValue = [["type": "uk", "value": "GB243609761"], ["type": "nl", "value": "NL002458380B62"]]

    @Test("on 2020-12-17 an update adds them as the docs show, \"\" removes one, and a new value then replaces it")
    func legacyUpdate() async throws {
        try await withSandbox { _, client async throws in
            #expect(try await client.post("/customers", .object(customerBody(id: "987654321"))).status == 201)
            let added = try await client.send("POST", "/customers/987654321", json: ["taxIdentifiers": Self.documented],
                                              headers: Self.legacy)
            #expect(added.status == 200)
            #expect(added.json?["taxIdentifiers"] == Self.documented)
            #expect(try await client.get("/customers/987654321").json?["taxIdentifiers"] == Self.documented)

            let clash = try await client.send("POST", "/customers/987654321",
                                              json: ["taxIdentifiers": [["type": "nl", "value": "NL001868214B01"]]], headers: Self.legacy)
            #expect(clash.status == 400)
            #expect(clash.errors == [ErrorPair(code: "invalid_parameter", parameter: "taxIdentifiers[0].type")])

            let removed = try await client.send("POST", "/customers/987654321",
                                                json: ["taxIdentifiers": [["type": "nl", "value": ""]]], headers: Self.legacy)
            #expect(removed.json?["taxIdentifiers"] == [["type": "uk", "value": "GB243609761"]])
            let replaced = try await client.send("POST", "/customers/987654321",
                                                 json: ["taxIdentifiers": [["type": "nl", "value": "NL001868214B01"]]], headers: Self.legacy)
            #expect(replaced.status == 200)
            #expect(replaced.json?["taxIdentifiers"] == [["type": "uk", "value": "GB243609761"], ["type": "nl", "value": "NL001868214B01"]])
        }
    }

    @Test("on 2020-12-17 a create takes them too, and earlier versions behave the same")
    func legacyCreate() async throws {
        try await withSandbox { _, client async throws in
            let created = try await client.send("POST", "/customers", json: .object(customerBody(id: "c-legacy", extra: [("taxIdentifiers", Self.documented)])),
                                                headers: ["DigitalRiver-Version": "2020-09-30"])
            #expect(created.status == 201)
            #expect(created.json?["taxIdentifiers"] == Self.documented)
        }
    }

    @Test("without the header, or on a version after 2020-12-17, taxIdentifiers stays unknown_parameter", arguments: [nil, "2021-02-23", "2021-12-13"])
    func currentVersions(_ version: String?) async throws {
        try await withSandbox { _, client async throws in
            #expect(try await client.post("/customers", .object(customerBody(id: "c-1"))).status == 201)
            let headers = version.map { ["digitalriver-version": $0] } ?? [:]
            let update = try await client.send("POST", "/customers/c-1", json: ["taxIdentifiers": Self.documented], headers: headers)
            #expect(update.status == 400)
            #expect(update.errors == [ErrorPair(code: "unknown_parameter", parameter: "taxIdentifiers")])
            let create = try await client.send("POST", "/customers", json: .object(customerBody(id: "c-2", extra: [("taxIdentifiers", Self.documented)])),
                                               headers: headers)
            #expect(create.status == 400)
            #expect(create.errors == [ErrorPair(code: "unknown_parameter", parameter: "taxIdentifiers")])
        }
    }

    @Test("malformed legacy bodies and version headers are named in the 400")
    func malformed() async throws {
        try await withSandbox { _, client async throws in
            #expect(try await client.post("/customers", .object(customerBody(id: "c-1"))).status == 201)
            let bad = try await client.send("POST", "/customers/c-1", json: ["taxIdentifiers": [
                ["type": "uk"], ["type": "", "value": "x"], ["type": "de", "value": "DE1", "id": "t"], ["type": "de", "value": "DE2"],
            ]], headers: Self.legacy)
            #expect(bad.status == 400)
            #expect(bad.errors == [
                ErrorPair(code: "missing_parameter", parameter: "taxIdentifiers[0].value"),
                ErrorPair(code: "invalid_parameter", parameter: "taxIdentifiers[1].type"),
                ErrorPair(code: "unknown_parameter", parameter: "taxIdentifiers[2].id"),
                ErrorPair(code: "invalid_parameter", parameter: "taxIdentifiers[3].type"),
            ])
            let version = try await client.send("POST", "/customers/c-1", json: ["enabled": false], headers: ["digitalriver-version": "latest"])
            #expect(version.status == 400)
            #expect(version.errors == [ErrorPair(code: "invalid_parameter", parameter: "digitalriver-version")])
            #expect(try await client.get("/customers/c-1").json?["enabled"] == true)
        }
    }
}
