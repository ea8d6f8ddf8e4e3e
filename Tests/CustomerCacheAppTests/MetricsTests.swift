@testable import CustomerCacheApp
import Foundation
import HTTPTestClient
import JSON
import ServiceMetrics
import Testing

extension LiveService {
    /// `/metrics` over HTTP as series → value.
    func scrape() throws -> (text: String, values: [String: Double]) {
        let response = try #require(RawClient(rpc).exchange(method: "GET", path: "/metrics"))
        #expect(response.status == 200)
        var values: [String: Double] = [:]
        for line in response.bodyText.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                Issue.record("not a sample line: \(line)")
                continue
            }
            values[String(line[..<space])] = value
        }
        return (response.bodyText, values)
    }

    func getCustomer(_ id: String, consistency: String? = nil) throws -> JSONValue {
        let extra = consistency.map { #","consistency":"\#($0)""# } ?? ""
        return try rpcJSON(#"{"jsonrpc":"2.0","method":"customer.get","params":{"id":"\#(id)"\#(extra)},"id":1}"#)
    }
}

/// The sum of the series of `family` whose labels include every pair in `labels`.
private func total(_ values: [String: Double], _ family: MetricFamily, _ labels: [String: String] = [:]) -> Double {
    values.filter { key, _ in
        (key == family.name || key.hasPrefix(family.name + "{")) && labels.allSatisfy { key.contains(#"\#($0.key)="\#($0.value)""#) }
    }.values.reduce(0, +)
}

@Suite("Metrics: Prometheus semantics of what the service counts", .serialized)
struct MetricsTests {
    @Test("/metrics lists exactly the declared families, each with HELP and TYPE, and one label set per family")
    func exposition() throws {
        let live = try LiveService()
        defer { live.stop(); live.removeData() }
        let response = try #require(RawClient(live.rpc).exchange(method: "GET", path: "/metrics"))
        #expect(response.headers.first { $0.0.lowercased() == "content-type" }?.1 == "text/plain; version=0.0.4; charset=utf-8")
        let lines = response.bodyText.split(separator: "\n").map(String.init)
        let types = lines.filter { $0.hasPrefix("# TYPE ") }.map { $0.split(separator: " ")[2] }.map(String.init)
        #expect(types == MetricFamily.all.map(\.name))
        #expect(lines.filter { $0.hasPrefix("# HELP ") }.count == MetricFamily.all.count)
        var current: MetricFamily?
        for line in lines {
            if line.hasPrefix("# TYPE ") { current = MetricFamily.named(String(line.split(separator: " ")[2])); continue }
            if line.hasPrefix("#") { continue }
            let family = try #require(current, "a sample before any TYPE: \(line)")
            let series = line.prefix { $0 != " " }
            let name = String(series.prefix { $0 != "{" })
            let allowed = family.kind == .histogram ? ["_bucket", "_sum", "_count"].map { family.name + $0 } : [family.name]
            #expect(allowed.contains(name), "\(line) under \(family)")
            var labelNames: [String] = []
            if let open = series.firstIndex(of: "{") {
                for pair in series[series.index(after: open)...].dropLast().split(separator: ",") {
                    labelNames.append(String(pair.prefix { $0 != "=" }))
                }
            }
            if name == family.name + "_bucket" { #expect(labelNames.last == "le"); labelNames.removeLast() }
            #expect(labelNames == family.labelNames, "\(line)")
        }
    }

    @Test("webhook outcomes are mutually exclusive: sum() over the family is the number of deliveries")
    func exclusiveWebhookOutcomes() throws {
        let live = try LiveService()
        defer { live.stop(); live.removeData() }
        #expect(try live.postEvent(Events.event("e1", object: Events.customer("c1")))?.status == 200)                            // applied
        #expect(try live.postEvent(Events.event("e1", object: Events.customer("c1")))?.status == 200)                            // duplicate
        #expect(try live.postEvent(Events.event("e2", object: Events.customer("c1")))?.status == 200)                            // unchanged
        #expect(try live.postEvent(Events.event("e3", type: "order.accepted", object: #"{"id":"o1"}"#))?.status == 200)        // ignored_type
        #expect(try live.postEvent(Events.event("e4", object: Events.customer("c2"), liveMode: true))?.status == 400)           // wrong_mode
        #expect(try live.postEvent(Array(#"{"id":"e5"}"#.utf8))?.status == 400)                                                // malformed_event
        #expect(try live.postEvent(Events.event("e6", object: Events.customer("c3")), secret: "whsec_wrong")?.status == 401)    // bad_signature
        #expect(try live.postEvent(Events.event("e7", object: Events.customer("c4")), timestamp: live.clock.seconds - 3600)?.status == 401) // stale
        let values = try live.scrape().values
        #expect(total(values, .webhookEvents) == 8)
        for outcome in ["applied", "duplicate", "unchanged", "ignored_type", "wrong_mode", "malformed_event", "bad_signature", "stale_timestamp"] {
            #expect(total(values, .webhookEvents, ["outcome": outcome]) == 1, "\(outcome)")
        }
        // Verification is a step of its own family, never an outcome: the six that verified, not added to the sum above.
        #expect(total(values, .webhookSignaturesVerified) == 6)
        #expect(total(values, .webhookSignatureRejections) == 2)
        #expect(values.keys.allSatisfy { !$0.hasPrefix(MetricFamily.webhookEvents.name) || !$0.contains("verified") })
    }

    @Test("not_found is counted on every path that answers not found, and sum() by method counts calls (no upstream)")
    func notFoundWithoutUpstream() throws {
        let live = try LiveService()
        defer { live.stop(); live.removeData() }
        try live.seed("held")
        #expect(try live.getCustomer("held")["result"]?["id"] == "held")
        #expect(try live.getCustomer("nobody")["error"]?["data"]?["error"] == "customer_not_found")                // memory, no upstream
        #expect(try live.getCustomer("held", consistency: "store")["result"]?["id"] == "held")                     // store read
        #expect(try live.getCustomer("nobody", consistency: "store")["error"] != nil)                              // store: none, no upstream
        #expect(try live.rpcJSON(#"{"jsonrpc":"2.0","method":"customer.get","params":{"id":""},"id":1}"#)["error"] != nil) // invalid params
        let values = try live.scrape().values
        let get = ["method": "customer.get"]
        #expect(total(values, .rpcOutcomes, get.merging(["outcome": "cache_hit"]) { $1 }) == 1)
        #expect(total(values, .rpcOutcomes, get.merging(["outcome": "store_read"]) { $1 }) == 1)
        #expect(total(values, .rpcOutcomes, get.merging(["outcome": "not_found"]) { $1 }) == 1)
        #expect(total(values, .rpcOutcomes, get) == 5)
    }

    @Test("not_found is counted on every path that answers not found: upstream 404, negative cache, store, forced upstream")
    func notFoundWithUpstream() throws {
        let upstream = try UpstreamSandbox()
        let live = try LiveService.withUpstream(upstream)
        defer { live.stop(); live.removeData() }
        let notFound = { (response: JSONValue) in response["error"]?["data"]?["error"] == "customer_not_found" }
        #expect(notFound(try live.getCustomer("nobody")))                              // read-through: Digital River says 404
        #expect(notFound(try live.getCustomer("nobody")))                              // negative cache
        #expect(notFound(try live.getCustomer("nobody-2", consistency: "store")))      // store has none, then 404
        #expect(notFound(try live.getCustomer("nobody-3", consistency: "upstream")))   // forced upstream read
        #expect(try live.getCustomer("cust-000001")["result"]?["id"] == "cust-000001") // read_through
        #expect(try live.getCustomer("cust-000001")["result"]?["id"] == "cust-000001") // cache_hit
        #expect(try live.postEvent(Events.event("del", type: "customer.deleted", object: #"{"id":"cust-000001"}"#, created: "2030-01-01T00:00:00Z"))?.status == 200)
        #expect(try live.getCustomer("cust-000001")["error"]?["data"]?["error"] == "customer_gone")                       // gone, memory
        #expect(try live.getCustomer("cust-000001", consistency: "store")["error"]?["data"]?["error"] == "customer_gone") // gone, store
        let values = try live.scrape().values
        let get = { (outcome: String) in total(values, .rpcOutcomes, ["method": "customer.get", "outcome": outcome]) }
        #expect(get("not_found") == 4)
        #expect(get("read_through") == 1)
        #expect(get("cache_hit") == 1)
        #expect(get("gone") == 2)
        #expect(total(values, .rpcOutcomes, ["method": "customer.get"]) == 8)
    }

    @Test("cache.load counts customers in a family of its own, never in the calls' outcomes")
    func loadAppliedCustomers() throws {
        let live = try LiveService()
        defer { live.stop(); live.removeData() }
        let customers = (1...3).map { Events.customer("load-\($0)") }.joined(separator: ",")
        let response = try live.rpcJSON(#"{"jsonrpc":"2.0","method":"cache.load","params":{"customers":[\#(customers)]},"id":1}"#)
        #expect(response["result"]?["applied"] == 3)
        let values = try live.scrape().values
        #expect(total(values, .loadAppliedCustomers) == 3)
        #expect(total(values, .rpcOutcomes) == 0)
    }

    @Test("README's metrics table lists exactly the declared families, with their types and labels")
    func readmeTable() throws {
        let text = try String(contentsOf: ContractTests.root.appendingPathComponent("README.md"), encoding: .utf8)
        var rows: [(name: String, type: String, labels: [String])] = []
        var inSection = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            if line.hasPrefix("## ") { if inSection { break }; inSection = line == "## Metrics"; continue }
            guard inSection, line.hasPrefix("| `") else { continue }
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 5, let name = ContractTests.firstCode(in: cells[1]) else { continue }
            let labels = cells[3].split(separator: "`", omittingEmptySubsequences: false).enumerated().filter { $0.offset % 2 == 1 }.map { String($0.element) }
            rows.append((name, cells[2], labels))
        }
        #expect(!rows.isEmpty, "no table under '## Metrics' in README.md")
        let documented = Dictionary(rows.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        #expect(rows.count == documented.count, "a family is listed twice")
        for family in MetricFamily.all {
            guard let row = documented[family.name] else { Issue.record("README's metrics table lacks \(family)"); continue }
            #expect(row.type == family.kind.rawValue, "type of \(family)")
            #expect(row.labels == family.labelNames, "labels of \(family)")
        }
        for row in rows where MetricFamily.named(row.name) == nil {
            Issue.record("README lists \(row.name), which the service does not declare")
        }
    }
}
