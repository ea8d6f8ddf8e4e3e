import JSON
import JSONRPC
import Testing

/// Every example of the JSON-RPC 2.0 specification's "Examples" section, in order.
///
/// Deviation, by design: this server's contract is named parameters only, so the spec's examples that send
/// positional (array) params get -32602 with data `{"parameter":"params","reason":"must be an object (named
/// parameters)"}` where the spec shows a result. Each such example is also repeated with named parameters
/// to show the result the spec expects. Error responses carry a `data` member the spec's examples omit
/// (allowed: "This may be omitted" is permissive, not a prohibition).
@Suite("JSON-RPC 2.0 specification examples")
struct SpecExamplesTests {
    let server = specServer()

    @Test("rpc call with positional parameters is refused with -32602 (named parameters are the contract)")
    func positionalParameters() async {
        // Spec: {"jsonrpc": "2.0", "result": 19, "id": 1}. Deviation: positional params are not supported.
        #expect(await respond(server, #"{"jsonrpc": "2.0", "method": "subtract", "params": [42, 23], "id": 1}"#)
            == #"{"jsonrpc":"2.0","error":\#(positionalError),"id":1}"#)
        // Spec: {"jsonrpc": "2.0", "result": -19, "id": 2}. Same deviation.
        #expect(await respond(server, #"{"jsonrpc": "2.0", "method": "subtract", "params": [23, 42], "id": 2}"#)
            == #"{"jsonrpc":"2.0","error":\#(positionalError),"id":2}"#)
    }

    @Test("the positional examples rewritten with named parameters give the spec's results")
    func positionalExamplesAsNamed() async {
        #expect(await respond(server, #"{"jsonrpc": "2.0", "method": "subtract", "params": {"minuend": 42, "subtrahend": 23}, "id": 1}"#)
            == #"{"jsonrpc":"2.0","result":19,"id":1}"#)
        #expect(await respond(server, #"{"jsonrpc": "2.0", "method": "subtract", "params": {"minuend": 23, "subtrahend": 42}, "id": 2}"#)
            == #"{"jsonrpc":"2.0","result":-19,"id":2}"#)
    }

    @Test("rpc call with named parameters, in either member order")
    func namedParameters() async {
        #expect(await respond(server, #"{"jsonrpc": "2.0", "method": "subtract", "params": {"subtrahend": 23, "minuend": 42}, "id": 3}"#)
            == #"{"jsonrpc":"2.0","result":19,"id":3}"#)
        #expect(await respond(server, #"{"jsonrpc": "2.0", "method": "subtract", "params": {"minuend": 42, "subtrahend": 23}, "id": 4}"#)
            == #"{"jsonrpc":"2.0","result":19,"id":4}"#)
    }

    @Test("a notification gets no response, whether or not the method exists")
    func notifications() async {
        let recorder = Recorder()
        let server = specServer(recorder: recorder)
        // Positional params: not reported (notifications never are), and the handler is not run.
        #expect(await respond(server, #"{"jsonrpc": "2.0", "method": "update", "params": [1,2,3,4,5]}"#) == nil)
        #expect(await respond(server, #"{"jsonrpc": "2.0", "method": "foobar"}"#) == nil)
        #expect(await recorder.count == 0)
        // The same notification with named params does run the handler, still without a response.
        #expect(await respond(server, #"{"jsonrpc": "2.0", "method": "update", "params": {"values": [1,2,3,4,5]}}"#) == nil)
        #expect(await recorder.events == ["update"])
    }

    @Test("rpc call of a non-existent method is -32601 with the request's id")
    func nonExistentMethod() async {
        #expect(await respond(server, #"{"jsonrpc": "2.0", "method": "foobar", "id": "1"}"#)
            == #"{"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"},"id":"1"}"#)
    }

    @Test("rpc call with invalid JSON is -32700 with id null")
    func invalidJSON() async {
        let body = #"{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]"#
        // The string "foobar, " closes before `params`, which is where the parser stops (byte 39).
        #expect(await respond(server, body)
            == #"{"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse error","data":{"reason":"unexpectedByte","offset":39}},"id":null}"#)
    }

    @Test("rpc call with an invalid Request object is -32600 with id null")
    func invalidRequestObject() async {
        #expect(await respond(server, #"{"jsonrpc": "2.0", "method": 1, "params": "bar"}"#)
            == #"{"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid Request","data":{"member":"method","reason":"must be a string"}},"id":null}"#)
    }

