/// A method implementation. Typed throws: whatever `JSONRPCError` it throws is sent to the caller as is.
public typealias JSONRPCHandler = @Sendable (JSONRPCCall) async throws(JSONRPCError) -> JSONRPCResult

/// A synchronous attempt at a call (a cache hit): answer now, or say the call must take the async path.
/// Lets the transport answer on its event loop without creating a task when every call can be answered at once.
public typealias JSONRPCImmediateHandler = @Sendable (JSONRPCCall) -> JSONRPCImmediateResult

/// What an immediate handler decided.
public enum JSONRPCImmediateResult: Sendable {
    case result(JSONRPCResult)
    case error(JSONRPCError)
    /// The call needs I/O (a cache miss): run the method's async handler instead.
    case needsAsync
}

/// A method implementation that may throw any error; see `JSONRPCMethodTable.registerMappingErrors`.
public typealias JSONRPCAnyErrorHandler = @Sendable (JSONRPCCall) async throws -> JSONRPCResult

/// How the members of a batch that call a method are scheduled.
///
/// While every registered method is `.inline`, a batch runs strictly in request order. Once any method is
/// `.concurrent`, a batch holding two or more such calls runs them alongside the rest, so side effects of
/// different members may interleave (the spec allows any order); clients must not rely on one member of a
/// batch seeing another's effects. Responses are always in request order.
public enum JSONRPCExecution: Sendable, Hashable {
    /// Awaited one after another on the request's task. Right for methods that usually return without
    /// suspending (cache hits): an `await` that does not suspend costs about a function call, while a child
    /// task costs an allocation and a scheduler round trip.
    case inline
    /// Run as child tasks alongside the rest of the batch when a batch holds two or more such calls. Right for
    /// methods that usually suspend (database or network I/O), so one batch does not wait for them in series.
    case concurrent
}

/// Who may call a method, declared once at registration. The server applies it to every call (single or batch
/// member, immediate or async path) before any handler runs, against the grant the transport put in the
/// `JSONRPCContext`; handlers never check.
public enum JSONRPCAccess: Sendable, Hashable {
    /// Only callers whose grant names the method (or whose grant is unrestricted). The default.
    case grantedCallers
    /// Every caller the transport let through, whatever methods its grant names (discovery).
    case everyCaller
}

/// The registered methods; names are unique. Built once at start-up and then shared read-only.
///
/// Names beginning with `rpc.` are reserved by the spec for rpc-internal methods and extensions: clients can
/// only reach one if the application deliberately registers it here, and an unregistered `rpc.*` name is
/// answered like any unknown method (-32601), never routed anywhere else.
public struct JSONRPCMethodTable: Sendable {
    /// A handler as stored: the two registration styles differ only in how errors are mapped.
    enum Body: Sendable {
        case typed(JSONRPCHandler)
        case mappingErrors(JSONRPCAnyErrorHandler)
    }

    struct Entry: Sendable {
        let body: Body
        let execution: JSONRPCExecution
        let access: JSONRPCAccess
        var immediate: JSONRPCImmediateHandler? = nil
    }

    private(set) var entries: [String: Entry] = [:]
    /// The same entries with their names as bytes, for the simple-request path: a few length-first compares
    /// beat hashing the name.
    private var byName: [(utf8: [UInt8], name: String, entry: Entry)] = []
    /// Kept in registration order so `methodNames` is stable for discovery documents and logs.
    public private(set) var methodNames: [String] = []
    /// Lets the server skip scheduling work for batches when no method asked for concurrency.
    private(set) var hasConcurrentMethods = false

    public init() {}

    /// Registers `handler` under `name`. Registering a name twice is a programming error and traps, because
    /// silently replacing a method would make the table's meaning depend on registration order.
    public mutating func register(_ name: String, access: JSONRPCAccess = .grantedCallers, execution: JSONRPCExecution = .inline,
                                  immediate: JSONRPCImmediateHandler? = nil,
                                  _ handler: @escaping JSONRPCHandler) {
        add(name, Entry(body: .typed(handler), execution: execution, access: access, immediate: immediate))
    }

    /// Registers a handler that may throw any error, for code built on throwing APIs (SQLite, I/O).
    /// A thrown `JSONRPCError` is returned as is; anything else becomes -32603 with data
    /// `{"reason":"unexpected_error"}` and its text is never sent (the server's `onUnexpectedError` sees it).
    public mutating func registerMappingErrors(_ name: String, access: JSONRPCAccess = .grantedCallers,
                                               execution: JSONRPCExecution = .inline,
                                               _ handler: @escaping JSONRPCAnyErrorHandler) {
        add(name, Entry(body: .mappingErrors(handler), execution: execution, access: access))
    }

    private mutating func add(_ name: String, _ entry: Entry) {
        precondition(!name.isEmpty, "a JSON-RPC method name must not be empty")
        precondition(entries[name] == nil, "JSON-RPC method \(name) registered twice")
        entries[name] = entry
        byName.append((Array(name.utf8), name, entry))
        if entry.execution == .concurrent { hasConcurrentMethods = true }
        methodNames.append(name)
    }

    /// The registered method these bytes name, with its name as a String (built once, at registration).
    func entry(named bytes: UnsafeRawBufferPointer) -> (name: String, entry: Entry)? {
        for candidate in byName where candidate.utf8.count == bytes.count {
            if candidate.utf8.withUnsafeBytes({ $0.elementsEqual(bytes) }) { return (candidate.name, candidate.entry) }
        }
        return nil
    }

    /// Whether `name` is registered.
    public func contains(_ name: String) -> Bool {
        entries[name] != nil
    }

    /// The access `name` was registered with; nil when it is not registered.
    public func access(of name: String) -> JSONRPCAccess? {
        entries[name]?.access
    }

    /// Spec §3: names starting with `rpc.` belong to the protocol, not to applications.
    public static func isReserved(_ name: String) -> Bool {
        name.utf8.starts(with: "rpc.".utf8)
    }
}
