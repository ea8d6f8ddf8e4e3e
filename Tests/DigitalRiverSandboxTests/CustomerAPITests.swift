import Customers
import DigitalRiverSandbox
import Foundation
import JSON
import Testing

@Suite("Sandbox customers API")
struct CustomerAPITests {
    @Test("create, retrieve, update and delete round-trip over HTTP")
    func roundTrip() async throws {
        try await withSandbox { sandbox, client async throws in
            let shipping: JSONValue = ["name": "Jane Doe", "address": ["line1": "1 Main Street", "city": "Boston",
                                                                       "postalCode": "02110", "state": "MA", "country": "US"]]
            let created = try await client.post("/customers", .object(customerBody(id: "cust-1", extra: [
                ("shipping", shipping), ("locale", "en_US"), ("type", "individual"), ("metadata", ["crmId": "42"]),
            ])))
            #expect(created.status == 201)
            #expect(created.header("Content-Type") == "application/json")
            let object = try #require(created.json?.objectValue)
            #expect(object["id"] == "cust-1")
            #expect(object["email"] == "jane@example.com")
            #expect(object["enabled"] == true)
            #expect(object["requestToBeForgotten"] == false)
            #expect(object["liveMode"] == false)
            // Digital River's documented 201 has no updatedTime, and no empty sources or taxIdentifiers.
            #expect(object["sources"] == nil)
            #expect(object["taxIdentifiers"] == nil)
            #expect(object["updatedTime"] == nil)
            #expect(object["shipping"] == shipping)
            #expect(object["metadata"] == ["crmId": "42"])
            let createdTime = try #require(object["createdTime"]?.stringValue)
            #expect(Timestamp.microseconds(from: createdTime) != nil)
            #expect(createdTime.contains("."), "microsecond precision")
            // The domain model accepts what the sandbox returns.
            let customer = try Customer(json: object)
            #expect(customer.id == "cust-1")

            let fetched = try await client.get("/customers/cust-1")
            #expect(fetched.status == 200)
            #expect(fetched.json == created.json)

            let updated = try await client.post("/customers/cust-1", ["email": "jane.doe@example.org", "enabled": false])
            #expect(updated.status == 200)
            #expect(updated.json?["email"] == "jane.doe@example.org")
            #expect(updated.json?["enabled"] == false)
            #expect(updated.json?["createdTime"]?.stringValue == createdTime)
            let before = try #require(Timestamp.microseconds(from: createdTime))
            let after = try #require(updated.json?["updatedTime"]?.stringValue.flatMap(Timestamp.microseconds(from:)))
            #expect(after > before)
            #expect(try await client.get("/customers/cust-1").json == updated.json)

            let deleted = try await client.delete("/customers/cust-1")
            #expect(deleted.status == 204)
            #expect(deleted.body.isEmpty)
            let gone = try await client.get("/customers/cust-1")
            #expect(gone.status == 404)
            #expect(gone.json?["type"] == "not_found")
            #expect(gone.errors == [ErrorPair(code: "not_found", parameter: "id")])
            #expect(gone.json?["errors"]?[0]?["message"] == "Customer 'cust-1' not found.")
            #expect(try await client.delete("/customers/cust-1").status == 404)
            #expect(try await client.post("/customers/cust-1", ["enabled": true]).status == 404)
            #expect(sandbox.customerCount == 0)
            #expect(sandbox.requestCounts["POST /customers"] == 1)
            #expect(sandbox.requestCounts["GET /customers/{id}"] == 3)
        }
    }

    @Test("an id left out is generated as a numeric string")
    func generatedID() async throws {
        try await withSandbox { _, client async throws in
            let first = try await client.post("/customers", .object(customerBody()))
            let second = try await client.post("/customers", .object(customerBody()))
            let a = try #require(first.json?["id"]?.stringValue)
            let b = try #require(second.json?["id"]?.stringValue)
            #expect(a != b)
            #expect(a.allSatisfy(\.isNumber) && b.allSatisfy(\.isNumber))
        }
    }

