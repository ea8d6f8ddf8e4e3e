import JSON

/// The protocol engine: request body bytes in, response body bytes out. It knows nothing about HTTP; the
/// transport maps `nil` to "no body" (204) and anything else to a 200 JSON response.
///
/// Decisions where the spec is silent or where this server is stricter, each covered by a test:
/// - Only named parameters: positional (array) `params` get -32602 with data
///   `{"parameter":"params","reason":"must be an object (named parameters)"}`.
/// - Unknown members in a request object (e.g. a misspelt `param`) are -32600 rather than ignored.
/// - Duplicate object keys anywhere in the body are -32600 with id null for the whole body (the JSON is
///   well-formed, so not -32700, but two readers could see two different requests).
/// - A -32600 for a request whose `id` is itself valid echoes that id; otherwise id is null.
/// - Breaking a limit is -32600 with id null and data `{"limit": N}` (see `JSONRPCLimits`).
/// - Parse errors carry data `{"reason": <parser code>, "offset": <byte>}` to help clients find the fault.
/// - Batch responses keep request order (notifications omitted).
public struct JSONRPCServer: Sendable {
    /// Fixed at init: a server never changes its methods, so it can be shared by every connection lock-free.
    public let methods: JSONRPCMethodTable
    public let limits: JSONRPCLimits
    /// Sees every non-`JSONRPCError` thrown by a `registerMappingErrors` handler, so the real cause can be
    /// logged server-side while the client only gets -32603.
    private let onUnexpectedError: (@Sendable (JSONRPCCall, any Error) -> Void)?
    /// The error a call gets when its method is `.grantedCallers` and the context's grant does not name it.
    private let denied: @Sendable (_ method: String) -> JSONRPCError
    private let parserLimits: JSONLimits

    /// `denied` words the refusal of a method the caller's grant does not cover (the application owns its code).
    public init(methods: JSONRPCMethodTable, limits: JSONRPCLimits = .init(),
                onUnexpectedError: (@Sendable (_ call: JSONRPCCall, _ error: any Error) -> Void)? = nil,
                denied: @escaping @Sendable (_ method: String) -> JSONRPCError = JSONRPCServer.notGranted) {
        self.methods = methods
        self.limits = limits
        self.denied = denied
        self.onUnexpectedError = onUnexpectedError
        self.parserLimits = JSONLimits(maxDepth: limits.maxDepth, maxStringBytes: limits.maxStringBytes,
                                       maxBytes: limits.maxBodyBytes, allowDuplicateKeys: false)
    }

    /// Handles one request body (a single request or a batch) on the async path only: every call runs its async
    /// handler. Returns the response body, or nil when nothing must be sent: a notification, or a batch of only
    /// notifications. A transport that wants cache hits answered without a task calls `handleImmediately` instead.
    public func handle(body: [UInt8], context: JSONRPCContext) async -> [UInt8]? {
        switch decode(body, context: context) {
        case .answered(let response): return response
        case .single(let item): return await run(item).single()
        case .batch(let items): return Outcome.batch(await runBatch(items))
        }
    }

    /// What `handleImmediately` managed.
    public enum ImmediateOutcome: Sendable {
        /// The whole body was answered without suspending (nil: send no body).
        case response([UInt8]?)
        /// Some call needs its async handler: pass this to `respond(to:)`, which runs only those calls and does not
        /// read the body again.
        case needsAsync(JSONRPCPendingRequest)
    }

