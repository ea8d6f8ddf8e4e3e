import Dispatch
import FuzzSupport
import JSON
import JSONRPC

/// A small table covering each path through the dispatcher: an immediate answer, an immediate error, a method
/// that must go async, and a handler throwing a non-JSON-RPC error.
private let server: JSONRPCServer = {
    struct Unexpected: Error {}
    var table = JSONRPCMethodTable()
    table.register("echo", immediate: { call in .result(JSONRPCResult(.object(call.params))) }) { call in
        JSONRPCResult(.object(call.params))
    }
    table.register("customer.get", immediate: { call in
        let id: String
        do throws(JSONRPCError) { id = try call.requiredString("id") } catch { return .error(error) }
        return id.hasPrefix("miss") ? .needsAsync : .result(JSONRPCResult(["id": .string(id)]))
    }) { call throws(JSONRPCError) in
        // Same answer as the immediate handler for a hit, so the two paths can be compared byte for byte.
        let id = try call.requiredString("id")
        return JSONRPCResult(id.hasPrefix("miss") ? ["id": .string(id), "fetched": true] : ["id": .string(id)])
    }
    table.register("customer.forget", execution: .concurrent) { call throws(JSONRPCError) in
        _ = try call.requiredString("id")
        return JSONRPCResult(["forgotten": true])
    }
    table.registerMappingErrors("broken") { _ in throw Unexpected() }
    return JSONRPCServer(methods: table, limits: JSONRPCLimits(maxBodyBytes: 1 << 16, maxBatchLength: 20))
}()

nonisolated(unsafe) private var comparisons = 0  // libFuzzer calls from one thread

/// Runs an async operation to completion; libFuzzer calls us synchronously.
private func wait(_ operation: @escaping @Sendable () async -> [UInt8]?) -> [UInt8]? {
    final class Box: @unchecked Sendable { var value: [UInt8]? }  // written once before the signal, read after
    let box = Box()
    let done = DispatchSemaphore(value: 0)
    Task {
        box.value = await operation()
        done.signal()
    }
    done.wait()
    return box.value
}

/// The async-only path: every call runs its async handler.
private func handleAsync(_ body: [UInt8]) -> [UInt8]? {
    wait { await server.handle(body: body, context: JSONRPCContext(caller: "fuzz")) }
}

/// Every response object must be a JSON-RPC 2.0 response: version, an id member, exactly one of result/error.
private func checkResponseObject(_ value: JSONValue) {
    guard case .object(let object) = value else { return invariant(false, "a response member is not an object") }
    invariant(object["jsonrpc"] == .string("2.0"), "response without jsonrpc 2.0")
    invariant(object["id"] != nil, "response without an id member")
    invariant((object["result"] == nil) != (object["error"] == nil), "response needs exactly one of result and error")
    if let error = object["error"] {
        invariant(error["code"]?.intValue != nil && error["message"]?.stringValue != nil, "error without code/message")
    }
}

/// libFuzzer's entry point: the input is an RPC body. The synchronous fast path and the async path must answer
/// identically, and every answer must be well-formed JSON-RPC.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRPC(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let body = inputBytes(data, size)
    let viaAsync: [UInt8]?
    switch server.handleImmediately(body: body, context: JSONRPCContext(caller: "fuzz")) {
    case .needsAsync(let pending):
        // What the transport does: the calls left open run async, from the body decoded once.
        let finished = wait { await server.respond(to: pending) }
        invariant(finished == handleAsync(body), "answering the open calls differs from the async path")
        viaAsync = finished
    case .response(let immediate):
        // A thread hop per input would cut the rate a hundredfold, so the paths are compared on every 16th input.
        comparisons &+= 1
        if comparisons % 16 == 0 {
            invariant(handleAsync(body) == immediate, "the immediate path and the async path answered differently")
        }
        viaAsync = immediate
    }
    guard let response = viaAsync else {
        // Nothing to send only for notifications, which means the body was a request object or a batch.
        let request = try? JSONValue.parse(body)
        invariant(request?.objectValue != nil || request?.arrayValue?.isEmpty == false, "no answer to a non-request")
        return 0
    }
    guard let parsed = try? JSONValue.parse(response, limits: JSONLimits(maxDepth: 1_000, maxBytes: 1 << 30)) else {
        invariant(false, "the response is not JSON")
        return 0
    }
    switch parsed {
    case .array(let members):
        invariant(!members.isEmpty, "an empty batch response (must be no body)")
        let requestCount = (try? JSONValue.parse(body))?.arrayValue?.count ?? 0
        invariant(members.count <= requestCount, "\(members.count) answers to \(requestCount) batch members")
        members.forEach(checkResponseObject)
    default:
        checkResponseObject(parsed)
    }
    return 0
}
