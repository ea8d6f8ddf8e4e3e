/// How a route's handler runs: inline on the event loop (fast, must never block), as a task off the loop
/// (anything that awaits disk or network), or deferred: started on the loop, answered later from any thread
/// through an `HTTPResponseSink`. Deferred suits work handed to a thread of its own (the store's writer): it
/// saves the task hops, and on 2 cores those context switches cost more than the work.
public enum HTTPHandler: Sendable {
    case inline(@Sendable (HTTPRequest) -> HTTPResponse)
    case async(@Sendable (HTTPRequest) async -> HTTPResponse)
    case deferred(@Sendable (HTTPRequest, HTTPResponseSink) -> Void)
}

/// Completes one deferred request from any thread. Call `send` exactly once; a sink that is never sent leaves the
/// connection waiting until shutdown, so handlers must complete on every path.
public struct HTTPResponseSink: Sendable {
    let deliver: @Sendable (HTTPResponse) -> Void

    public func send(_ response: HTTPResponse) { deliver(response) }
}

/// Method + path routing with 404 and 405 (+ Allow); HEAD is served by the GET handler without a body.
/// Paths are exact ("/rpc") or patterns with whole-segment parameters ("/customers/{id}"); exact routes are a
/// dictionary lookup, so the hot paths never scan patterns.
public struct HTTPRouter: Sendable {
    private var routes: [String: [HTTPMethod: HTTPHandler]] = [:]
    private var patterns: [(segments: [Substring], methods: [HTTPMethod: HTTPHandler])] = []
    /// The exact routes again as a list: a server has a handful, and comparing a few short strings costs less than
    /// hashing the path and then the method (about 1,000 instructions a request); methods compare by their code.
    private var exactList: [(path: String, methods: [(method: HTTPMethod, handler: HTTPHandler)])] = []

    /// Answers requests that no route takes, for servers that must speak another API's error shape; nil keeps the
    /// generic `{"error": …}` 404/405. It runs inline on the event loop, so it must not block. A 405 always leaves
    /// with `Allow`: the server adds it when the answer has none.
    public var unroutedResponder: (@Sendable (HTTPRequest, Unrouted) -> HTTPResponse)?

    public init() {}

    /// Why no route took a request.
    public enum Unrouted: Sendable, Equatable {
        case notFound
        case methodNotAllowed(allow: String)
    }

    /// What the router decided for a request.
    public enum Resolution: Sendable {
        case handler(HTTPHandler, parameters: [String: String])
        case notFound
        case methodNotAllowed(allow: String)
    }

    public mutating func add(_ method: HTTPMethod, _ path: String, _ handler: HTTPHandler) {
        if path.contains("{") {
            let segments = path.split(separator: "/", omittingEmptySubsequences: false)
            if let index = patterns.firstIndex(where: { $0.segments == segments }) {
                patterns[index].methods[method] = handler
            } else {
                patterns.append((segments, [method: handler]))
            }
        } else {
            routes[path, default: [:]][method] = handler
            exactList = routes.map { path, methods in (path, methods.map { ($0.key, $0.value) }) }
        }
    }

    public func resolve(method: HTTPMethod, path: String) -> Resolution {
        if exactList.count <= 16 {
            for route in exactList where route.path == path {
                for candidate in route.methods where candidate.method == method {
                    return .handler(candidate.handler, parameters: [:])
                }
                break
            }
        }
        var parameters: [String: String] = [:]
        var found = routes[path]
        if found == nil {
            let segments = path.split(separator: "/", omittingEmptySubsequences: false)
            for pattern in patterns where pattern.segments.count == segments.count {
                var captured: [String: String] = [:]
                var matches = true
                for (expected, actual) in zip(pattern.segments, segments) {
                    if expected.hasPrefix("{"), expected.hasSuffix("}") {
                        guard !actual.isEmpty, let decoded = PercentDecoding.decode(actual) else { matches = false; break }
                        captured[String(expected.dropFirst().dropLast())] = decoded
                    } else if expected != actual {
                        matches = false
                        break
                    }
                }
                if matches {
                    found = pattern.methods
                    parameters = captured
                    break
                }
            }
        }
        guard let methods = found else { return .notFound }
        if let handler = methods[method] { return .handler(handler, parameters: parameters) }
        if method == .head, let handler = methods[.get] { return .handler(handler, parameters: parameters) }
        var allowed = methods.keys.map(\.rawValue)
        if methods[.get] != nil, methods[.head] == nil { allowed.append(HTTPMethod.head.rawValue) }
        return .methodNotAllowed(allow: allowed.sorted().joined(separator: ", "))
    }
}
