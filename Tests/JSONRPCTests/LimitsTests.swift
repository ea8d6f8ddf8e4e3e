import JSON
import JSONRPC
import Testing

@Suite("Limits")
struct LimitsTests {
    @Test("defaults are 1 MiB body, 100-member batches, depth 32 and 64 KiB strings")
    func defaults() {
        let limits = JSONRPCLimits()
        #expect(limits.maxBodyBytes == 1_048_576)
        #expect(limits.maxBatchLength == 100)
        #expect(limits.maxDepth == 32)
        #expect(limits.maxStringBytes == 65_536)
    }

    private func batch(_ count: Int) -> String {
        "[" + (0..<count).map { #"{"jsonrpc":"2.0","method":"echo","id":\#($0)}"# }.joined(separator: ",") + "]"
    }

    @Test("a batch of exactly maxBatchLength is answered in full")
    func batchAtLimit() async throws {
        let response = try parsed(await respond(echoServer(), batch(100)))
        let members = try #require(response.arrayValue)
        #expect(members.count == 100)
        #expect(members.map { $0["id"]?.intValue } == Array(0..<100))
    }

    @Test("one member over maxBatchLength is one -32600 (not an array) with data {limit} and no handler runs")
    func batchOverLimit() async throws {
        let recorder = Recorder()
        var table = JSONRPCMethodTable()
        table.register("echo") { _ throws(JSONRPCError) in
            await recorder.record("called")
            return .null
        }
        let server = JSONRPCServer(methods: table)
        #expect(await respond(server, batch(101))
            == #"{"jsonrpc":"2.0","error":{"code":-32600,"message":"Batch too large","data":{"limit":100}},"id":null}"#)
        #expect(await recorder.count == 0)
        // A custom limit is honoured at its own boundary.
        let small = echoServer(limits: JSONRPCLimits(maxBatchLength: 2))
        #expect(try (parsed(await respond(small, batch(2)))).arrayValue?.count == 2)
        #expect(await respond(small, batch(3))
            == #"{"jsonrpc":"2.0","error":{"code":-32600,"message":"Batch too large","data":{"limit":2}},"id":null}"#)
    }

    /// A request whose params nest `arrays` arrays: the request object is depth 1, params depth 2.
    private func nested(_ arrays: Int) -> String {
        #"{"jsonrpc":"2.0","method":"echo","params":{"v":"#
            + String(repeating: "[", count: arrays) + String(repeating: "]", count: arrays) + #"},"id":1}"#
    }

    private let tooDeep = #"{"jsonrpc":"2.0","error":{"code":-32600,"message":"Request too deeply nested","data":{"limit":32}},"id":null}"#

    @Test("nesting of exactly maxDepth is accepted and one deeper is -32600 with data {limit}")
    func depthBoundary() async {
        let server = echoServer()
        let atLimit = await respond(server, nested(30))  // 1 + 1 + 30 = 32
        #expect(atLimit?.hasPrefix(#"{"jsonrpc":"2.0","result":{"v":[[[["#) == true)
        #expect(await respond(server, nested(31)) == tooDeep)
        // Inside a batch the batch array is one more level.
        let inBatch = try? parsed(await respond(server, "[" + nested(29) + "]"))
        #expect(inBatch?.arrayValue?.count == 1)
        #expect(inBatch?[0]?["result"] != nil)
        #expect(await respond(server, "[" + nested(30) + "]") == tooDeep)
    }

    @Test("hostile nesting (100 000 levels) is refused without crashing")
    func hostileDepth() async {
        let server = echoServer()
        #expect(await respond(server, String(repeating: "[", count: 100_000)) == tooDeep)
        #expect(await respond(server, String(repeating: #"{"a":"#, count: 100_000)) == tooDeep)
    }

    @Test("a string of exactly maxStringBytes is accepted and one byte more is -32600 with data {limit}")
    func stringBoundary() async throws {
        let server = echoServer()
        func request(_ text: String) -> String { #"{"jsonrpc":"2.0","method":"length","params":{"text":"\#(text)"},"id":1}"# }
        #expect(await respond(server, request(String(repeating: "x", count: 65_536)))
            == #"{"jsonrpc":"2.0","result":65536,"id":1}"#)
        #expect(await respond(server, request(String(repeating: "x", count: 65_537)))
            == #"{"jsonrpc":"2.0","error":{"code":-32600,"message":"String too long","data":{"limit":65536}},"id":null}"#)
        // The limit counts decoded UTF-8 bytes: 32 768 two-byte "é" are exactly at the limit.
        #expect(await respond(server, request(String(repeating: "é", count: 32_768)))
            == #"{"jsonrpc":"2.0","result":65536,"id":1}"#)
        // Escapes count as what they decode to: 65 536 "\n" escapes (131 072 bytes on the wire) are at the limit.
        #expect(await respond(server, request(String(repeating: #"\n"#, count: 65_536)))
            == #"{"jsonrpc":"2.0","result":65536,"id":1}"#)
        // Keys are strings too.
        let longKey = #"{"jsonrpc":"2.0","method":"echo","params":{"\#(String(repeating: "k", count: 65_537))":1},"id":1}"#
        #expect(try (parsed(await respond(server, longKey)))["error"]?["message"] == "String too long")
    }

    @Test("a body of exactly maxBodyBytes is parsed and one byte more is -32600 with data {limit}")
    func bodyBoundary() async {
        let request = #"{"jsonrpc":"2.0","method":"echo","id":1}"#
        let limit = 64
        let server = echoServer(limits: JSONRPCLimits(maxBodyBytes: limit))
        let padded = request + String(repeating: " ", count: limit - request.utf8.count)
        #expect(padded.utf8.count == limit)
        #expect(await respond(server, padded) == #"{"jsonrpc":"2.0","result":{},"id":1}"#)
        #expect(await respond(server, padded + " ")
            == #"{"jsonrpc":"2.0","error":{"code":-32600,"message":"Request body too large","data":{"limit":64}},"id":null}"#)
    }

    @Test("the default body limit is 1 MiB, checked before parsing")
    func defaultBodyBoundary() async {
        let server = echoServer()
        let request = #"{"jsonrpc":"2.0","method":"echo","id":1}"#
        let padded = Array(request.utf8) + [UInt8](repeating: 0x20, count: 1_048_576 - request.utf8.count)
        #expect(await respond(server, padded) == #"{"jsonrpc":"2.0","result":{},"id":1}"#)
        // Over the limit the body is refused even though it is not JSON at all: nothing is parsed.
        #expect(await respond(server, [UInt8](repeating: 0xFF, count: 1_048_577))
            == #"{"jsonrpc":"2.0","error":{"code":-32600,"message":"Request body too large","data":{"limit":1048576}},"id":null}"#)
    }
}
