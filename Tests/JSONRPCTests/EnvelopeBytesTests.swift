import JSON
import JSONRPC
import Testing

/// The response envelope and error objects are written by hand (`Outcome`, `JSONRPCError.encodeObject`): they are
/// on the customer.get hit path, measured in `bench/run instructions`. These tests keep those bytes equal to what
/// the JSON module's writer produces for the same response.
@Suite("Hand-written envelopes equal the JSON writer's output")
struct EnvelopeBytesTests {
    static let cached = Array(#"{"id":"c-1","note":"a\u00e9\/b","n":1.50}"#.utf8)

    static func server() -> JSONRPCServer {
        var table = JSONRPCMethodTable()
        table.register("get", immediate: { _ in .result(JSONRPCResult(encoded: cached)) }) { _ in JSONRPCResult(encoded: cached) }
        table.register("fail") { _ throws(JSONRPCError) in
            throw JSONRPCError(code: -31001, message: "Customer \"not\" found", data: ["id": "c-1", "tags": [1, nil]])
        }
        return JSONRPCServer(methods: table)
    }

    static func envelope(_ writer: inout JSONStreamWriter, id: JSONValue, result: [UInt8]? = nil, error: JSONValue? = nil) {
        writer.beginObject()
        writer.member("jsonrpc", "2.0")
        if let result {
            writer.key("result")
            writer.encoded(result)
        }
        if let error { writer.member("error", error) }
        writer.member("id", id)
        writer.endObject()
    }

    static let errorObject: JSONValue = ["code": -31001, "message": "Customer \"not\" found", "data": ["id": "c-1", "tags": [1, nil]]]

    @Test("a result, an error, string and number ids, alone and in a batch")
    func sameBytes() async throws {
        let rpc = Self.server()
        var single = JSONStreamWriter()
        Self.envelope(&single, id: "q\"1", result: Self.cached)
        #expect(await respond(rpc, #"{"jsonrpc":"2.0","method":"get","id":"q\"1"}"#) == String(decoding: single.document, as: UTF8.self))

        var failed = JSONStreamWriter()
        Self.envelope(&failed, id: .number(try #require(JSONNumber(literal: "1.50"))), error: Self.errorObject)
        #expect(await respond(rpc, #"{"jsonrpc":"2.0","method":"fail","id":1.50}"#) == String(decoding: failed.document, as: UTF8.self))

        var batch = JSONStreamWriter()
        batch.beginArray()
        Self.envelope(&batch, id: 7, result: Self.cached)
        Self.envelope(&batch, id: nil, error: ["code": -32600, "message": "Invalid Request", "data": ["reason": "a request must be an object"]])
        Self.envelope(&batch, id: 8, error: Self.errorObject)
        batch.endArray()
        #expect(await respond(rpc, #"[{"jsonrpc":"2.0","method":"get","id":7},1,{"jsonrpc":"2.0","method":"fail","id":8}]"#)
                == String(decoding: batch.document, as: UTF8.self))
    }

    @Test("the fast path's bytes for a cache hit are the writer's")
    func fastPath() throws {
        var expected = JSONStreamWriter()
        Self.envelope(&expected, id: 42, result: Self.cached)
        guard case .response(let bytes?) = Self.server().handleImmediately(body: Array(#"{"jsonrpc":"2.0","method":"get","params":{"id":"c-1"},"id":42}"#.utf8),
                                                                         context: .init()) else {
            Issue.record("expected an immediate answer"); return
        }
        #expect(bytes == expected.document)
    }
}
