import JSON
import JSONRPC
import Testing

private struct DatabaseFailure: Error, CustomStringConvertible {
    var description: String { "SQLITE_CORRUPT at /var/lib/secret/customers.db" }
}

/// Lets two handlers prove they ran at the same time: each arrives, then waits (bounded) for the other.
private actor Rendezvous {
    private var arrived = 0

    func arriveAndWait(for expected: Int) async -> Bool {
        arrived += 1
        for _ in 0..<200 where arrived < expected {
            try? await Task.sleep(for: .milliseconds(10))
        }
        return arrived >= expected
    }
}

@Suite("Handlers, results and errors")
struct HandlerTests {
    @Test("a handler's application error (-32001 with data) is returned exactly as thrown")
    func applicationError() async {
        var table = JSONRPCMethodTable()
        table.register("customer.get") { _ throws(JSONRPCError) in
            throw JSONRPCError(code: -32001, message: "Customer not found", data: ["customerId": "cus_1"])
        }
        let server = JSONRPCServer(methods: table)
        #expect(await respond(server, #"{"jsonrpc":"2.0","method":"customer.get","params":{"id":"cus_1"},"id":5}"#)
            == #"{"jsonrpc":"2.0","error":{"code":-32001,"message":"Customer not found","data":{"customerId":"cus_1"}},"id":5}"#)
    }

