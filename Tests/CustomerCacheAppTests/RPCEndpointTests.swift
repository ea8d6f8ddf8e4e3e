@testable import CustomerCacheApp
import Customers
import Foundation
import HTTPTestClient
import JSON
import Testing

extension LiveService {
    /// One JSON-RPC exchange on the internal listener.
    func rpc(_ body: String, token: String? = nil, contentType: String? = "application/json", client: RawClient? = nil) throws -> WireResponse? {
        let connection = try client ?? RawClient(rpc)
        var headers: [(String, String)] = contentType.map { [("Content-Type", $0)] } ?? []
        if let token { headers.append(("Authorization", "Bearer \(token)")) }
        return connection.exchange(method: "POST", path: "/rpc", headers: headers, body: Array(body.utf8))
    }

    func rpcJSON(_ body: String, token: String? = nil) throws -> JSONValue {
        let response = try #require(try rpc(body, token: token))
        #expect(response.status == 200)
        return try JSONValue.parse(response.body)
    }

    func seed(_ id: String, email: String = "jane@example.com") throws {
        let response = try postEvent(Events.event("seed-\(id)-\(UUID().uuidString)", object: Events.customer(id, email: email)))
        #expect(response?.status == 200)
    }
}

@Suite("JSON-RPC endpoint over real sockets (no upstream)")
struct RPCEndpointTests {
    @Test("customer.get returns the cached customer byte for byte, unknown fields included")
    func getHit() throws {
        let live = try LiveService()
        defer { live.stop(); live.removeData() }
        let object = #"{"id":"c1","email":"jane@example.com","updatedTime":"2024-01-01T00:00:00Z","futureField":{"x":[1,2]}}"#
        #expect(try live.postEvent(Events.event("e1", object: object))?.status == 200)
        let response = try live.rpcJSON(#"{"jsonrpc":"2.0","method":"customer.get","params":{"id":"c1"},"id":7}"#)
        #expect(response["id"] == 7)
        #expect(response["result"]?["futureField"]?["x"] == [1, 2])
        #expect(response["result"]?["email"] == "jane@example.com")
    }

    @Test("an unknown customer without upstream is -31001 with data naming the id")
    func getMissNoUpstream() throws {
        let live = try LiveService()
        defer { live.stop(); live.removeData() }
        let response = try live.rpcJSON(#"{"jsonrpc":"2.0","method":"customer.get","params":{"id":"nobody"},"id":"a"}"#)
        #expect(response["error"]?["code"] == -31001)
        #expect(response["error"]?["data"]?["id"] == "nobody")
        #expect(response["error"]?["data"]?["error"] == "customer_not_found")
    }

    @Test("without an upstream, consistency upstream on a cached customer says no upstream is configured, not not-found")
    func upstreamConsistencyWithoutUpstream() throws {
        let live = try LiveService()
        defer { live.stop(); live.removeData() }
        try live.seed("held")
        let response = try live.rpcJSON(#"{"jsonrpc":"2.0","method":"customer.get","params":{"id":"held","consistency":"upstream"},"id":1}"#)
        #expect(response["error"]?["code"] == -31003)
        #expect(response["error"]?["data"]?["error"] == "upstream_unavailable")
        #expect(response["error"]?["data"]?["reason"] == "no upstream configured")
        let cached = try live.rpcJSON(#"{"jsonrpc":"2.0","method":"customer.get","params":{"id":"held"},"id":2}"#)
        #expect(cached["result"]?["id"] == "held")
    }

    @Test("rpc.discover refuses unknown parameters with -32602 naming them, like every method")
    func discoverRefusesUnknownParameters() throws {
        let live = try LiveService()
        defer { live.stop(); live.removeData() }
        let refused = try live.rpcJSON(#"{"jsonrpc":"2.0","method":"rpc.discover","params":{"verbose":true},"id":1}"#)
        #expect(refused["error"]?["code"] == -32602)
        #expect(refused["error"]?["data"]?["parameter"] == "verbose")
        let served = try live.rpcJSON(#"{"jsonrpc":"2.0","method":"rpc.discover","params":{},"id":2}"#)
        #expect(served["result"]?["openrpc"] == "1.3.2")
    }

    @Test("deleted and forgotten customers get -31002 with their state")
    func gone() throws {
        let live = try LiveService()
        defer { live.stop(); live.removeData() }
        try live.seed("c1")
        #expect(try live.postEvent(Array(#"{"id":"d1","type":"customer.deleted","data":{"object":{},"previousAttributes":{"id":"c1"}},"liveMode":false,"createdTime":"2030-01-01T00:00:00Z"}"#.utf8))?.status == 200)
        let deleted = try live.rpcJSON(#"{"jsonrpc":"2.0","method":"customer.get","params":{"id":"c1"},"id":1}"#)
        #expect(deleted["error"]?["code"] == -31002)
        #expect(deleted["error"]?["data"]?["state"] == "deleted")
        try live.seed("c2")
        _ = try live.rpcJSON(#"{"jsonrpc":"2.0","method":"customer.forget","params":{"id":"c2"},"id":2}"#)
        let forgotten = try live.rpcJSON(#"{"jsonrpc":"2.0","method":"customer.get","params":{"id":"c2"},"id":3}"#)
        #expect(forgotten["error"]?["data"]?["state"] == "forgotten")
    }

    @Test("invalid params name the parameter in data", arguments: [
        (#"{"jsonrpc":"2.0","method":"customer.get","params":{},"id":1}"#, "id"),
        (#"{"jsonrpc":"2.0","method":"customer.get","params":{"id":5},"id":1}"#, "id"),
        (#"{"jsonrpc":"2.0","method":"customer.get","params":{"id":"c","consistency":"eventual"},"id":1}"#, "consistency"),
        (#"{"jsonrpc":"2.0","method":"customer.get","params":{"id":"c","extra":1},"id":1}"#, "extra"),
        (#"{"jsonrpc":"2.0","method":"customer.ensure","params":{"id":"\#(String(repeating: "x", count: 41))"},"id":1}"#, "id"),
        (#"{"jsonrpc":"2.0","method":"customer.ensure","params":{"id":"c","type":"person"},"id":1}"#, "type"),
        (#"{"jsonrpc":"2.0","method":"customer.ensure","params":{"id":"c","locale":"english"},"id":1}"#, "locale"),
        (#"{"jsonrpc":"2.0","method":"customer.ensure","params":{"id":"c","metadata":{}},"id":1}"#, "metadata"),
        (#"{"jsonrpc":"2.0","method":"customer.ensure","params":{"id":"c","metadata":{"k":"\#(String(repeating: "v", count: 501))"}},"id":1}"#, "metadata.k"),
        (#"{"jsonrpc":"2.0","method":"customer.ensure","params":{"id":"c","shipping":{"address":{"line1":"x"}}},"id":1}"#, "shipping.address.country"),
        (#"{"jsonrpc":"2.0","method":"customer.ensure","params":{"id":"c","taxCertificate":{"companyName":"A"}},"id":1}"#, "taxCertificate.taxAuthority"),
        (#"{"jsonrpc":"2.0","method":"customer.ensure","params":{"id":"c","enabled":"yes"},"id":1}"#, "enabled"),
        (#"{"jsonrpc":"2.0","method":"customer.ensure","params":{"id":"c","email":"not-an-email"},"id":1}"#, "email"),
        (#"{"jsonrpc":"2.0","method":"customer.get","params":["c1"],"id":1}"#, "params"),
    ])
    func invalidParams(_ body: String, _ parameter: String) throws {
        let live = try LiveService()
        defer { live.stop(); live.removeData() }
        let response = try live.rpcJSON(body)
        #expect(response["error"]?["code"] == -32602)
        #expect(response["error"]?["data"]?["parameter"] == .string(parameter))
    }

    @Test("customer.ensure without an upstream is -31003 upstream unavailable")
    func ensureNoUpstream() throws {
        let live = try LiveService()
        defer { live.stop(); live.removeData() }
        let response = try live.rpcJSON(#"{"jsonrpc":"2.0","method":"customer.ensure","params":{"id":"new-1"},"id":1}"#)
        #expect(response["error"]?["code"] == -31003)
    }

    @Test("customer.ensure of a cached customer returns it unchanged with created false")
    func ensureHit() throws {
        let live = try LiveService()
        defer { live.stop(); live.removeData() }
        try live.seed("c1")
        let response = try live.rpcJSON(#"{"jsonrpc":"2.0","method":"customer.ensure","params":{"id":"c1","email":"other@example.com"},"id":1}"#)
        #expect(response["result"]?["created"] == false)
        #expect(response["result"]?["customer"]?["email"] == "jane@example.com")
    }

    @Test("customer.forget purges PII at once, is idempotent, and a replayed older webhook cannot restore it")
    func forget() throws {
        let live = try LiveService()
        defer { live.stop(); live.removeData() }
        try live.seed("c1", email: "private@example.com")
        let first = try live.rpcJSON(#"{"jsonrpc":"2.0","method":"customer.forget","params":{"id":"c1"},"id":1}"#)
        #expect(first["result"]?["forgotten"] == true)
        #expect(first["result"]?["upstream"] == "queued_no_upstream")
        #expect(!live.storedText("c1").contains("private@"))
        let again = try live.rpcJSON(#"{"jsonrpc":"2.0","method":"customer.forget","params":{"id":"c1"},"id":2}"#)
        #expect(again["result"]?["forgotten"] == true)
        let replay = try #require(try live.postEvent(Events.event("late", object: Events.customer("c1", updated: "2035-01-01T00:00:00Z", email: "private@example.com"))))
        #expect(replay.bodyText == #"{"status":"ignored_tombstone"}"#)
        #expect(!live.storedText("c1").contains("private@"))
        #expect(live.store?.queuedForgets == ["c1"])
    }

    @Test("a batch mixing hits, misses, bad members and notifications answers each in order")
    func mixedBatch() throws {
        let live = try LiveService()
        defer { live.stop(); live.removeData() }
        try live.seed("c1")
        let response = try live.rpcJSON(#"""
            [{"jsonrpc":"2.0","method":"customer.get","params":{"id":"c1"},"id":1},
             {"jsonrpc":"2.0","method":"customer.get","params":{"id":"zz"},"id":2},
             {"jsonrpc":"2.0","method":"customer.get","params":{"id":"c1"}},
             1,
             {"jsonrpc":"2.0","method":"nope","id":3}]
            """#)
        let items = try #require(response.arrayValue)
        #expect(items.count == 4)
        #expect(items[0]["result"]?["id"] == "c1")
        #expect(items[1]["error"]?["code"] == -31001)
        #expect(items[2]["error"]?["code"] == -32600)
        #expect(items[3]["error"]?["code"] == -32601)
    }

    @Test("only notifications: HTTP 200 with an empty body, Content-Length 0 and no Content-Type", arguments: [
        #"[{"jsonrpc":"2.0","method":"customer.get","params":{"id":"c1"}}]"#,
        #"{"jsonrpc":"2.0","method":"customer.get","params":{"id":"c1"}}"#,
    ])
    func notificationsOnly(_ body: String) throws {
        let live = try LiveService()
        defer { live.stop(); live.removeData() }
        let response = try #require(try live.rpc(body))
        #expect(response.status == 200)
        #expect(response.body.isEmpty)
        #expect(response.header("Content-Length") == "0")
        #expect(response.header("Content-Type") == nil)
    }

    @Test("the JSON types JSON-RPC clients send, and no Content-Type at all, are served", arguments: [
        "application/json", "application/json-rpc", "application/jsonrequest; charset=utf-8", nil,
    ])
    func clientContentTypes(_ contentType: String?) throws {
        let live = try LiveService()
        defer { live.stop(); live.removeData() }
        let response = try #require(try live.rpc(#"{"jsonrpc":"2.0","method":"customer.get","params":{"id":"c"},"id":1}"#, contentType: contentType))
        #expect(response.status == 200)
        #expect(try JSONValue.parse(response.body)["error"]?["code"] != nil)
    }

    @Test("types a browser may POST cross-site without preflight are 415", arguments: [
        "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
    ])
    func crossSiteTypesRefused(_ contentType: String) throws {
        let live = try LiveService()
        defer { live.stop(); live.removeData() }
        #expect(try live.rpc(#"{"jsonrpc":"2.0","method":"customer.get","params":{"id":"c"},"id":1}"#, contentType: contentType)?.status == 415)
    }

    @Test("wrong content type is 415, other methods 405 with Allow, bodies over the limit 413")
    func httpErrors() throws {
        let live = try LiveService(settings: ["max-body-bytes": "2048"])
        defer { live.stop(); live.removeData() }
        #expect(try live.rpc(#"{"jsonrpc":"2.0","method":"customer.get","params":{"id":"c"},"id":1}"#, contentType: "text/plain")?.status == 415)
        #expect(try live.rpc("{}", contentType: "application/json; charset=utf-8")?.status == 200)
        let get = try #require(RawClient(live.rpc).exchange(method: "GET", path: "/rpc"))
        #expect(get.status == 405)
        #expect(get.header("Allow") == "POST")
        #expect(try live.rpc(String(repeating: " ", count: 4096))?.status == 413)
    }

    @Test("batch length and nesting limits give -32600 with the limit in data")
    func limits() throws {
        let live = try LiveService(settings: ["rpc-max-batch": "3", "rpc-max-depth": "8"])
        defer { live.stop(); live.removeData() }
        let call = #"{"jsonrpc":"2.0","method":"customer.get","params":{"id":"c"},"id":1}"#
        let four = try live.rpcJSON("[" + Array(repeating: call, count: 4).joined(separator: ",") + "]")
        #expect(four["error"]?["code"] == -32600)
        #expect(four["error"]?["data"]?["limit"] == 3)
        let three = try live.rpcJSON("[" + Array(repeating: call, count: 3).joined(separator: ",") + "]")
        #expect(three.arrayValue?.count == 3)
        let deep = try live.rpcJSON(#"{"jsonrpc":"2.0","method":"customer.get","params":{"id":"c","x":[[[[[[[[1]]]]]]]]},"id":1}"#)
        #expect(deep["error"]?["code"] == -32600)
    }

    @Test("with tokens configured: no token or a wrong one is HTTP 401 and no method runs; a scoped caller gets -31005")
    func authentication() throws {
        let tokens = "checkout tok_checkout_0123456789 customer.get\nops tok_operations_0123456789"
        let live = try LiveService(environment: [AppConfiguration.webhookSecretsEnvironmentName: LiveService.secret, "CUSTOMER_CACHE_RPC_TOKENS": tokens])
        defer { live.stop(); live.removeData() }
        try live.seed("c1")
        let forget = #"{"jsonrpc":"2.0","method":"customer.forget","params":{"id":"c1"},"id":1}"#
        let missing = try #require(try live.rpc(forget))
        #expect(missing.status == 401)
        #expect(missing.header("WWW-Authenticate")?.hasPrefix("Bearer") == true)
        #expect(try live.rpc(forget, token: "tok_wrong_000000000000")?.status == 401)
        #expect(live.store?.record(for: "c1")?.state == .live)
        let scoped = try live.rpcJSON(forget, token: "tok_checkout_0123456789")
        #expect(scoped["error"]?["code"] == -31005)
        #expect(live.store?.record(for: "c1")?.state == .live)
        #expect(try live.rpcJSON(#"{"jsonrpc":"2.0","method":"customer.get","params":{"id":"c1"},"id":1}"#, token: "tok_checkout_0123456789")["result"]?["id"] == "c1")
        // One batch: each member judged by the same grant; rpc.discover is open to every authenticated caller.
        let batch = try live.rpcJSON("[" + [#"{"jsonrpc":"2.0","method":"customer.get","params":{"id":"c1"},"id":1}"#,
                                            forget.replacingOccurrences(of: #""id":1"#, with: #""id":2"#),
                                            #"{"jsonrpc":"2.0","method":"rpc.discover","id":3}"#].joined(separator: ",") + "]",
                                     token: "tok_checkout_0123456789")
        #expect(batch[0]?["result"]?["id"] == "c1")
        #expect(batch[1]?["error"]?["code"] == -31005)
        #expect(batch[1]?["error"]?["data"]?["method"] == "customer.forget")
        #expect(batch[2]?["result"]?["openrpc"] == "1.3.2")
        #expect(live.store?.record(for: "c1")?.state == .live)
        #expect(try live.rpcJSON(forget, token: "tok_operations_0123456789")["result"]?["forgotten"] == true)
    }

    @Test("every customer.forget is logged with caller, id and outcome, and no PII")
    func forgetAudit() throws {
        let capture = LogCapture()
        let live = try LiveService(environment: [AppConfiguration.webhookSecretsEnvironmentName: LiveService.secret,
                                                 "CUSTOMER_CACHE_RPC_TOKENS": "support tok_support_0123456789"], logHandler: capture)
        defer { live.stop(); live.removeData() }
        try live.seed("c9", email: "audit-me@example.com")
        _ = try live.rpcJSON(#"{"jsonrpc":"2.0","method":"customer.forget","params":{"id":"c9"},"id":1}"#, token: "tok_support_0123456789")
        let line = try #require(capture.text.split(separator: "\n").first { $0.contains("customer.forget") })
        #expect(line.contains("caller=support"))
        #expect(line.contains("customer_id=c9"))
        #expect(line.contains("outcome=forgotten"))
        #expect(!capture.text.contains("audit-me"))
        #expect(!capture.text.contains("tok_support"))
    }

    @Test("cache.load applies full customers under the webhook rules and saves the checkpoint with them")
    func cacheLoad() throws {
        let live = try LiveService()
        defer { live.stop(); live.removeData() }
        #expect(try live.postEvent(Events.event("e1", object: Events.customer("newer", updated: "2024-06-01T00:00:00Z", email: "webhook@example.com")))?.status == 200)
        _ = try live.rpcJSON(#"{"jsonrpc":"2.0","method":"customer.forget","params":{"id":"forgot"},"id":0}"#)
        let load = try live.rpcJSON(#"""
            {"jsonrpc":"2.0","method":"cache.load","id":1,"params":{"customers":[
              {"id":"fresh","email":"f@example.com","updatedTime":"2024-01-01T00:00:00Z"},
              {"id":"newer","email":"warm@example.com","updatedTime":"2024-01-01T00:00:00Z"},
              {"id":"forgot","email":"back@example.com","updatedTime":"2030-01-01T00:00:00Z"},
              {"email":"no-id@example.com"}],
             "checkpoint":{"name":"warm:all","value":"fresh"}}}
            """#)
        #expect(load["result"]?["applied"] == 1)
        #expect(load["result"]?["older"] == 1)
        #expect(load["result"]?["forgotten"] == 1)
        #expect(load["result"]?["invalid"]?[0]?["field"] == "id")
        #expect(live.storedText("newer").contains("webhook@example.com"))
        #expect(live.store?.record(for: "forgot")?.state == .forgotten)
        let checkpoint = try live.rpcJSON(#"{"jsonrpc":"2.0","method":"cache.checkpoint","params":{"name":"warm:all"},"id":2}"#)
        #expect(checkpoint["result"]?["value"] == "fresh")
    }
}

@Suite("JSON-RPC when the store cannot commit")
struct RPCStoreFailureTests {
    @Test("writes get -31007 store_unavailable while cached reads keep being served")
    func storeUnavailable() throws {
        let live = try LiveService()
        defer { live.stop(); live.removeData() }
        try live.seed("c1")
        live.store?.close()
        let forget = try live.rpcJSON(#"{"jsonrpc":"2.0","method":"customer.forget","params":{"id":"c1"},"id":1}"#)
        #expect(forget["error"]?["code"] == -31007)
        let load = try live.rpcJSON(#"{"jsonrpc":"2.0","method":"cache.load","params":{"customers":[{"id":"x"}]},"id":2}"#)
        #expect(load["error"]?["code"] == -31007)
        #expect(try live.rpcJSON(#"{"jsonrpc":"2.0","method":"customer.get","params":{"id":"c1"},"id":3}"#)["result"]?["id"] == "c1")
    }
}

@Suite("Content-Type matching")
struct ContentTypeTests {
    @Test("the JSON-RPC JSON types in any case, with or without parameters, no header, and nothing else", arguments: [
        ("application/json", true), ("Application/JSON", true), ("application/json; charset=utf-8", true),
        ("application/json ;charset=utf-8", true), ("application/json-rpc", true), ("Application/JSON-RPC; charset=utf-8", true),
        ("application/jsonrequest", true), ("application/JsonRequest ; x=y", true), (nil, true),
        ("application/jsonx", false), ("application/json-patch+json", false), ("application/json-rp", false),
        ("application/json-rpcx", false), ("application/jsonrequests", false), ("application/jsonreq", false),
        ("text/json", false), ("application/jso", false), ("", false), ("text/plain", false),
        ("application/x-www-form-urlencoded", false), ("multipart/form-data; boundary=x", false),
    ] as [(String?, Bool)])
    func matching(_ value: String?, _ expected: Bool) {
        #expect(RPCEndpoint.isJSON(value) == expected)
    }
}