    /// Parses the body once and answers every call whose immediate handler can (errors, cache hits), so a transport
    /// can reply from its event loop without a task. If some call needs I/O, `.needsAsync` carries the decoded calls
    /// and the answers made so far: `respond(to:)` then runs only the calls still open, so no call runs twice.
    ///
    /// A batch holding a method without an immediate handler (a write) runs no immediate handler at all, so its
    /// members keep the order and scheduling the async path gives them.
    public func handleImmediately(body: [UInt8], context: JSONRPCContext) -> ImmediateOutcome {
        if let item = simpleCall(body, context: context) {
            // The common single call, read without the parser; exactly what `prepare` would have made of it.
            guard case .call(let entry, let call) = item, let immediate = entry.immediate else {
                return finishedOrPending(item, isBatch: false)
            }
            switch immediate(call) {
            case .needsAsync: return .needsAsync(JSONRPCPendingRequest(items: [item], isBatch: false))
            case .result(let value): return .response(call.id.flatMap { Outcome.result($0, value).single() })
            case .error(let error): return .response(call.id.flatMap { Outcome.error($0, error).single() })
            }
        }
        switch decode(body, context: context) {
        case .answered(let response):
            return .response(response)
        case .single(let item):
            guard let outcome = runImmediately(item) else {
                return .needsAsync(JSONRPCPendingRequest(items: [item], isBatch: false))
            }
            return .response(outcome.single())
        case .batch(var items):
            guard methodsAreImmediate(items) else { return .needsAsync(JSONRPCPendingRequest(items: items, isBatch: true)) }
            // Immediate handlers only read, so answering some members now and the rest later changes nothing.
            var outcomes: [Outcome] = []
            outcomes.reserveCapacity(items.count)
            var open: [Int] = []
            for (index, item) in items.enumerated() {
                if let outcome = runImmediately(item) {
                    outcomes.append(outcome)
                } else {
                    outcomes.append(.silent)
                    open.append(index)
                }
            }
            guard !open.isEmpty else { return .response(Outcome.batch(outcomes)) }
            // Keep the answers made; only the open members reach their async handler.
            var next = 0
            for index in items.indices {
                if next < open.count, open[next] == index { next += 1 } else { items[index] = .finished(outcomes[index]) }
            }
            return .needsAsync(JSONRPCPendingRequest(items: items, isBatch: true))
        }
    }

    /// Finishes what `handleImmediately` left open: each call still open runs its async handler, once.
    public func respond(to pending: JSONRPCPendingRequest) async -> [UInt8]? {
        guard pending.isBatch else { return await run(pending.items[0]).single() }
        return Outcome.batch(await runBatch(pending.items))
    }

    private func finishedOrPending(_ item: Prepared, isBatch: Bool) -> ImmediateOutcome {
        if case .finished(let outcome) = item { return .response(outcome.single()) }
        return .needsAsync(JSONRPCPendingRequest(items: [item], isBatch: isBatch))
    }

    /// A body after its one parse: answered already (malformed, over a limit, not a request), one request, or a batch.
    private enum Decoded {
        case answered([UInt8]?)
        case single(Prepared)
        case batch([Prepared])
    }

    /// The only place a body is parsed.
    private func decode(_ body: [UInt8], context: JSONRPCContext) -> Decoded {
        guard body.count <= limits.maxBodyBytes else {
            return .answered(Outcome.error(.null, .limitExceeded("Request body too large", limit: limits.maxBodyBytes)).single())
        }
        let document: JSONValue
        do {
            document = try JSONValue.parse(body, limits: parserLimits)
        } catch {
            return .answered(Outcome.error(.null, refusal(for: error)).single())
        }
        switch document {
        case .object:
            return .single(prepare(document, context: context))
        case .array(let members):
            guard !members.isEmpty else {
                // Spec: an empty batch is answered with a single error object, not an array.
                return .answered(Outcome.error(.null, Self.emptyBatch).single())
            }
            guard members.count <= limits.maxBatchLength else {
                return .answered(Outcome.error(.null, .limitExceeded("Batch too large", limit: limits.maxBatchLength)).single())
            }
            return .batch(members.map { prepare($0, context: context) })
        case .null, .bool, .number, .string:
            return .answered(Outcome.error(.null, Self.notRequestObject).single())
        }
    }

    /// The request a body of the simple shape makes (see `JSONRPCSimpleRequest`), authorised; nil when the full
    /// parser must read it, including for an unknown method, whose error the full path words.
    private func simpleCall(_ body: [UInt8], context: JSONRPCContext) -> Prepared? {
        guard body.count <= limits.maxBodyBytes else { return nil }
        return body.withUnsafeBytes { bytes in
            guard let simple = JSONRPCSimpleRequest(bytes, limits: limits),
                  let (name, entry) = methods.entry(named: UnsafeRawBufferPointer(rebasing: bytes[simple.method])) else { return nil }
            guard context.permits(name, access: entry.access) else { return .finished(denial(name, id: simple.id)) }
            let params = simple.parameterID.map { JSONObject(key: "id", value: .string($0)) } ?? JSONObject()
            return .call(entry, JSONRPCCall(method: name, params: params, id: simple.id, context: context))
        }
    }

    private func methodsAreImmediate(_ prepared: [Prepared]) -> Bool {
        prepared.allSatisfy { item in
            if case .call(let entry, _) = item { return entry.immediate != nil }
            return true
        }
    }

