import Customers
import DigitalRiverSandbox
import Foundation
import JSON
import Testing

@Suite("Sandbox customer list")
struct CustomerListTests {
    /// The ids of one page and its hasMore.
    static func page(_ client: SandboxClient, _ query: String) async throws -> (ids: [String], hasMore: Bool) {
        let response = try await client.get("/customers" + (query.isEmpty ? "" : "?" + query))
        try #require(response.status == 200, "\(response.status) \(String(decoding: response.body, as: UTF8.self))")
        let json = try #require(response.json)
        let ids = try #require(json["data"]?.arrayValue).compactMap { $0["id"]?.stringValue }
        let hasMore = try #require(json["hasMore"]?.boolValue as Bool?)
        return (ids, hasMore)
    }

    static func errors(_ client: SandboxClient, _ query: String) async throws -> [ErrorPair] {
        let response = try await client.get("/customers?" + query)
        #expect(response.status == 400)
        #expect(response.json?["type"] == "bad_request")
        return response.errors
    }

    @Test("pages follow startingAfter to the end, in a stable order, and endingBefore walks back")
    func paging() async throws {
        try await withSandbox { sandbox, client async throws in
            for index in 1...25 { try sandbox.create(customerBody(id: String(format: "p%02d", index))) }
            let expected = sandbox.customerIDs
            #expect(expected == (1...25).map { String(format: "p%02d", $0) }, "created later sorts later")

            let defaultPage = try await Self.page(client, "")
            #expect(defaultPage.ids == Array(expected.prefix(10)))
            #expect(defaultPage.hasMore)

            var seen: [String] = []
            var query = "limit=10"
            var pages: [[String]] = []
            while true {
                let page = try await Self.page(client, query)
                pages.append(page.ids)
                seen += page.ids
                guard page.hasMore, let last = page.ids.last else { break }
                query = "limit=10&startingAfter=\(last)"
            }
            #expect(seen == expected)
            #expect(pages.map(\.count) == [10, 10, 5])

            let back = try await Self.page(client, "limit=10&endingBefore=\(pages[2][0])")
            #expect(back.ids == pages[1])
            #expect(back.hasMore)
            let first = try await Self.page(client, "limit=10&endingBefore=\(pages[1][0])")
            #expect(first.ids == pages[0])
            #expect(!first.hasMore)
            let exact = try await Self.page(client, "limit=25")
            #expect(exact.ids == expected && !exact.hasMore)
            let afterLast = try await Self.page(client, "startingAfter=p25")
            #expect(afterLast.ids.isEmpty && !afterLast.hasMore)
        }
    }