    @Test("a non-JSON-RPC error becomes -32603 without its text, and the observer sees the real error")
    func unexpectedError() async {
        let seen = Recorder()
        var table = JSONRPCMethodTable()
        table.registerMappingErrors("customer.get") { _ in throw DatabaseFailure() }
        table.registerMappingErrors("customer.ensure") { _ in
            throw JSONRPCError.invalidParams(parameter: "id", reason: "is required")
        }
        let server = JSONRPCServer(methods: table) { call, error in
            let text = "\(call.method): \(error)"
            Task { await seen.record(text) }
        }
        let response = await respond(server, #"{"jsonrpc":"2.0","method":"customer.get","id":1}"#)
        #expect(response == #"{"jsonrpc":"2.0","error":{"code":-32603,"message":"Internal error","data":{"reason":"unexpected_error"}},"id":1}"#)
        #expect(response?.contains("SQLITE") == false)
        // A JSONRPCError thrown through the untyped registration still passes through unchanged.
        #expect(await respond(server, #"{"jsonrpc":"2.0","method":"customer.ensure","id":2}"#)
            == #"{"jsonrpc":"2.0","error":{"code":-32602,"message":"Invalid params","data":{"parameter":"id","reason":"is required"}},"id":2}"#)
        for _ in 0..<100 where await seen.count == 0 { try? await Task.sleep(for: .milliseconds(5)) }
        #expect(await seen.events == ["customer.get: SQLITE_CORRUPT at /var/lib/secret/customers.db"])
    }

    @Test("a notification's handler runs, but neither its result nor its error is sent")
    func notificationErrorsAreSilent() async {
        let recorder = Recorder()
        var table = JSONRPCMethodTable()
        table.register("fail") { _ throws(JSONRPCError) in
            await recorder.record("fail")
            throw JSONRPCError(code: -32001, message: "nope")
        }
        table.registerMappingErrors("crash") { _ in
            await recorder.record("crash")
            throw DatabaseFailure()
        }
        let server = JSONRPCServer(methods: table)
        #expect(await respond(server, #"{"jsonrpc":"2.0","method":"fail"}"#) == nil)
        #expect(await respond(server, #"[{"jsonrpc":"2.0","method":"fail"},{"jsonrpc":"2.0","method":"crash"}]"#) == nil)
        #expect(await recorder.events == ["fail", "fail", "crash"])
    }

    @Test("the handler sees method, named params, id, notification flag and the transport's context")
    func callContents() async {
        let recorder = Recorder()
        var table = JSONRPCMethodTable()
        table.register("inspect") { call throws(JSONRPCError) in
            let id = call.id.map { "\($0)" } ?? "none"
            await recorder.record("\(call.method) \(JSONValue.object(call.params)) \(id) \(call.isNotification) \(call.context.caller ?? "-")")
            return .null
        }
        let server = JSONRPCServer(methods: table)
        let context = JSONRPCContext(caller: "checkout")
        #expect(await respond(server, #"{"jsonrpc":"2.0","method":"inspect","params":{"b":1,"a":[2]},"id":1.50}"#, context: context)
            == #"{"jsonrpc":"2.0","result":null,"id":1.50}"#)
        #expect(await respond(server, #"{"jsonrpc":"2.0","method":"inspect","params":{"x":"y"}}"#) == nil)
        #expect(await recorder.events == [
            #"inspect {"b":1,"a":[2]} 1.50 false checkout"#,
            #"inspect {"x":"y"} none true -"#,
        ])
    }

    @Test("pre-encoded result bytes are spliced into the response verbatim")
    func preEncodedResult() async {
        // Deliberately non-canonical spacing and escapes: proof the bytes are not re-encoded.
        let cached = Array(#"{ "id" : "cus_1", "name":"Zo\u00eb", "n": 1.0e0 }"#.utf8)
        var table = JSONRPCMethodTable()
        table.register("customer.get") { _ throws(JSONRPCError) in JSONRPCResult(encoded: cached) }
        let server = JSONRPCServer(methods: table)
        let body = #"[{"jsonrpc":"2.0","method":"customer.get","id":1},{"jsonrpc":"2.0","method":"customer.get","id":2}]"#
        let single = #"{ "id" : "cus_1", "name":"Zo\u00eb", "n": 1.0e0 }"#
        #expect(await respond(server, body)
            == #"[{"jsonrpc":"2.0","result":\#(single),"id":1},{"jsonrpc":"2.0","result":\#(single),"id":2}]"#)
    }

    @Test("results built from values are encoded compactly")
    func valueResults() {
        #expect(JSONRPCResult(["a": [1, "two", nil, true]]).json == Array(#"{"a":[1,"two",null,true]}"#.utf8))
        #expect(JSONRPCResult.null.json == Array("null".utf8))
    }

    @Test("inline members of a batch run one after another in request order")
    func inlineOrder() async {
        let recorder = Recorder()
        var table = JSONRPCMethodTable()
        table.register("step") { call throws(JSONRPCError) in
            let n = call.params["n"]?.intValue ?? -1
            // The first member suspends longest: sequential execution still records 1, 2, 3.
            try? await Task.sleep(for: .milliseconds(n == 1 ? 30 : 0))
            await recorder.record("\(n)")
            return JSONRPCResult(.number(JSONNumber(n)))
        }
        let server = JSONRPCServer(methods: table)
        let body = "[" + (1...3).map { #"{"jsonrpc":"2.0","method":"step","params":{"n":\#($0)},"id":\#($0)}"# }
            .joined(separator: ",") + "]"
        #expect(await respond(server, body)
            == #"[{"jsonrpc":"2.0","result":1,"id":1},{"jsonrpc":"2.0","result":2,"id":2},{"jsonrpc":"2.0","result":3,"id":3}]"#)
        #expect(await recorder.events == ["1", "2", "3"])
    }

    @Test("concurrent members of a batch overlap in time and are still answered in request order")
    func concurrentMembers() async {
        let rendezvous = Rendezvous()
        var table = JSONRPCMethodTable()
        table.register("slow", execution: .concurrent) { call throws(JSONRPCError) in
            let together = await rendezvous.arriveAndWait(for: 2)
            return JSONRPCResult(.bool(together))
        }
        table.register("fast") { _ throws(JSONRPCError) in JSONRPCResult("fast") }
        let server = JSONRPCServer(methods: table)
        let body = """
        [{"jsonrpc":"2.0","method":"slow","id":"a"},
         {"jsonrpc":"2.0","method":"fast","id":"b"},
         {"jsonrpc":"2.0","method":"slow","id":"c"},
         {"jsonrpc":"2.0","method":"nope","id":"d"}]
        """
        #expect(await respond(server, body) == "["
            + #"{"jsonrpc":"2.0","result":true,"id":"a"},{"jsonrpc":"2.0","result":"fast","id":"b"},"#
            + #"{"jsonrpc":"2.0","result":true,"id":"c"},"#
            + #"{"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"},"id":"d"}]"#)
    }

    @Test("a single concurrent call, alone or in a batch, runs without a task group")
    func loneConcurrentCall() async {
        var table = JSONRPCMethodTable()
        table.register("slow", execution: .concurrent) { _ throws(JSONRPCError) in JSONRPCResult(1) }
        let server = JSONRPCServer(methods: table)
        #expect(await respond(server, #"{"jsonrpc":"2.0","method":"slow","id":1}"#) == #"{"jsonrpc":"2.0","result":1,"id":1}"#)
        #expect(await respond(server, #"[{"jsonrpc":"2.0","method":"slow","id":1}]"#) == #"[{"jsonrpc":"2.0","result":1,"id":1}]"#)
    }

    @Test("the method table lists names in registration order")
    func methodNames() {
        var table = JSONRPCMethodTable()
        table.register("b") { _ throws(JSONRPCError) in .null }
        table.registerMappingErrors("a") { _ in .null }
        table.register("rpc.discover") { _ throws(JSONRPCError) in .null }
        #expect(table.methodNames == ["b", "a", "rpc.discover"])
        #expect(table.contains("a"))
        #expect(!table.contains("c"))
    }

    @Test("registering a method name twice traps")
    func duplicateRegistration() async {
        await #expect(processExitsWith: .failure) {
            var table = JSONRPCMethodTable()
            table.register("a") { _ throws(JSONRPCError) in .null }
            table.register("a") { _ throws(JSONRPCError) in .null }
        }
    }
}

