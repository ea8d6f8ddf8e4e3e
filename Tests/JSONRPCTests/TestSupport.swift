import JSON
import JSONRPC
import Testing

/// Sends `body` and returns the response as text, or nil when the server sends no body. Every response is
/// also checked to be one well-formed JSON document, so no test can pass with broken output.
func respond(_ server: JSONRPCServer, _ body: String, context: JSONRPCContext = .init()) async -> String? {
    await respond(server, Array(body.utf8), context: context)
}

func respond(_ server: JSONRPCServer, _ body: [UInt8], context: JSONRPCContext = .init()) async -> String? {
    guard let bytes = await server.handle(body: body, context: context) else { return nil }
    #expect(throws: Never.self, "response must be valid JSON") {
        _ = try JSONValue.parse(bytes, limits: JSONLimits(maxDepth: 1_000, maxStringBytes: 1 << 30, maxBytes: 1 << 30))
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// Parses a response for structural assertions (counts, codes) where exact bytes would be noise.
func parsed(_ text: String?) throws -> JSONValue {
    let text = try #require(text)
    return try JSONValue.parse(text, limits: JSONLimits(maxDepth: 1_000, maxStringBytes: 1 << 30, maxBytes: 1 << 30))
}

/// Counts and orders events from handlers, which may run on any thread.
actor Recorder {
    private(set) var events: [String] = []

    func record(_ event: String) {
        events.append(event)
    }

    var count: Int { events.count }
}

/// The methods the specification's examples call, rewritten for named parameters:
/// `subtract {minuend, subtrahend}`, `sum {values}`, `update {values}`, `notify_hello {value}`, `get_data`.
/// `foobar` and `foo.get` are deliberately absent, as in the spec.
func specServer(recorder: Recorder = Recorder()) -> JSONRPCServer {
    var table = JSONRPCMethodTable()
    table.register("subtract") { call throws(JSONRPCError) in
        let minuend = try integer(call, "minuend")
        let subtrahend = try integer(call, "subtrahend")
        return JSONRPCResult(.number(JSONNumber(minuend - subtrahend)))
    }
    table.register("sum") { call throws(JSONRPCError) in
        guard case .array(let values)? = call.params["values"] else {
            throw .invalidParams(parameter: "values", reason: "must be an array of integers")
        }
        var total = 0
        for value in values {
            guard let int = value.intValue else {
                throw .invalidParams(parameter: "values", reason: "must be an array of integers")
            }
            total += int
        }
        return JSONRPCResult(.number(JSONNumber(total)))
    }
    for name in ["update", "notify_hello", "notify_sum"] {
        table.register(name) { call throws(JSONRPCError) in
            await recorder.record(name)
            return .null
        }
    }
    table.register("get_data") { _ throws(JSONRPCError) in
        JSONRPCResult(["hello", 5])
    }
    return JSONRPCServer(methods: table)
}

private func integer(_ call: JSONRPCCall, _ name: String) throws(JSONRPCError) -> Int {
    guard let value = call.params[name] else { throw .invalidParams(parameter: name, reason: "is required") }
    guard let int = value.intValue else { throw .invalidParams(parameter: name, reason: "must be an integer") }
    return int
}

/// A server with `echo` (returns its params) and `length` (returns the byte length of `text`).
func echoServer(limits: JSONRPCLimits = .init()) -> JSONRPCServer {
    var table = JSONRPCMethodTable()
    table.register("echo") { call throws(JSONRPCError) in
        JSONRPCResult(.object(call.params))
    }
    table.register("length") { call throws(JSONRPCError) in
        JSONRPCResult(.number(JSONNumber(try call.requiredString("text").utf8.count)))
    }
    return JSONRPCServer(methods: table, limits: limits)
}

let positionalError = #"{"code":-32602,"message":"Invalid params","data":{"parameter":"params","reason":"must be an object (named parameters)"}}"#