    @Test("limit outside 1…100, bad cursors and unknown parameters are 400")
    func badQueries() async throws {
        try await withSandbox { sandbox, client async throws in
            try sandbox.create(customerBody(id: "only"))
            for limit in ["0", "101", "-1", "ten", ""] {
                #expect(try await Self.errors(client, "limit=\(limit)") == [ErrorPair(code: "invalid_parameter", parameter: "limit")])
            }
            #expect(try await Self.page(client, "limit=100").ids == ["only"])
            #expect(try await Self.errors(client, "startingAfter=nobody") == [ErrorPair(code: "invalid_parameter", parameter: "startingAfter")])
            #expect(try await Self.errors(client, "endingBefore=nobody") == [ErrorPair(code: "invalid_parameter", parameter: "endingBefore")])
            #expect(try await Self.errors(client, "startingAfter=only&endingBefore=only")
                == [ErrorPair(code: "invalid_parameter", parameter: "endingBefore")])
            #expect(try await Self.errors(client, "emial=x") == [ErrorPair(code: "unknown_parameter", parameter: "emial")])
            #expect(try await Self.errors(client, "requestToBeForgotten=yes")
                == [ErrorPair(code: "invalid_parameter", parameter: "requestToBeForgotten")])
            #expect(try await Self.errors(client, "updatedTime=yesterday") == [ErrorPair(code: "invalid_parameter", parameter: "updatedTime")])
            #expect(try await Self.errors(client, "updatedTime%5Bafter%5D=2024-01-01T00:00:00Z")
                == [ErrorPair(code: "invalid_parameter", parameter: "updatedTime[after]")])
        }
    }

    @Test("ids (repeated), email and requestToBeForgotten filter the list")
    func simpleFilters() async throws {
        try await withSandbox { sandbox, client async throws in
            try sandbox.create(customerBody(id: "a", email: "shared+tag@example.com"))
            try sandbox.create(customerBody(id: "b", email: "b@example.com"))
            try sandbox.create(customerBody(id: "c", email: "shared+tag@example.com"))
            try sandbox.create(customerBody(id: "d", email: "d@example.com"))
            try sandbox.update(id: "d", ["requestToBeForgotten": true])

            #expect(try await Self.page(client, "ids=c&ids=a&ids=nobody").ids == ["a", "c"])
            let limited = try await Self.page(client, "ids=c&ids=a&limit=1")
            #expect(limited.ids == ["a"] && limited.hasMore)
            #expect(try await Self.page(client, "ids=c&ids=a&startingAfter=a").ids == ["c"])
            #expect(try await Self.page(client, "email=\(queryEscaped("shared+tag@example.com"))").ids == ["a", "c"])
            #expect(try await Self.page(client, "email=shared+tag@example.com").ids == ["a", "c"], "a literal + stays a plus")
            #expect(try await Self.page(client, "email=nobody@example.com").ids.isEmpty)
            #expect(try await Self.page(client, "requestToBeForgotten=true").ids == ["d"])
            #expect(try await Self.page(client, "requestToBeForgotten=false").ids == ["a", "b", "c"])
            #expect(try await Self.page(client, "requestToBeForgotten=false&email=b@example.com").ids == ["b"])
        }
    }

    @Test("createdTime and updatedTime filter both as exact values and as bracketed ranges")
    func timeFilters() async throws {
        try await withSandbox { sandbox, client async throws in
            var created: [String: String] = [:]
            for id in ["t1", "t2", "t3", "t4"] {
                created[id] = try #require(try sandbox.create(customerBody(id: id))["createdTime"]?.stringValue)
            }
            let t2Updated = try #require(try sandbox.update(id: "t2", ["enabled": false])["updatedTime"]?.stringValue)
            let q = queryEscaped
            let t3 = try #require(created["t3"])

            // Exact value.
            #expect(try await Self.page(client, "createdTime=\(q(t3))").ids == ["t3"])
            #expect(try await Self.page(client, "updatedTime=\(q(t2Updated))").ids == ["t2"])
            #expect(try await Self.page(client, "updatedTime=\(q(try #require(created["t2"])))").ids.isEmpty, "t2 moved on")
            // Ranges, with brackets raw and percent-encoded. (Foundation's URL(string:) re-escapes a `%` it finds next
            // to a raw `[`, so raw brackets go with a raw value; `:` needs no escaping in a query.)
            #expect(try await Self.page(client, "createdTime[gt]=\(t3)").ids == ["t4"])
            #expect(try await Self.page(client, "createdTime%5Bgte%5D=\(q(t3))").ids == ["t3", "t4"])
            #expect(try await Self.page(client, "createdTime%5Blt%5D=\(q(t3))").ids == ["t1", "t2"])
            #expect(try await Self.page(client, "createdTime[lte]=\(t3)").ids == ["t1", "t2", "t3"])
            #expect(try await Self.page(client, "createdTime%5Beq%5D=\(q(t3))").ids == ["t3"])
            #expect(try await Self.page(client, "updatedTime%5Bgte%5D=\(q(t2Updated))").ids == ["t2"])
            #expect(try await Self.page(client, "updatedTime[lt]=\(t2Updated)").ids == ["t1", "t3", "t4"])
            #expect(try await Self.page(client, "updatedTime%5Bgt%5D=\(q(try #require(created["t1"])))&updatedTime%5Blte%5D=\(q(t3))").ids == ["t3"],
                    "ranges combine with AND")
            // A UTC offset written with a literal plus sign.
            let micros = try #require(Timestamp.microseconds(from: t3))
            let plusOne = Timestamp.string(fromMicroseconds: micros + 3_600_000_000).replacingOccurrences(of: "Z", with: "+01:00")
            #expect(try await Self.page(client, "createdTime=\(plusOne)").ids == ["t3"])
        }
    }

    @Test("a deleted customer leaves the list and its id stops working as a cursor")
    func deletedCustomers() async throws {
        try await withSandbox { sandbox, client async throws in
            for id in ["x1", "x2", "x3"] { try sandbox.create(customerBody(id: id)) }
            try sandbox.delete(id: "x2")
            #expect(try await Self.page(client, "").ids == ["x1", "x3"])
            #expect(try await Self.errors(client, "startingAfter=x2") == [ErrorPair(code: "invalid_parameter", parameter: "startingAfter")])
        }
    }

    @Test("paging through 5,000 seeded customers visits each once, in order")
    func largeSeedPaging() async throws {
        try await withSandbox({ $0.seed = 5_000 }) { sandbox, client async throws in
            let expected = sandbox.customerIDs
            #expect(expected.count == 5_000)
            var seen: [String] = []
            var cursor: String?
            var pages = 0
            repeat {
                let page = try await Self.page(client, "limit=100" + (cursor.map { "&startingAfter=\($0)" } ?? ""))
                seen += page.ids
                cursor = page.hasMore ? page.ids.last : nil
                pages += 1
            } while cursor != nil
            #expect(pages == 50)
            #expect(seen == expected)
            #expect(Set(seen).count == 5_000)
        }
    }
}