    @Test("ids are percent-decoded in the path")
    func percentEncodedID() async throws {
        try await withSandbox { _, client async throws in
            #expect(try await client.post("/customers", .object(customerBody(id: "a b/c"))).status == 201)
            #expect(try await client.get("/customers/a%20b%2Fc").json?["id"] == "a b/c")
        }
    }

    @Test("a duplicate id is 409 conflict already_exists")
    func duplicateID() async throws {
        try await withSandbox { sandbox, client async throws in
            #expect(try await client.post("/customers", .object(customerBody(id: "dup"))).status == 201)
            let again = try await client.post("/customers", .object(customerBody(id: "dup", email: "other@example.com")))
            #expect(again.status == 409)
            #expect(again.json?["type"] == "conflict")
            #expect(again.errors == [ErrorPair(code: "already_exists", parameter: "id")])
            #expect(sandbox.customer(id: "dup")?["email"] == "jane@example.com")
        }
    }

    /// One invalid create body and the error it must produce.
    struct Invalid: Sendable, CustomTestStringConvertible {
        let name: String
        let body: JSONObject
        let expected: ErrorPair
        var testDescription: String { name }
    }

    static let certificate: JSONObject = ["companyName": "Acme Inc.", "taxAuthority": "MN", "startDate": "2024-01-01T00:00:00Z",
                                          "endDate": "2026-01-01T00:00:00Z", "fileId": "file-1"]

    static func with(_ certificate: JSONObject, _ key: String, _ value: JSONValue?) -> JSONValue {
        var copy = certificate
        copy[key] = value
        return .object(copy)
    }

    static let invalidCreates: [Invalid] = [
        Invalid(name: "unknown field", body: ["email": "a@example.com", "nickname": "x"], expected: ErrorPair(code: "unknown_parameter", parameter: "nickname")),
        Invalid(name: "requestToBeForgotten is update-only", body: ["requestToBeForgotten": true],
                expected: ErrorPair(code: "unknown_parameter", parameter: "requestToBeForgotten")),
        Invalid(name: "id of 41 characters", body: ["id": .string(String(repeating: "x", count: 41))],
                expected: ErrorPair(code: "invalid_parameter", parameter: "id")),
        Invalid(name: "empty id", body: ["id": ""], expected: ErrorPair(code: "invalid_parameter", parameter: "id")),
        Invalid(name: "numeric id", body: ["id": 7], expected: ErrorPair(code: "invalid_parameter", parameter: "id")),
        Invalid(name: "email not a string", body: ["email": 42], expected: ErrorPair(code: "invalid_parameter", parameter: "email")),
        Invalid(name: "type outside the enum", body: ["type": "person"], expected: ErrorPair(code: "invalid_parameter", parameter: "type")),
        Invalid(name: "locale with a hyphen", body: ["locale": "en-US"], expected: ErrorPair(code: "invalid_parameter", parameter: "locale")),
        Invalid(name: "locale in the wrong case", body: ["locale": "EN_us"], expected: ErrorPair(code: "invalid_parameter", parameter: "locale")),
        Invalid(name: "enabled not a boolean", body: ["enabled": "yes"], expected: ErrorPair(code: "invalid_parameter", parameter: "enabled")),
        Invalid(name: "empty metadata", body: ["metadata": [:]], expected: ErrorPair(code: "invalid_parameter", parameter: "metadata")),
        Invalid(name: "metadata not an object", body: ["metadata": "x"], expected: ErrorPair(code: "invalid_parameter", parameter: "metadata")),
        Invalid(name: "21 metadata keys", body: ["metadata": .object(JSONObject((1...21).map { ("k\($0)", JSONValue.string("v")) }))],
                expected: ErrorPair(code: "invalid_parameter", parameter: "metadata")),
        Invalid(name: "metadata key of 41 characters", body: ["metadata": .object([String(repeating: "k", count: 41): "v"])],
                expected: ErrorPair(code: "invalid_parameter", parameter: "metadata")),
        Invalid(name: "metadata value of 501 characters", body: ["metadata": ["note": .string(String(repeating: "v", count: 501))]],
                expected: ErrorPair(code: "invalid_parameter", parameter: "metadata.note")),
        Invalid(name: "shipping not an object", body: ["shipping": "x"], expected: ErrorPair(code: "invalid_parameter", parameter: "shipping")),
        Invalid(name: "shipping.name not a string", body: ["shipping": ["name": 1]],
                expected: ErrorPair(code: "invalid_parameter", parameter: "shipping.name")),
        Invalid(name: "address without country", body: ["shipping": ["address": ["city": "Paris"]]],
                expected: ErrorPair(code: "missing_parameter", parameter: "shipping.address.country")),
        Invalid(name: "country not alpha-2", body: ["shipping": ["address": ["country": "USA"]]],
                expected: ErrorPair(code: "invalid_parameter", parameter: "shipping.address.country")),
        Invalid(name: "taxCertificate without fileId", body: ["taxCertificate": with(certificate, "fileId", nil)],
                expected: ErrorPair(code: "missing_parameter", parameter: "taxCertificate.fileId")),
        Invalid(name: "taxCertificate without companyName", body: ["taxCertificate": with(certificate, "companyName", nil)],
                expected: ErrorPair(code: "missing_parameter", parameter: "taxCertificate.companyName")),
        Invalid(name: "taxCertificate with a bad startDate", body: ["taxCertificate": with(certificate, "startDate", "yesterday")],
                expected: ErrorPair(code: "invalid_parameter", parameter: "taxCertificate.startDate")),
        Invalid(name: "taxCertificate with a bad taxAuthority", body: ["taxCertificate": with(certificate, "taxAuthority", "Minnesota")],
                expected: ErrorPair(code: "invalid_parameter", parameter: "taxCertificate.taxAuthority")),
        Invalid(name: "taxCertificate with an unknown field", body: ["taxCertificate": with(certificate, "region", "x")],
                expected: ErrorPair(code: "unknown_parameter", parameter: "taxCertificate.region")),
        Invalid(name: "taxCertificate ending before it starts", body: ["taxCertificate": with(certificate, "endDate", "2023-01-01T00:00:00Z")],
                expected: ErrorPair(code: "invalid_parameter", parameter: "taxCertificate.endDate")),
    ]