    private func runImmediately(_ item: Prepared) -> Outcome? {
        switch item {
        case .finished(let outcome):
            return outcome
        case .call(let entry, let call):
            guard let immediate = entry.immediate else { return nil }
            switch immediate(call) {
            case .needsAsync: return nil
            case .result(let value): return call.id.map { .result($0, value) } ?? .silent
            case .error(let error): return call.id.map { .error($0, error) } ?? .silent
            }
        }
    }

    /// The answer to a call its caller's grant does not cover (nothing for a notification).
    private func denial(_ method: String, id: JSONRPCID?) -> Outcome {
        guard let id else { return .silent }
        return .error(id, denied(method))
    }

    // MARK: Batches

    private func runBatch(_ prepared: [Prepared]) async -> [Outcome] {
        var concurrentCalls = 0
        if methods.hasConcurrentMethods {
            for item in prepared {
                if case .call(let entry, _) = item, entry.execution == .concurrent { concurrentCalls += 1 }
            }
        }
        guard concurrentCalls >= 2 else {
            // Nothing to overlap: run in request order without child tasks. Handlers that return without
            // suspending cost about a function call each.
            var outcomes: [Outcome] = []
            outcomes.reserveCapacity(prepared.count)
            for item in prepared { outcomes.append(await run(item)) }
            return outcomes
        }
        return await runConcurrently(prepared)
    }

    /// `.concurrent` calls run as child tasks while the `.inline` ones run here meanwhile; results land in
    /// request order whatever order they finish in.
    private func runConcurrently(_ prepared: [Prepared]) async -> [Outcome] {
        var outcomes = [Outcome](repeating: .silent, count: prepared.count)
        await withTaskGroup(of: (Int, Outcome).self) { group in
            for (index, item) in prepared.enumerated() {
                if case .call(let entry, let call) = item, entry.execution == .concurrent {
                    group.addTask { (index, await self.run(entry, call)) }
                }
            }
            for (index, item) in prepared.enumerated() {
                switch item {
                case .finished(let outcome):
                    outcomes[index] = outcome
                case .call(let entry, let call):
                    if entry.execution == .inline { outcomes[index] = await run(entry, call) }
                }
            }
            for await (index, outcome) in group {
                outcomes[index] = outcome
            }
        }
        return outcomes
    }

    // MARK: One request

    /// A batch member or single request after validation: either ready to call, or already answered.
    enum Prepared: Sendable {
        case call(JSONRPCMethodTable.Entry, JSONRPCCall)
        case finished(Outcome)
    }

