/// How a route's handler runs: inline on the event loop (fast, must never block) or as a task off the loop
/// (anything that waits on disk or network), so one slow handler never stalls other connections.
public enum HTTPHandler: Sendable {
    case inline(@Sendable (HTTPRequest) -> HTTPResponse)
    case async(@Sendable (HTTPRequest) async -> HTTPResponse)
}

/// Exact method + path routing with 404 and 405 (+ Allow); HEAD is served by the GET handler without a body.
public struct HTTPRouter: Sendable {
    private var routes: [String: [String: HTTPHandler]] = [:]

    public init() {}

    /// What the router decided for a request.
    public enum Resolution: Sendable {
        case handler(HTTPHandler)
        case notFound
        case methodNotAllowed(allow: String)
    }

    public mutating func add(_ method: String, _ path: String, _ handler: HTTPHandler) {
        routes[path, default: [:]][method] = handler
    }

    public func resolve(method: String, path: String) -> Resolution {
        guard let methods = routes[path] else { return .notFound }
        if let handler = methods[method] { return .handler(handler) }
        if method == "HEAD", let handler = methods["GET"] { return .handler(handler) }
        var allowed = Array(methods.keys)
        if allowed.contains("GET"), !allowed.contains("HEAD") { allowed.append("HEAD") }
        return .methodNotAllowed(allow: allowed.sorted().joined(separator: ", "))
    }

    /// Paths with at least one route, for diagnostics.
    public var paths: [String] { routes.keys.sorted() }
}
