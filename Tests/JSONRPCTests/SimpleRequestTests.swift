import JSON
@testable import JSONRPC
import Testing

/// `handleImmediately` reads the common single-call shape with a byte scan instead of the parser; `handle` always
/// parses. Whatever the body, both must answer with the same bytes, or the scan changed the protocol.
@Suite("Simple single-call scan answers exactly as the parser does")
struct SimpleRequestTests {
    /// Echoes what it was called with, so any difference in the call the two paths build shows in the bytes.
    static func server(maxStringBytes: Int = 64 << 10, maxDepth: Int = 32) -> JSONRPCServer {
        var table = JSONRPCMethodTable()
        let echo: @Sendable (JSONRPCCall) -> JSONRPCResult = { call in
            JSONRPCResult(.object(["method": .string(call.method), "params": .object(call.params),
                                   "id": call.id.map { $0.jsonValue } ?? "absent"]))
        }
        table.register("get", immediate: { .result(echo($0)) }) { echo($0) }
        table.register("rpc.echo", immediate: { .result(echo($0)) }) { echo($0) }
        return JSONRPCServer(methods: table, limits: JSONRPCLimits(maxDepth: maxDepth, maxStringBytes: maxStringBytes))
    }

    static let bodies: [String] = [
        #"{"jsonrpc":"2.0","method":"get","params":{"id":"c-1"},"id":1}"#,
        #"{"jsonrpc": "2.0", "method": "get", "params": {"id": "cust-000042"}, "id": 1}"#,
        " \n\t{ \"id\" : 7 ,\r\n \"params\" : { \"id\" : \"c\" } , \"method\" : \"get\" , \"jsonrpc\" : \"2.0\" } \n",
        #"{"id":"abc","jsonrpc":"2.0","method":"get","params":{"id":"c-1"}}"#,
        #"{"jsonrpc":"2.0","method":"get","params":{"id":"c-1"},"id":null}"#,
        #"{"jsonrpc":"2.0","method":"get","params":{"id":"c-1"}}"#,
        #"{"jsonrpc":"2.0","method":"get","params":{"id":"c-1"},"id":-5}"#,
        #"{"jsonrpc":"2.0","method":"get","params":{"id":"c-1"},"id":0}"#,
        #"{"jsonrpc":"2.0","method":"get","params":{"id":"c-1"},"id":-0}"#,
        #"{"jsonrpc":"2.0","method":"get","params":{"id":"c-1"},"id":01}"#,
        #"{"jsonrpc":"2.0","method":"get","params":{"id":"c-1"},"id":1.50}"#,
        #"{"jsonrpc":"2.0","method":"get","params":{"id":"c-1"},"id":1e3}"#,
        #"{"jsonrpc":"2.0","method":"get","params":{"id":"c-1"},"id":123456789012345678}"#,
        #"{"jsonrpc":"2.0","method":"get","params":{"id":"c-1"},"id":1234567890123456789012}"#,
        #"{"jsonrpc":"2.0","method":"get","params":{"id":"c-1"},"id":true}"#,
        #"{"jsonrpc":"2.0","method":"get","params":{"id":"c-1"},"id":[1]}"#,
        #"{"jsonrpc":"2.0","method":"get","params":{},"id":1}"#,
        #"{"jsonrpc":"2.0","method":"get","id":1}"#,
        #"{"jsonrpc":"2.0","method":"get","params":{"id":"c-1","consistency":"store"},"id":1}"#,
        #"{"jsonrpc":"2.0","method":"get","params":{"id":1},"id":1}"#,
        #"{"jsonrpc":"2.0","method":"get","params":["c-1"],"id":1}"#,
        #"{"jsonrpc":"2.0","method":"get","params":null,"id":1}"#,
        #"{"jsonrpc":"2.0","method":"nope","params":{"id":"c-1"},"id":1}"#,
        #"{"jsonrpc":"2.0","method":"rpc.nope","id":1}"#,
        #"{"jsonrpc":"2.0","method":"rpc.echo","id":1}"#,
        #"{"jsonrpc":"2.0","method":"g\u0065t","id":1}"#,
        #"{"jsonrpc":"2.1","method":"get","id":1}"#,
        #"{"jsonrpc":2.0,"method":"get","id":1}"#,
        #"{"method":"get","id":1}"#,
        #"{"jsonrpc":"2.0","id":1}"#,
        #"{"jsonrpc":"2.0","method":7,"id":1}"#,
        #"{"jsonrpc":"2.0","method":"get","id":1,"id":2}"#,
        #"{"jsonrpc":"2.0","method":"get","method":"get","id":1}"#,
        #"{"jsonrpc":"2.0","jsonrpc":"2.0","method":"get","id":1}"#,
        #"{"jsonrpc":"2.0","method":"get","params":{"id":"a","id":"b"},"id":1}"#,
        #"{"jsonrpc":"2.0","method":"get","params":{},"params":{},"id":1}"#,
        #"{"jsonrpc":"2.0","method":"get","id":1,"extra":1}"#,
        #"{"jsonrpc":"2.0","method":"get","params":{"id":"c-1"},"id":1}x"#,
        #"{"jsonrpc":"2.0","method":"get","params":{"id":"c-1"},"id":1} {}"#,
        #"{"jsonrpc":"2.0","method":"get","params":{"id":"c-1"},"id":1,}"#,
        #"{"jsonrpc":"2.0" "method":"get","id":1}"#,
        #"{"jsonrpc":"2.0","method":"get","params":{"id":"c-1"},"id":1"#,
        #"{"jsonrpc":"2.0","method":"get","params":{"id":"c-1"#,
        "{}", "{", "", " ", "[]", "null", "\"get\"",
        #"[{"jsonrpc":"2.0","method":"get","params":{"id":"c-1"},"id":1}]"#,
        #"{"jsonrpc":"2.0","method":"get","params":{"id":"ü"},"id":1}"#,
        "{\"jsonrpc\":\"2.0\",\"method\":\"get\",\"params\":{\"id\":\"a\u{01}b\"},\"id\":1}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"get\",\"params\":{\"id\":\"a\u{7F}b\"},\"id\":1}",
        #"{"jsonrpc":"2.0","method":"get","params":{"id":"c\"1"},"id":"q\\"}"#,
        #"{"jsonrpc":"2.0","method":"get","params":{"id":"0123456789abcdef"},"id":"0123456789"}"#,
    ]