@Suite("Parameter readers")
struct ParameterReaderTests {
    private func call(_ params: JSONObject) -> JSONRPCCall {
        JSONRPCCall(method: "m", params: params, id: .number(1))
    }

    @Test("requiredString names the parameter when it is missing or not a string")
    func requiredString() throws {
        #expect(try call(["id": "cus_1"]).requiredString("id") == "cus_1")
        #expect(throws: JSONRPCError.invalidParams(parameter: "id", reason: "is required")) {
            try call([:]).requiredString("id")
        }
        #expect(throws: JSONRPCError.invalidParams(parameter: "id", reason: "must be a string")) {
            try call(["id": 1]).requiredString("id")
        }
    }

    @Test("optional readers treat absent and null as nil and refuse other types")
    func optionals() throws {
        let c = call(["s": "x", "b": true, "i": 5, "n": nil, "f": 5.5, "e": "5.0"])
        #expect(try c.optionalString("s") == "x")
        #expect(try c.optionalString("n") == nil)
        #expect(try c.optionalString("absent") == nil)
        #expect(try c.optionalBool("b") == true)
        #expect(try c.optionalInt("i") == 5)
        #expect(throws: JSONRPCError.invalidParams(parameter: "f", reason: "must be an integer")) { try c.optionalInt("f") }
        #expect(throws: JSONRPCError.invalidParams(parameter: "e", reason: "must be an integer")) { try c.optionalInt("e") }
        #expect(throws: JSONRPCError.invalidParams(parameter: "i", reason: "must be a boolean")) { try c.optionalBool("i") }
        #expect(throws: JSONRPCError.invalidParams(parameter: "b", reason: "must be a string")) { try c.optionalString("b") }
    }

    @Test("rejectUnknownParameters names the first parameter outside the allowed set")
    func unknownParameters() throws {
        try call(["id": "x"]).rejectUnknownParameters(allowed: ["id", "expand"])
        #expect(throws: JSONRPCError.invalidParams(parameter: "idd", reason: "is not a known parameter")) {
            try call(["id": "x", "idd": "y"]).rejectUnknownParameters(allowed: ["id"])
        }
    }

    @Test("errors and ids describe themselves as JSON for logs")
    func descriptions() {
        #expect(JSONRPCError.invalidParams(parameter: "p", reason: "r").description
            == #"{"code":-32602,"message":"Invalid params","data":{"parameter":"p","reason":"r"}}"#)
        #expect(JSONRPCError.methodNotFound.description == #"{"code":-32601,"message":"Method not found"}"#)
        #expect(JSONRPCID.string("a\"b").description == #""a\"b""#)
        #expect(JSONRPCID.null.description == "null")
        #expect(JSONRPCID(.bool(true)) == nil)
        #expect(JSONRPCID(.number(JSONNumber(literal: "1e3")!))?.jsonValue == .number(JSONNumber(literal: "1e3")!))
    }
}
