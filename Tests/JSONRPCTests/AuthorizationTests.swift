import JSON
import JSONRPC
import Synchronization
import Testing

/// The grant the transport resolves once per request is applied by the server to every call, before any handler.
@Suite("Authorization by the method table")
struct AuthorizationTests {
    final class Runs: Sendable {
        let count = Atomic<Int>(0)
    }

    static let denied: @Sendable (String) -> JSONRPCError = { method in
        JSONRPCError(code: -31005, message: "no", data: ["method": .string(method)])
    }

    func server(_ runs: Runs) -> JSONRPCServer {
        var table = JSONRPCMethodTable()
        table.register("read", immediate: { _ in
            runs.count.wrappingAdd(1, ordering: .relaxed)
            return .result(JSONRPCResult(.string("read")))
        }) { _ in
            runs.count.wrappingAdd(1, ordering: .relaxed)
            return JSONRPCResult(.string("read"))
        }
        table.register("write", execution: .concurrent) { _ in
            runs.count.wrappingAdd(1, ordering: .relaxed)
            return JSONRPCResult(.string("written"))
        }
        table.register("discover", access: .everyCaller) { _ in JSONRPCResult(.string("doc")) }
        return JSONRPCServer(methods: table, denied: Self.denied)
    }

    /// The answer through the path a transport takes: immediate, then the pending rest.
    func answer(_ server: JSONRPCServer, _ body: String, _ context: JSONRPCContext) async -> String? {
        let bytes: [UInt8]?
        switch server.handleImmediately(body: Array(body.utf8), context: context) {
        case .response(let response): bytes = response
        case .needsAsync(let pending): bytes = await server.respond(to: pending)
        }
        return bytes.map { String(decoding: $0, as: UTF8.self) }
    }

    let reader = JSONRPCContext(caller: "reader", grantedMethods: ["read"])

    @Test("a method outside the grant is refused with the server's denial on every path, and its handler never runs")
    func refusedEverywhere() async {
        let runs = Runs()
        let rpc = server(runs)
        let refusal = #"{"jsonrpc":"2.0","error":{"code":-31005,"message":"no","data":{"method":"write"}},"id":1}"#
        // Simple shape, the parser's path, and the async-only path.
        #expect(await answer(rpc, #"{"jsonrpc":"2.0","method":"write","params":{"id":"x"},"id":1}"#, reader) == refusal)
        #expect(await answer(rpc, #"{"jsonrpc":"2.0","method":"write","params":{"other":1},"id":1}"#, reader) == refusal)
        #expect(await respond(rpc, #"{"jsonrpc":"2.0","method":"write","id":1}"#, context: reader) == refusal)
        // Refused before its parameters are looked at.
        #expect(await answer(rpc, #"{"jsonrpc":"2.0","method":"write","params":[1],"id":1}"#, reader) == refusal)
        // A notification is refused silently.
        #expect(await answer(rpc, #"{"jsonrpc":"2.0","method":"write"}"#, reader) == nil)
        #expect(runs.count.load(ordering: .relaxed) == 0)
    }

    @Test("each batch member is judged on its own; a method for every caller needs no grant")
    func batchMembers() async {
        let runs = Runs()
        let rpc = server(runs)
        let body = #"[{"jsonrpc":"2.0","method":"read","id":1},{"jsonrpc":"2.0","method":"write","id":2},{"jsonrpc":"2.0","method":"discover","id":3},{"jsonrpc":"2.0","method":"write"}]"#
        #expect(await answer(rpc, body, reader) == #"[{"jsonrpc":"2.0","result":"read","id":1},{"jsonrpc":"2.0","error":{"code":-31005,"message":"no","data":{"method":"write"}},"id":2},{"jsonrpc":"2.0","result":"doc","id":3}]"#)
        #expect(runs.count.load(ordering: .relaxed) == 1)
    }

    @Test("no grant in the context (no authentication, or a caller without a method list) allows every method")
    func unrestricted() async {
        let runs = Runs()
        let rpc = server(runs)
        for context in [JSONRPCContext(), JSONRPCContext(caller: "ops")] {
            #expect(await answer(rpc, #"{"jsonrpc":"2.0","method":"write","id":1}"#, context) == #"{"jsonrpc":"2.0","result":"written","id":1}"#)
        }
        #expect(runs.count.load(ordering: .relaxed) == 2)
        // An unknown method is still -32601, whatever the grant.
        #expect(await answer(rpc, #"{"jsonrpc":"2.0","method":"nope","id":1}"#, reader) == #"{"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"},"id":1}"#)
    }

    @Test("the table records each method's declared access")
    func declared() {
        var table = JSONRPCMethodTable()
        table.register("a") { _ in .null }
        table.register("b", access: .everyCaller) { _ in .null }
        #expect(table.access(of: "a") == .grantedCallers)
        #expect(table.access(of: "b") == .everyCaller)
        #expect(table.access(of: "c") == nil)
    }
}
