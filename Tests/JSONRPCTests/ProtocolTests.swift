import JSON
import JSONRPC
import Testing

@Suite("Request validation and ids")
struct ProtocolTests {
    let server = echoServer()

    @Test("ids are echoed exactly: strings, integer, fractional, negative zero, exponent and null",
          arguments: [#""abc""#, "1", "1.50", "-0", "1e3", "-12.5E-3", "null", #""""#, "123456789012345678901234567890"])
    func idsEchoed(id: String) async {
        #expect(await respond(server, #"{"jsonrpc":"2.0","method":"echo","params":{},"id":\#(id)}"#)
            == #"{"jsonrpc":"2.0","result":{},"id":\#(id)}"#)
    }

    @Test("a string id is echoed as the same string, re-escaped minimally (JSON-equal, not byte-equal)")
    func stringIDEscapes() async {
        // The id is decoded and written again, so a needless escape (\u0062) comes back as the plain
        // character; escapes JSON requires (quote, backslash, control bytes) are kept.
        #expect(await respond(server, #"{"jsonrpc":"2.0","method":"echo","id":"a\u0062\"\\\n/é"}"#)
            == #"{"jsonrpc":"2.0","result":{},"id":"ab\"\\\n/é"}"#)
    }

    @Test("ids of other types are -32600 with id null", arguments: ["true", "false", "[1]", #"{"a":1}"#, "[]", "{}"])
    func invalidIDTypes(id: String) async {
        #expect(await respond(server, #"{"jsonrpc":"2.0","method":"echo","id":\#(id)}"#)
            == #"{"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid Request","data":{"member":"id","reason":"must be a string, number or null"}},"id":null}"#)
    }

    @Test("an explicit null id is a call, not a notification, and is answered with id null")
    func nullIDIsACall() async {
        #expect(await respond(server, #"{"jsonrpc":"2.0","method":"echo","params":{"a":1},"id":null}"#)
            == #"{"jsonrpc":"2.0","result":{"a":1},"id":null}"#)
    }

    @Test("jsonrpc must be exactly the string \"2.0\"; the valid id is still echoed",
          arguments: [#""jsonrpc":"1.0","#, #""jsonrpc":2.0,"#, #""jsonrpc":"2.00","#, #""jsonrpc":" 2.0","#, ""])
    func versionMustBeExact(member: String) async {
        #expect(await respond(server, #"{\#(member)"method":"echo","id":7}"#)
            == #"{"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid Request","data":{"member":"jsonrpc","reason":"must be \"2.0\""}},"id":7}"#)
    }

    @Test("method must be present and a string", arguments: ["", #""method":null,"#, #""method":["echo"],"#, #""method":true,"#])
    func methodMustBeString(member: String) async {
        #expect(await respond(server, #"{"jsonrpc":"2.0",\#(member)"id":"x"}"#)
            == #"{"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid Request","data":{"member":"method","reason":"must be a string"}},"id":"x"}"#)
    }

    @Test("params that are not structured (null, string, number, bool) are -32600",
          arguments: ["null", #""bar""#, "3", "true"])
    func paramsMustBeStructured(params: String) async {
        #expect(await respond(server, #"{"jsonrpc":"2.0","method":"echo","params":\#(params),"id":1}"#)
            == #"{"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid Request","data":{"member":"params","reason":"must be an object or array"}},"id":1}"#)
    }

    @Test("positional params, even empty, are -32602 naming params; for a notification nothing is sent")
    func positionalParams() async {
        #expect(await respond(server, #"{"jsonrpc":"2.0","method":"echo","params":[],"id":1}"#)
            == #"{"jsonrpc":"2.0","error":\#(positionalError),"id":1}"#)
        #expect(await respond(server, #"{"jsonrpc":"2.0","method":"echo","params":[1]}"#) == nil)
    }

    @Test("an unknown method with positional params is -32601, since the method is checked first")
    func unknownMethodBeforeParams() async {
        #expect(await respond(server, #"{"jsonrpc":"2.0","method":"nope","params":[1],"id":1}"#)
            == #"{"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"},"id":1}"#)
    }

    @Test("absent params reach the handler as an empty object")
    func absentParams() async {
        #expect(await respond(server, #"{"jsonrpc":"2.0","method":"echo","id":1}"#)
            == #"{"jsonrpc":"2.0","result":{},"id":1}"#)
    }

    @Test("an unknown member (a misspelt params) is -32600 naming it, not silently ignored")
    func unknownMember() async {
        #expect(await respond(server, #"{"jsonrpc":"2.0","method":"echo","param":{"a":1},"id":1}"#)
            == #"{"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid Request","data":{"member":"param","reason":"is not a Request member"}},"id":1}"#)
    }

    @Test("member order in the request does not matter")
    func memberOrder() async {
        #expect(await respond(server, #"{"id":2,"params":{"b":[true,null]},"method":"echo","jsonrpc":"2.0"}"#)
            == #"{"jsonrpc":"2.0","result":{"b":[true,null]},"id":2}"#)
    }

    @Test("a top-level value that is neither object nor array is -32600",
          arguments: ["1", #""call""#, "null", "true", " 42 "])
    func topLevelScalar(body: String) async {
        #expect(await respond(server, body)
            == #"{"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid Request","data":{"reason":"a request must be an object"}},"id":null}"#)
    }

    @Test("duplicate keys are refused as -32600 with id null for the whole body, even nested in params")
    func duplicateKeys() async {
        // Decision: duplicates are well-formed JSON (so not -32700), but RFC 8259 leaves their meaning
        // undefined, so two readers could see two different requests; the body is refused as a whole.
        #expect(await respond(server, #"{"jsonrpc":"2.0","method":"echo","method":"length","id":1}"#)
            == #"{"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid Request","data":{"reason":"duplicateKey","offset":33}},"id":null}"#)
        let nested = try? parsed(await respond(server, #"[{"jsonrpc":"2.0","method":"echo","params":{"a":1,"a":2},"id":1}]"#))
        #expect(nested?["error"]?["code"] == -32600)
        #expect(nested?["error"]?["data"]?["reason"] == "duplicateKey")
        #expect(nested?["id"] == .null)
    }

    @Test("trailing bytes after the request are -32700 trailingData",
          arguments: [#"{"jsonrpc":"2.0","method":"echo","id":1} x"#,
                      #"{"jsonrpc":"2.0","method":"echo","id":1}{"jsonrpc":"2.0","method":"echo","id":2}"#,
                      #"[{"jsonrpc":"2.0","method":"echo","id":1}]]"#])
    func trailingGarbage(body: String) async {
        let response = try? parsed(await respond(server, body))
        #expect(response?["error"]?["code"] == -32700)
        #expect(response?["error"]?["message"] == "Parse error")
        #expect(response?["error"]?["data"]?["reason"] == "trailingData")
        #expect(response?["id"] == .null)
    }

    @Test("trailing whitespace is fine")
    func trailingWhitespace() async {
        #expect(await respond(server, " \n\t{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":1}\r\n ")
            == #"{"jsonrpc":"2.0","result":{},"id":1}"#)
    }

    @Test("empty, whitespace-only and non-UTF-8 bodies are -32700", arguments: [[], Array(" \n".utf8), [0xFF, 0xFE],
                                                                                  Array(#"{"jsonrpc":"2.0","method":""#.utf8) + [0xC3, 0x28, 0x22, 0x7D]])
    func unparseable(body: [UInt8]) async {
        let response = try? parsed(await respond(server, body))
        #expect(response?["error"]?["code"] == -32700)
        #expect(response?["id"] == .null)
    }

    @Test("every standard error code, each from the condition the spec assigns it")
    func everyStandardCode() async {
        var table = JSONRPCMethodTable()
        table.register("needs") { call throws(JSONRPCError) in
            JSONRPCResult(.string(try call.requiredString("name")))
        }
        table.registerMappingErrors("fails") { _ in
            throw CancellationError()
        }
        let server = JSONRPCServer(methods: table)
        func code(_ body: String) async -> JSONValue? {
            (try? parsed(await respond(server, body)))?["error"]?["code"]
        }
        #expect(await code("{") == -32700)
        #expect(await code(#"{"jsonrpc":"2.0","id":1}"#) == -32600)
        #expect(await code(#"{"jsonrpc":"2.0","method":"missing","id":1}"#) == -32601)
        #expect(await code(#"{"jsonrpc":"2.0","method":"needs","params":{},"id":1}"#) == -32602)
        #expect(await code(#"{"jsonrpc":"2.0","method":"fails","id":1}"#) == -32603)
        #expect(JSONRPCError.parseError.code == -32700)
        #expect(JSONRPCError.invalidRequest.code == -32600)
        #expect(JSONRPCError.methodNotFound.code == -32601)
        #expect(JSONRPCError.invalidParams.code == -32602)
        #expect(JSONRPCError.internalError.code == -32603)
    }

    @Test("method names starting with rpc. are reserved: unknown unless the table defines them")
    func reservedNames() async {
        var table = JSONRPCMethodTable()
        table.register("rpc.discover") { _ throws(JSONRPCError) in JSONRPCResult(["methods": []]) }
        let server = JSONRPCServer(methods: table)
        #expect(await respond(server, #"{"jsonrpc":"2.0","method":"rpc.discover","id":1}"#)
            == #"{"jsonrpc":"2.0","result":{"methods":[]},"id":1}"#)
        #expect(await respond(server, #"{"jsonrpc":"2.0","method":"rpc.other","id":1}"#)
            == #"{"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found","data":{"reason":"rpc.* method names are reserved"}},"id":1}"#)
        #expect(await respond(server, #"{"jsonrpc":"2.0","method":"rpc.other"}"#) == nil)
        // Only the exact prefix "rpc." is reserved.
        #expect(JSONRPCMethodTable.isReserved("rpc.x"))
        #expect(!JSONRPCMethodTable.isReserved("rpcx"))
        #expect(!JSONRPCMethodTable.isReserved("RPC.x"))
        #expect(!JSONRPCMethodTable.isReserved("customer.get"))
    }

    @Test("batch members are validated independently and answered in request order")
    func batchIndependence() async {
        let body = """
        [{"jsonrpc":"2.0","method":"echo","params":{"n":1},"id":1},
         {"jsonrpc":"2.0","method":"echo","params":{"n":2}},
         {"jsonrpc":"1.0","method":"echo","id":3},
         {"jsonrpc":"2.0","method":"echo","params":{"n":4},"id":"4"},
         [],
         {"jsonrpc":"2.0","method":"nope","id":6}]
        """
        let members = (try? parsed(await respond(server, body)))?.arrayValue ?? []
        #expect(members.map { $0["id"] ?? "absent" } == [1, 3, "4", .null, 6])
        #expect(members[0]["result"] == ["n": 1])
        #expect(members[1]["error"]?["code"] == -32600)
        #expect(members[2]["result"] == ["n": 4])
        #expect(members[3]["error"]?["code"] == -32600)
        #expect(members[4]["error"]?["code"] == -32601)
    }
}
