import JSON
import JSONRPC
import Synchronization
import Testing

@Suite("Synchronous fast path")
struct ImmediateTests {
    final class Calls: Sendable {
        let asyncCalls = Atomic<Int>(0)
    }

    func server(_ calls: Calls) -> JSONRPCServer {
        var table = JSONRPCMethodTable()
        table.register("lookup", immediate: { call in
            guard case .string(let key)? = call.params["key"] else { return .error(.invalidParams(parameter: "key", reason: "required")) }
            return key == "hit" ? .result(JSONRPCResult(.string("cached"))) : .needsAsync
        }) { _ in
            calls.asyncCalls.wrappingAdd(1, ordering: .relaxed)
            return JSONRPCResult(.string("fetched"))
        }
        table.register("slow") { _ in JSONRPCResult(.null) }
        return JSONRPCServer(methods: table)
    }

    func text(_ outcome: JSONRPCServer.ImmediateOutcome) -> String? {
        guard case .response(let bytes) = outcome else { return nil }
        return bytes.map { String(decoding: $0, as: UTF8.self) } ?? "<none>"
    }

    @Test("cache hits, errors and batches of them are answered without the async path")
    func answered() {
        let calls = Calls()
        let rpc = server(calls)
        #expect(text(rpc.handleImmediately(body: Array(#"{"jsonrpc":"2.0","method":"lookup","params":{"key":"hit"},"id":1}"#.utf8), context: .init()))
                == #"{"jsonrpc":"2.0","result":"cached","id":1}"#)
        #expect(text(rpc.handleImmediately(body: Array(#"[{"jsonrpc":"2.0","method":"lookup","params":{"key":"hit"},"id":1},{"jsonrpc":"2.0","method":"nope","id":2}]"#.utf8), context: .init()))
                == #"[{"jsonrpc":"2.0","result":"cached","id":1},{"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"},"id":2}]"#)
        #expect(text(rpc.handleImmediately(body: Array("{".utf8), context: .init()))?.contains("-32700") == true)
        #expect(calls.asyncCalls.load(ordering: .relaxed) == 0)
    }

    @Test("one miss in a batch sends the whole body to the async path, where each call runs once")
    func fallsBack() async throws {
        let calls = Calls()
        let rpc = server(calls)
        let body = Array(#"[{"jsonrpc":"2.0","method":"lookup","params":{"key":"hit"},"id":1},{"jsonrpc":"2.0","method":"lookup","params":{"key":"miss"},"id":2}]"#.utf8)
        guard case .needsAsync = rpc.handleImmediately(body: body, context: .init()) else {
            Issue.record("expected needsAsync"); return
        }
        #expect(calls.asyncCalls.load(ordering: .relaxed) == 0)
        let response = try #require(await rpc.handle(body: body, context: .init()))
        #expect(String(decoding: response, as: UTF8.self) == #"[{"jsonrpc":"2.0","result":"fetched","id":1},{"jsonrpc":"2.0","result":"fetched","id":2}]"#)
        #expect(calls.asyncCalls.load(ordering: .relaxed) == 2)
    }

    @Test("methods without an immediate handler always take the async path")
    func noImmediate() {
        guard case .needsAsync = server(Calls()).handleImmediately(body: Array(#"{"jsonrpc":"2.0","method":"slow","id":1}"#.utf8), context: .init()) else {
            Issue.record("expected needsAsync"); return
        }
    }
}
