import JSON
import JSONRPC
import Synchronization
import Testing

@Suite("Synchronous fast path")
struct ImmediateTests {
    final class Calls: Sendable {
        let asyncCalls = Atomic<Int>(0)
        let immediateCalls = Atomic<Int>(0)
    }

    func server(_ calls: Calls) -> JSONRPCServer {
        var table = JSONRPCMethodTable()
        table.register("lookup", immediate: { call in
            calls.immediateCalls.wrappingAdd(1, ordering: .relaxed)
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

    @Test("one miss in a batch: the hits are answered at once, only the miss runs its async handler, and each runs once")
    func fallsBack() async throws {
        let calls = Calls()
        let rpc = server(calls)
        let body = Array(#"[{"jsonrpc":"2.0","method":"lookup","params":{"key":"hit"},"id":1},{"jsonrpc":"2.0","method":"lookup","params":{"key":"miss"},"id":2},{"jsonrpc":"2.0","method":"nope","id":3}]"#.utf8)
        guard case .needsAsync(let pending) = rpc.handleImmediately(body: body, context: .init()) else {
            Issue.record("expected needsAsync"); return
        }
        #expect(calls.asyncCalls.load(ordering: .relaxed) == 0)
        #expect(calls.immediateCalls.load(ordering: .relaxed) == 2)
        // The pending request carries the decoded calls: the body is not handed over again.
        let response = try #require(await rpc.respond(to: pending))
        #expect(String(decoding: response, as: UTF8.self) == #"[{"jsonrpc":"2.0","result":"cached","id":1},{"jsonrpc":"2.0","result":"fetched","id":2},{"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"},"id":3}]"#)
        #expect(calls.asyncCalls.load(ordering: .relaxed) == 1)
        #expect(calls.immediateCalls.load(ordering: .relaxed) == 2)
    }

    @Test("a single miss, simple shape or not, goes async once with the call already decoded")
    func singleMiss() async throws {
        for text in [#"{"jsonrpc":"2.0","method":"lookup","params":{"key":"miss"},"id":1}"#,
                     #"{"jsonrpc":"2.0","method":"lookup","params":{"key":"miss","x":null},"id":"a\u0062"}"#] {
            let calls = Calls()
            let rpc = server(calls)
            guard case .needsAsync(let pending) = rpc.handleImmediately(body: Array(text.utf8), context: .init()) else {
                Issue.record("expected needsAsync: \(text)"); continue
            }
            let response = try #require(await rpc.respond(to: pending))
            #expect(String(decoding: response, as: UTF8.self).hasPrefix(#"{"jsonrpc":"2.0","result":"fetched","id":"#))
            #expect(calls.immediateCalls.load(ordering: .relaxed) == 1)
            #expect(calls.asyncCalls.load(ordering: .relaxed) == 1)
        }
    }

    @Test("a batch holding a method without an immediate handler runs no immediate handler: order stays the async path's")
    func writeInBatch() async throws {
        let calls = Calls()
        let rpc = server(calls)
        let body = Array(#"[{"jsonrpc":"2.0","method":"slow","id":1},{"jsonrpc":"2.0","method":"lookup","params":{"key":"hit"},"id":2}]"#.utf8)
        guard case .needsAsync(let pending) = rpc.handleImmediately(body: body, context: .init()) else {
            Issue.record("expected needsAsync"); return
        }
        #expect(calls.immediateCalls.load(ordering: .relaxed) == 0)
        let response = try #require(await rpc.respond(to: pending))
        #expect(String(decoding: response, as: UTF8.self) == #"[{"jsonrpc":"2.0","result":null,"id":1},{"jsonrpc":"2.0","result":"fetched","id":2}]"#)
    }

    @Test("methods without an immediate handler always take the async path")
    func noImmediate() {
        guard case .needsAsync = server(Calls()).handleImmediately(body: Array(#"{"jsonrpc":"2.0","method":"slow","id":1}"#.utf8), context: .init()) else {
            Issue.record("expected needsAsync"); return
        }
    }
}