    @Test("rpc call Batch with invalid JSON is a single -32700")
    func batchInvalidJSON() async {
        let body = """
        [
          {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},
          {"jsonrpc": "2.0", "method"
        ]
        """
        let offset = body.utf8.count - 1  // the `]` where `:` was expected
        #expect(await respond(server, body)
            == #"{"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse error","data":{"reason":"unexpectedByte","offset":\#(offset)}},"id":null}"#)
    }

    @Test("rpc call with an empty Array is a single -32600, not an array")
    func emptyArray() async {
        #expect(await respond(server, "[]")
            == #"{"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid Request","data":{"reason":"a batch must not be empty"}},"id":null}"#)
    }

    @Test("rpc call with an invalid Batch [1] is an array of one -32600")
    func invalidNonEmptyBatch() async {
        #expect(await respond(server, "[1]")
            == #"[{"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid Request","data":{"reason":"a request must be an object"}},"id":null}]"#)
    }

    @Test("rpc call with an invalid Batch [1,2,3] is an array of three -32600")
    func invalidBatch() async {
        let one = #"{"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid Request","data":{"reason":"a request must be an object"}},"id":null}"#
        #expect(await respond(server, "[1,2,3]") == "[\(one),\(one),\(one)]")
    }

    @Test("rpc call Batch mixing calls, a notification and invalid members answers in request order")
    func mixedBatch() async {
        let body = """
        [
            {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},
            {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]},
            {"jsonrpc": "2.0", "method": "subtract", "params": [42,23], "id": "2"},
            {"foo": "boo"},
            {"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"}, "id": "5"},
            {"jsonrpc": "2.0", "method": "get_data", "id": "9"}
        ]
        """
        // Spec results 7 (id "1") and 19 (id "2") become -32602: positional params (see the suite comment).
        // {"foo": "boo"} fails on its first problem in validation order: the missing "jsonrpc".
        let expected = "["
            + #"{"jsonrpc":"2.0","error":\#(positionalError),"id":"1"},"#
            + #"{"jsonrpc":"2.0","error":\#(positionalError),"id":"2"},"#
            + #"{"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid Request","data":{"member":"jsonrpc","reason":"must be \"2.0\""}},"id":null},"#
            + #"{"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"},"id":"5"},"#
            + #"{"jsonrpc":"2.0","result":["hello",5],"id":"9"}"#
            + "]"
        #expect(await respond(server, body) == expected)
    }

    @Test("the mixed Batch with named parameters gives the spec's exact results")
    func mixedBatchNamed() async {
        let recorder = Recorder()
        let server = specServer(recorder: recorder)
        let body = """
        [
            {"jsonrpc": "2.0", "method": "sum", "params": {"values": [1,2,4]}, "id": "1"},
            {"jsonrpc": "2.0", "method": "notify_hello", "params": {"value": 7}},
            {"jsonrpc": "2.0", "method": "subtract", "params": {"minuend": 42, "subtrahend": 23}, "id": "2"},
            {"foo": "boo"},
            {"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"}, "id": "5"},
            {"jsonrpc": "2.0", "method": "get_data", "id": "9"}
        ]
        """
        let response = try? parsed(await respond(server, body))
        let members = response?.arrayValue ?? []
        #expect(members.count == 5)
        #expect(members.map { $0["id"] ?? "absent" } == ["1", "2", .null, "5", "9"])
        #expect(members[0]["result"] == 7)
        #expect(members[1]["result"] == 19)
        #expect(members[2]["error"]?["code"] == -32600)
        #expect(members[3]["error"]?["code"] == -32601)
        #expect(members[4]["result"] == ["hello", 5])
        #expect(await recorder.events == ["notify_hello"])
    }

    @Test("rpc call Batch of only notifications sends nothing at all")
    func allNotificationBatch() async {
        let recorder = Recorder()
        let server = specServer(recorder: recorder)
        #expect(await respond(server, """
        [
            {"jsonrpc": "2.0", "method": "notify_sum", "params": [1,2,4]},
            {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]}
        ]
        """) == nil)
        #expect(await respond(server, """
        [{"jsonrpc": "2.0", "method": "notify_sum", "params": {"values": [1,2,4]}},
         {"jsonrpc": "2.0", "method": "notify_hello", "params": {"value": 7}}]
        """) == nil)
        #expect(await recorder.events == ["notify_sum", "notify_hello"])
    }
}