    @Test("an invalid create body is 400 bad_request naming the parameter", arguments: invalidCreates)
    func invalidCreate(_ case: Invalid) async throws {
        try await withSandbox { sandbox, client async throws in
            let response = try await client.post("/customers", .object(`case`.body))
            #expect(response.status == 400)
            #expect(response.json?["type"] == "bad_request")
            #expect(response.errors == [`case`.expected])
            #expect(response.json?["errors"]?[0]?["message"]?.stringValue?.isEmpty == false)
            #expect(sandbox.customerCount == 0)
        }
    }

    @Test("every problem of a body is listed in one 400")
    func severalProblems() async throws {
        try await withSandbox { _, client async throws in
            let response = try await client.post("/customers", ["bogus": 1, "type": "x", "locale": "en"])
            #expect(Set(response.errors) == [ErrorPair(code: "unknown_parameter", parameter: "bogus"),
                                             ErrorPair(code: "invalid_parameter", parameter: "type"),
                                             ErrorPair(code: "invalid_parameter", parameter: "locale")])
        }
    }

    @Test("a body that is not a JSON object is 400 invalid_parameter")
    func notJSON() async throws {
        try await withSandbox { _, client async throws in
            for raw in ["", "not json", "[1,2]"] {
                let response = try await client.send("POST", "/customers", rawBody: Array(raw.utf8))
                #expect(response.status == 400)
                #expect(response.errors == [ErrorPair(code: "invalid_parameter", parameter: nil)])
            }
        }
    }

    @Test("an update may not carry id, and validates like a create")
    func invalidUpdate() async throws {
        try await withSandbox { _, client async throws in
            #expect(try await client.post("/customers", .object(customerBody(id: "u1"))).status == 201)
            let withID = try await client.post("/customers/u1", ["id": "u2"])
            #expect(withID.errors == [ErrorPair(code: "unknown_parameter", parameter: "id")])
            let badType = try await client.post("/customers/u1", ["type": "team"])
            #expect(badType.errors == [ErrorPair(code: "invalid_parameter", parameter: "type")])
            let badFlag = try await client.post("/customers/u1", ["requestToBeForgotten": "yes"])
            #expect(badFlag.errors == [ErrorPair(code: "invalid_parameter", parameter: "requestToBeForgotten")])
        }
    }

    @Test("metadata merges on update and a key set to \"\" is removed")
    func metadataMerge() async throws {
        try await withSandbox { sandbox, client async throws in
            let created = try await client.post("/customers", .object(customerBody(id: "m1", extra: [
                ("metadata", ["a": "1", "b": "2", "nested": ["x": true]]),
            ])))
            #expect(created.json?["metadata"] == ["a": "1", "b": "2", "nested": ["x": true]])
            let merged = try await client.post("/customers/m1", ["metadata": ["b": "", "c": "3"]])
            #expect(merged.status == 200)
            #expect(merged.json?["metadata"] == ["a": "1", "nested": ["x": true], "c": "3"])
            let emptied = try await client.post("/customers/m1", ["metadata": ["a": "", "nested": "", "c": ""]])
            #expect(emptied.json?["metadata"] == nil)
            #expect(sandbox.customer(id: "m1")?["metadata"] == nil)
            // Keys set to "" on create are simply not stored.
            let fresh = try await client.post("/customers", .object(customerBody(id: "m2", extra: [("metadata", ["gone": "", "kept": "1"])])))
            #expect(fresh.json?["metadata"] == ["kept": "1"])
        }
    }

    @Test("a merge that would exceed 20 metadata keys is refused and changes nothing")
    func metadataMergeLimit() async throws {
        try await withSandbox { sandbox, client async throws in
            let twenty = JSONObject((1...20).map { ("k\($0)", JSONValue.string("v")) })
            #expect(try await client.post("/customers", .object(customerBody(id: "m", extra: [("metadata", .object(twenty))]))).status == 201)
            let response = try await client.post("/customers/m", ["metadata": ["k21": "v"]])
            #expect(response.status == 400)
            #expect(response.errors == [ErrorPair(code: "invalid_parameter", parameter: "metadata")])
            #expect(sandbox.customer(id: "m")?["metadata"]?.objectValue?.count == 20)
            // Replacing one key while removing another stays within the limit.
            #expect(try await client.post("/customers/m", ["metadata": ["k1": "", "k21": "v"]]).status == 200)
        }
    }

    @Test("taxCertificate is appended to taxCertificates on create and update")
    func taxCertificates() async throws {
        try await withSandbox { _, client async throws in
            let created = try await client.post("/customers", .object(customerBody(id: "t", extra: [("taxCertificate", .object(Self.certificate))])))
            #expect(created.status == 201)
            #expect(created.json?["taxCertificates"] == [.object(Self.certificate)])
            var second = Self.certificate
            second["fileId"] = "file-2"
            let updated = try await client.post("/customers/t", ["taxCertificate": .object(second)])
            #expect(updated.json?["taxCertificates"] == [.object(Self.certificate), .object(second)])
        }
    }

    @Test("an update that changes nothing keeps updatedTime")
    func noOpUpdate() async throws {
        try await withSandbox { _, client async throws in
            let created = try await client.post("/customers", .object(customerBody(id: "n", extra: [("type", "business")])))
            let same = try await client.post("/customers/n", ["type": "business", "email": "jane@example.com"])
            #expect(same.status == 200)
            #expect(same.json == created.json)
            let empty = try await client.post("/customers/n", [:])
            #expect(empty.json == created.json)
        }
    }

    @Test("the 201 for the documented create body has exactly the fields of Digital River's documented 201")
    func createAnswerMatchesDocumentedFields() async throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/digitalriver/customer-201.json")
        let documented = try #require(try JSONValue.parse(Array(try Data(contentsOf: path))).objectValue)
        var body = JSONObject()
        for key in ["email", "shipping", "locale", "type"] { body[key] = documented[key] }
        try await withSandbox { _, client async throws in
            let created = try await client.post("/customers", .object(body))
            #expect(created.status == 201)
            let object = try #require(created.json?.objectValue)
            #expect(Set(object.keys) == Set(documented.keys))
            for key in ["email", "shipping", "locale", "type", "enabled", "requestToBeForgotten", "liveMode"] {
                #expect(object[key] == documented[key], "\(key)")
            }
            #expect(try await client.get("/customers/\(object["id"]?.stringValue ?? "")").json == created.json)
        }
    }

    @Test("updatedTime strictly increases even for changes within one microsecond")
    func strictlyIncreasingTimes() throws {
        let sandbox = DigitalRiverSandbox(configuration: SandboxConfiguration(listen: try .init(parsing: "127.0.0.1:0")), logger: quietLogger())
        try sandbox.create(customerBody(id: "fast"))
        var previous = try #require(sandbox.customer(id: "fast")?["createdTime"]?.stringValue.flatMap(Timestamp.microseconds(from:)))
        for index in 0..<200 {
            let object = try sandbox.update(id: "fast", ["metadata": ["i": .string(String(index))]])
            let time = try #require(object["updatedTime"]?.stringValue.flatMap(Timestamp.microseconds(from:)))
            #expect(time > previous)
            previous = time
        }
        let other = try sandbox.create(customerBody(id: "second"))
        #expect(try #require(other["createdTime"]?.stringValue.flatMap(Timestamp.microseconds(from:))) > previous)
    }

    @Test("mutations from code behave like the API and throw the same errors")
    func codeMutations() throws {
        let sandbox = DigitalRiverSandbox(configuration: SandboxConfiguration(listen: try .init(parsing: "127.0.0.1:0")), logger: quietLogger())
        let created = try sandbox.create(customerBody(id: "c"))
        #expect(created["enabled"] == true)
        #expect(throws: SandboxError.self) { try sandbox.create(customerBody(id: "c")) }
        do {
            try sandbox.update(id: "c", ["type": "x"])
            Issue.record("expected a 400")
        } catch {
            #expect(error.status == 400)
            #expect(error.errors.first?.parameter == "type")
        }
        try sandbox.delete(id: "c")
        do {
            try sandbox.delete(id: "c")
            Issue.record("expected a 404")
        } catch {
            #expect(error.status == 404)
            #expect(error.json["type"] == "not_found")
        }
    }
}

