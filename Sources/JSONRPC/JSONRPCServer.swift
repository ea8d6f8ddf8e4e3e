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
    private let parserLimits: JSONLimits

    public init(methods: JSONRPCMethodTable, limits: JSONRPCLimits = .init(),
                onUnexpectedError: (@Sendable (_ call: JSONRPCCall, _ error: any Error) -> Void)? = nil) {
        self.methods = methods
        self.limits = limits
        self.onUnexpectedError = onUnexpectedError
        self.parserLimits = JSONLimits(maxDepth: limits.maxDepth, maxStringBytes: limits.maxStringBytes,
                                       maxBytes: limits.maxBodyBytes, allowDuplicateKeys: false)
    }

    /// Handles one request body (a single request or a batch). Returns the response body, or nil when
    /// nothing must be sent: a notification, or a batch of only notifications.
    public func handle(body: [UInt8], context: JSONRPCContext) async -> [UInt8]? {
        guard body.count <= limits.maxBodyBytes else {
            return Outcome.error(.null, .limitExceeded("Request body too large", limit: limits.maxBodyBytes)).single()
        }
        let document: JSONValue
        do {
            document = try JSONValue.parse(body, limits: parserLimits)
        } catch {
            return Outcome.error(.null, refusal(for: error)).single()
        }
        switch document {
        case .object:
            switch prepare(document, context: context) {
            case .finished(let outcome): return outcome.single()
            case .call(let entry, let call): return await run(entry, call).single()
            }
        case .array(let members):
            guard !members.isEmpty else {
                // Spec: an empty batch is answered with a single error object, not an array.
                return Outcome.error(.null, Self.emptyBatch).single()
            }
            guard members.count <= limits.maxBatchLength else {
                return Outcome.error(.null, .limitExceeded("Batch too large", limit: limits.maxBatchLength)).single()
            }
            return await handleBatch(members, context: context)
        case .null, .bool, .number, .string:
            return Outcome.error(.null, Self.notRequestObject).single()
        }
    }

    /// What `handleImmediately` managed.
    public enum ImmediateOutcome: Sendable {
        /// The whole body was answered without suspending (nil: send no body).
        case response([UInt8]?)
        /// Some call needs its async handler; call `handle(body:context:)`.
        case needsAsync
    }

    /// Answers the body synchronously when every call in it can be (errors, and methods whose immediate handler
    /// answers), so a transport can reply from its event loop without a task. Otherwise `.needsAsync`, having
    /// run no handler: the async path then handles the whole body, so no call runs twice.
    public func handleImmediately(body: [UInt8], context: JSONRPCContext) -> ImmediateOutcome {
        guard body.count <= limits.maxBodyBytes else {
            return .response(Outcome.error(.null, .limitExceeded("Request body too large", limit: limits.maxBodyBytes)).single())
        }
        if let (entry, call) = simpleCall(body, context: context) {
            // The common single call, read without the parser; exactly what `prepare` would have made of it, run
            // as `runImmediately` would, without the intermediate enums.
            guard let immediate = entry.immediate else { return .needsAsync }
            switch immediate(call) {
            case .needsAsync: return .needsAsync
            case .result(let value): return .response(call.id.flatMap { Outcome.result($0, value).single() })
            case .error(let error): return .response(call.id.flatMap { Outcome.error($0, error).single() })
            }
        }
        let document: JSONValue
        do {
            document = try JSONValue.parse(body, limits: parserLimits)
        } catch {
            return .response(Outcome.error(.null, refusal(for: error)).single())
        }
        switch document {
        case .object:
            let prepared = prepare(document, context: context)
            guard methodsAreImmediate([prepared]) else { return .needsAsync }
            guard let outcome = runImmediately(prepared) else { return .needsAsync }
            return .response(outcome.single())
        case .array(let members):
            guard !members.isEmpty else { return .response(Outcome.error(.null, Self.emptyBatch).single()) }
            guard members.count <= limits.maxBatchLength else {
                return .response(Outcome.error(.null, .limitExceeded("Batch too large", limit: limits.maxBatchLength)).single())
            }
            let prepared = members.map { prepare($0, context: context) }
            guard methodsAreImmediate(prepared) else { return .needsAsync }
            var outcomes: [Outcome] = []
            outcomes.reserveCapacity(prepared.count)
            for item in prepared {
                // Immediate handlers only read; if one needs I/O, nothing has been changed by the ones before it.
                guard let outcome = runImmediately(item) else { return .needsAsync }
                outcomes.append(outcome)
            }
            return .response(Outcome.batch(outcomes))
        case .null, .bool, .number, .string:
            return .response(Outcome.error(.null, Self.notRequestObject).single())
        }
    }

    /// The call a body of the simple shape makes (see `JSONRPCSimpleRequest`), or nil when the full parser must
    /// read it, including for an unknown method, whose error the full path words.
    private func simpleCall(_ body: [UInt8], context: JSONRPCContext) -> (entry: JSONRPCMethodTable.Entry, call: JSONRPCCall)? {
        body.withUnsafeBytes { bytes in
            guard let simple = JSONRPCSimpleRequest(bytes, limits: limits),
                  let (name, entry) = methods.entry(named: UnsafeRawBufferPointer(rebasing: bytes[simple.method])) else { return nil }
            let params = simple.parameterID.map { JSONObject(key: "id", value: .string($0)) } ?? JSONObject()
            return (entry, JSONRPCCall(method: name, params: params, id: simple.id, context: context))
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

    // MARK: Batches

    private func handleBatch(_ members: [JSONValue], context: JSONRPCContext) async -> [UInt8]? {
        guard methods.hasConcurrentMethods else {
            // The fast path: one pass, no intermediate array, no child tasks. Handlers that return without
            // suspending cost about a function call each.
            var outcomes: [Outcome] = []
            outcomes.reserveCapacity(members.count)
            for member in members {
                switch prepare(member, context: context) {
                case .finished(let outcome): outcomes.append(outcome)
                case .call(let entry, let call): outcomes.append(await run(entry, call))
                }
            }
            return Outcome.batch(outcomes)
        }
        var prepared: [Prepared] = []
        prepared.reserveCapacity(members.count)
        var concurrentCalls = 0
        for member in members {
            let item = prepare(member, context: context)
            if case .call(let entry, _) = item, entry.execution == .concurrent { concurrentCalls += 1 }
            prepared.append(item)
        }
        var outcomes: [Outcome] = []
        outcomes.reserveCapacity(prepared.count)
        if concurrentCalls < 2 {
            // Nothing to overlap: run in request order without child tasks.
            for item in prepared {
                switch item {
                case .finished(let outcome): outcomes.append(outcome)
                case .call(let entry, let call): outcomes.append(await run(entry, call))
                }
            }
        } else {
            outcomes = await runConcurrently(prepared)
        }
        return Outcome.batch(outcomes)
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
        if positional {
            guard let id else { return .finished(.silent) }
            return .finished(.error(id, Self.positionalParams))
        }
        return .call(entry, JSONRPCCall(method: method, params: params, id: id, context: context))
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
}