    func both(_ server: JSONRPCServer, _ body: String) async -> (immediate: String?, parsed: String?) {
        let bytes = Array(body.utf8)
        guard case .response(let immediate) = server.handleImmediately(body: bytes, context: .init()) else {
            Issue.record("every method here answers immediately: \(body)")
            return (nil, nil)
        }
        let parsed = await server.handle(body: bytes, context: .init())
        return (immediate.map { String(decoding: $0, as: UTF8.self) }, parsed.map { String(decoding: $0, as: UTF8.self) })
    }

    @Test("the same bytes for the simple shape, its near misses, and malformed bodies", arguments: bodies)
    func sameAnswer(body: String) async {
        let (immediate, parsed) = await both(Self.server(), body)
        #expect(immediate == parsed, "body: \(body)")
    }

    @Test("limits the parser enforces are enforced on the simple shape too", arguments: bodies)
    func sameAnswerUnderTightLimits(body: String) async {
        let (immediate, parsed) = await both(Self.server(maxStringBytes: 10, maxDepth: 1), body)
        #expect(immediate == parsed, "body: \(body)")
        let (shortStrings, parsedShort) = await both(Self.server(maxStringBytes: 10), body)
        #expect(shortStrings == parsedShort, "body: \(body)")
    }

    @Test("the simple shape reaches the handler with the call the parser would build")
    func callContents() async throws {
        let (immediate, _) = await both(Self.server(), #"{"jsonrpc": "2.0", "method": "get", "params": {"id": "cust-000042"}, "id": 1}"#)
        #expect(immediate == #"{"jsonrpc":"2.0","result":{"method":"get","params":{"id":"cust-000042"},"id":1},"id":1}"#)
    }
}

/// Which bodies the scan itself takes: the shapes clients send take it, and a near miss must not (it goes to the parser).
@Suite("Simple single-call scan: what it accepts")
struct SimpleRequestScanTests {
    func scans(_ body: String) -> Bool {
        Array(body.utf8).withUnsafeBytes { JSONRPCSimpleRequest($0, limits: JSONRPCLimits()) != nil }
    }

    @Test("customer.get as clients write it, compact or spaced, in any member order")
    func accepted() {
        #expect(scans(#"{"jsonrpc":"2.0","method":"customer.get","params":{"id":"c-1"},"id":1}"#))
        #expect(scans(#"{"jsonrpc": "2.0", "method": "customer.get", "params": {"id": "cust-000042"}, "id": 1}"#))
        #expect(scans(#"{"id":"x","params":{"id":"c"},"method":"m","jsonrpc":"2.0"}"#))
        #expect(scans(#"{"jsonrpc":"2.0","method":"m"}"#))
    }

    @Test("anything outside the shape goes to the parser", arguments: [
        #"{"jsonrpc":"2.0","method":"m","id":1,"id":2}"#, #"{"jsonrpc":"2.0","method":"m","params":{"id":"a","x":1}}"#,
        #"{"jsonrpc":"2.0","method":"m","id":1.5}"#, #"{"jsonrpc":"2.0","method":"m","id":-0}"#, #"{"jsonrpc":"2.0","method":"m\u0031"}"#,
        #"{"jsonrpc":"2.0","method":"m"} x"#, #"[{"jsonrpc":"2.0","method":"m"}]"#, #"{"jsonrpc":"2.0","method":"ü"}"#,
        #"{"jsonrpc":"2.0"}"#, #"{"method":"m"}"#, "{}",
    ])
    func refused(body: String) {
        #expect(!scans(body))
    }
}