/// Requests no sandbox route takes still answer in Digital River's error shape.
@Suite("Sandbox unknown paths and methods")
struct UnroutedTests {
    @Test("an unknown path is 404 not_found in Digital River's error shape", arguments: ["/orders", "/customers/a/b", "/"])
    func unknownPath(_ path: String) async throws {
        try await withSandbox { _, client async throws in
            let response = try await client.get(path)
            #expect(response.status == 404)
            #expect(response.header("Content-Type") == "application/json")
            #expect(response.json?["type"] == "not_found")
            #expect(response.errors == [ErrorPair(code: "not_found", parameter: nil)])
            #expect(response.json?["errors"]?[0]?["message"]?.stringValue?.isEmpty == false)
        }
    }

    @Test("a method the path does not take is 405 method_not_allowed in Digital River's error shape, with Allow")
    func wrongMethod() async throws {
        try await withSandbox { _, client async throws in
            let response = try await client.send("PUT", "/customers/c-1", json: ["email": "a@example.com"])
            #expect(response.status == 405)
            #expect(response.header("Allow") == "DELETE, GET, HEAD, POST")
            #expect(response.json?["type"] == "method_not_allowed")
            #expect(response.errors == [ErrorPair(code: "method_not_allowed", parameter: nil)])
            let list = try await client.send("DELETE", "/customers")
            #expect(list.status == 405)
            #expect(list.header("Allow") == "GET, HEAD, POST")
        }
    }
}
