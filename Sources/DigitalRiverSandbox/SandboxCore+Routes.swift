import HTTP1
import JSON
import Timekeeping

/// The HTTP face of the sandbox: Digital River's customer routes plus `GET /healthz`.
extension SandboxCore {
    static let created = HTTPStatus(code: 201, reason: "Created")

    /// Route templates as counted in `requestCounts`.
    enum Route {
        static let create = "POST /customers"
        static let list = "GET /customers"
        static let retrieve = "GET /customers/{id}"
        static let update = "POST /customers/{id}"
        static let delete = "DELETE /customers/{id}"
    }

    func addRoutes(to router: inout HTTPRouter) {
        // Unknown paths and methods answer in Digital River's error shape too, so a client's error parsing meets
        // the same body everywhere. They bypass counting, auth and failure injection: no route, nothing to emulate.
        router.unroutedResponder = { _, unrouted in
            switch unrouted {
            case .notFound: SandboxError.unknownPath.response()
            case .methodNotAllowed(let allow): SandboxError.methodNotAllowed(allow: allow).response()
            }
        }
        let health = Array(#"{"status":"ok","service":"digital-river-sandbox","emulator":true}"#.utf8)
        router.add(.get, "/healthz", .inline { _ in .json(.ok, health) })

        router.add(.post, "/customers", .async { [self] request in
            await handle(request, route: Route.create) { request throws(SandboxError) in
                let version = try APIVersion(header: request.headers[APIVersion.headerName])
                let customer = try create(try Self.jsonObject(request.body), apiVersion: version)
                return .json(Self.created, JSONValue.object(customer).encoded())
            }
        })
        router.add(.get, "/customers", .async { [self] request in
            await handle(request, route: Route.list) { request throws(SandboxError) in
                let query = try CustomerListQuery(request.query)
                let page = try directory.withLock { directory throws(SandboxError) in try directory.list(query) }
                return .json(.ok, Self.encodePage(page))
            }
        })
        router.add(.get, "/customers/{id}", .async { [self] request in
            await handle(request, route: Route.retrieve) { request throws(SandboxError) in
                let id = request.pathParameters["id"] ?? ""
                guard let encoded = directory.withLock({ $0.records[id]?.encoded }) else { throw SandboxError.customerNotFound(id) }
                return .json(.ok, encoded)
            }
        })
        router.add(.post, "/customers/{id}", .async { [self] request in
            await handle(request, route: Route.update) { request throws(SandboxError) in
                let version = try APIVersion(header: request.headers[APIVersion.headerName])
                let customer = try update(id: request.pathParameters["id"] ?? "", try Self.jsonObject(request.body), apiVersion: version)
                return .json(.ok, JSONValue.object(customer).encoded())
            }
        })
        router.add(.delete, "/customers/{id}", .async { [self] request in
            await handle(request, route: Route.delete) { request throws(SandboxError) in
                try delete(id: request.pathParameters["id"] ?? "")
                return HTTPResponse(status: .noContent)
            }
        })
    }

    /// Everything an API request goes through before its handler: counting, injected latency and failures,
    /// the API key, the optional rate limit. Errors become Digital River error bodies.
    func handle(_ request: HTTPRequest, route: String,
                _ handler: (HTTPRequest) throws(SandboxError) -> HTTPResponse) async -> HTTPResponse {
        counts.withLock { $0[route, default: 0] += 1 }
        let failures = failures.withLock { $0 }
        if failures.latencyMilliseconds > 0 {
            try? await Task.sleep(nanoseconds: UInt64(failures.latencyMilliseconds) * 1_000_000)
        }
        if Self.roll(failures.dropConnectionRate) {
            return .dropConnection
        }
        if Self.roll(failures.rateLimitRate) {
            return SandboxError.tooManyRequests.response(headers: HTTPHeaders([("Retry-After", "\(max(0, failures.retryAfterSeconds))")]))
        }
        if Self.roll(failures.serverErrorRate) {
            return SandboxError.injectedServerError.response()
        }
        if let apiKey = configuration.apiKey, !Self.bearerMatches(request.headers["Authorization"], apiKey) {
            return SandboxError.unauthorized.response(headers: HTTPHeaders([("WWW-Authenticate", "Bearer")]))
        }
        if let wait = bucket.withLock({ bucket in bucket?.take(now: SystemClock.monotonicSeconds()) }) {
            // Retry-After is whole seconds, at least 1.
            return SandboxError.tooManyRequests.response(headers: HTTPHeaders([("Retry-After", "\(max(1, Int(wait.rounded(.up))))")]))
        }
        do {
            return try handler(request)
        } catch {
            return error.response()
        }
    }

    /// `Authorization: Bearer <key>` with the scheme in any case; the key is compared without early exit.
    static func bearerMatches(_ header: String?, _ apiKey: String) -> Bool {
        guard let header, header.utf8.count > 7, header.prefix(7).lowercased() == "bearer " else { return false }
        let presented = Array(header.utf8.dropFirst(7))
        let expected = Array(apiKey.utf8)
        guard presented.count == expected.count else { return false }
        var difference: UInt8 = 0
        for index in expected.indices { difference |= presented[index] ^ expected[index] }
        return difference == 0
    }

    /// The request body as a JSON object.
    ///
    /// - Throws: `SandboxError` 400 `invalid_parameter` (no parameter) when it is empty, not JSON or not an object.
    static func jsonObject(_ body: [UInt8]) throws(SandboxError) -> JSONObject {
        guard let value = try? JSONValue.parse(body), case .object(let object) = value else {
            throw SandboxError.badRequest([SandboxError.invalid(nil, "The request body must be a JSON object.")])
        }
        return object
    }

    /// `{"hasMore":…,"data":[…]}` spliced from the customers' cached encodings.
    static func encodePage(_ page: (hasMore: Bool, items: [[UInt8]])) -> [UInt8] {
        var body = JSONStreamWriter(reservingCapacity: 32 + page.items.reduce(0) { $0 + $1.count + 1 })
        body.beginObject()
        body.member("hasMore", .bool(page.hasMore))
        body.key("data")
        body.beginArray()
        for item in page.items { body.encoded(item) }
        body.endArray()
        body.endObject()
        return body.document
    }
}