    /// Validates one request object in the order a client would fix it: id, jsonrpc, method, params, extra
    /// members, then method lookup and the named-parameters rule.
    func prepare(_ value: JSONValue, context: JSONRPCContext) -> Prepared {
        guard case .object(let object) = value else {
            return .finished(.error(.null, Self.notRequestObject))
        }
        var version: JSONValue?
        var methodValue: JSONValue?
        var paramsValue: JSONValue?
        var idValue: JSONValue?
        var unknownMember: String?
        // One pass over the members; the parser has already refused duplicate keys.
        for (key, member) in object {
            switch key {
            case "jsonrpc": version = member
            case "method": methodValue = member
            case "params": paramsValue = member
            case "id": idValue = member
            default: if unknownMember == nil { unknownMember = key }
            }
        }

        var id: JSONRPCID?
        if let idValue {
            guard let valid = JSONRPCID(idValue) else {
                return .finished(.error(.null, .invalidRequest(member: "id", reason: "must be a string, number or null")))
            }
            id = valid
        }
        // Invalid requests are answered even without an id (spec example), with the id when it is usable.
        let replyID = id ?? .null
        guard case .string("2.0")? = version else {
            return .finished(.error(replyID, .invalidRequest(member: "jsonrpc", reason: #"must be "2.0""#)))
        }
        guard case .string(let method)? = methodValue else {
            return .finished(.error(replyID, .invalidRequest(member: "method", reason: "must be a string")))
        }
        var params = JSONObject()
        var positional = false
        switch paramsValue {
        case nil: break
        case .object(let named)?: params = named
        case .array?: positional = true
        case .null?, .bool?, .number?, .string?:
            return .finished(.error(replyID, .invalidRequest(member: "params", reason: "must be an object or array")))
        }
        if let unknownMember {
            return .finished(.error(replyID, .invalidRequest(member: unknownMember, reason: "is not a Request member")))
        }

        guard let entry = methods.entries[method] else {
            // Notifications are never answered, not even with errors (spec §4.1).
            guard let id else { return .finished(.silent) }
            return .finished(.error(id, JSONRPCMethodTable.isReserved(method) ? Self.reservedMethod : .methodNotFound))
        }
        // Authorised before anything about the method's parameters is said to a caller that may not call it.
        guard context.permits(method, access: entry.access) else { return .finished(denial(method, id: id)) }
        if positional {
            guard let id else { return .finished(.silent) }
            return .finished(.error(id, Self.positionalParams))
        }
        return .call(entry, JSONRPCCall(method: method, params: params, id: id, context: context))
    }

    /// Runs one prepared member: its handler, or the answer it already has.
    func run(_ item: Prepared) async -> Outcome {
        switch item {
        case .finished(let outcome): return outcome
        case .call(let entry, let call): return await run(entry, call)
        }
    }

    /// Calls the handler and turns its result or error into what goes on the wire.
    func run(_ entry: JSONRPCMethodTable.Entry, _ call: JSONRPCCall) async -> Outcome {
        let result: Result<JSONRPCResult, JSONRPCError>
        switch entry.body {
        case .typed(let handler):
            do {
                result = .success(try await handler(call))
            } catch {
                result = .failure(error)
            }
        case .mappingErrors(let handler):
            do {
                result = .success(try await handler(call))
            } catch let error as JSONRPCError {
                result = .failure(error)
            } catch {
                onUnexpectedError?(call, error)
                result = .failure(Self.unexpectedError)
            }
        }
        guard let id = call.id else { return .silent }
        switch result {
        case .success(let value): return .result(id, value)
        case .failure(let error): return .error(id, error)
        }
    }

    /// Maps a parser refusal: limits and duplicate keys are request-level refusals (-32600) because the
    /// bytes may well be valid JSON; everything else is malformed JSON (-32700).
    private func refusal(for error: JSONParseError) -> JSONRPCError {
        switch error.code {
        case .depthLimitExceeded:
            return .limitExceeded("Request too deeply nested", limit: limits.maxDepth)
        case .stringTooLong:
            return .limitExceeded("String too long", limit: limits.maxStringBytes)
        case .documentTooLarge:
            return .limitExceeded("Request body too large", limit: limits.maxBodyBytes)
        case .duplicateKey:
            return JSONRPCError(code: JSONRPCError.invalidRequestCode, message: "Invalid Request",
                                data: ["reason": "duplicateKey", "offset": .number(JSONNumber(error.offset))])
        case .unexpectedEnd, .unexpectedByte, .invalidNumber, .invalidEscape, .invalidUnicode, .invalidUTF8,
             .controlCharacterInString, .trailingData:
            return JSONRPCError(code: JSONRPCError.parseErrorCode, message: "Parse error",
                                data: ["reason": .string(error.code.rawValue),
                                       "offset": .number(JSONNumber(error.offset))])
        }
    }

    // Fixed errors built once rather than per request.
    static let notRequestObject = JSONRPCError(code: JSONRPCError.invalidRequestCode, message: "Invalid Request",
                                               data: ["reason": "a request must be an object"])
    static let emptyBatch = JSONRPCError(code: JSONRPCError.invalidRequestCode, message: "Invalid Request",
                                         data: ["reason": "a batch must not be empty"])
    static let positionalParams = JSONRPCError.invalidParams(parameter: "params",
                                                             reason: "must be an object (named parameters)")
    static let reservedMethod = JSONRPCError(code: JSONRPCError.methodNotFoundCode, message: "Method not found",
                                             data: ["reason": "rpc.* method names are reserved"])
    static let unexpectedError = JSONRPCError.internalError(reason: "unexpected_error")

    /// The default refusal: -32000, the first implementation-defined server error, naming the method.
    @Sendable public static func notGranted(_ method: String) -> JSONRPCError {
        JSONRPCError(code: -32000, message: "Method not allowed for this caller", data: ["method": .string(method)])
    }
}

/// A body `JSONRPCServer.handleImmediately` decoded but could not finish on the spot: the calls still waiting for
/// their async handler, next to the answers already made. Give it to `JSONRPCServer.respond(to:)`.
public struct JSONRPCPendingRequest: Sendable {
    let items: [JSONRPCServer.Prepared]
    /// The body was an array: the answer is an array too, even of one member.
    let isBatch: Bool
}
