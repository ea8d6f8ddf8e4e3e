import HTTP1
import Testing

@Suite("HTTP method as a typed value")
struct HTTPMethodTests {
    private func parsedMethod(_ token: String) throws -> HTTPMethod {
        var parser = HTTPRequestParser()
        let bytes = Array("\(token) / HTTP/1.1\r\nHost: h\r\n\r\n".utf8)
        let (event, _) = bytes.withUnsafeBytes { parser.parse($0) }
        guard case .request(let request) = event else { throw ParseFailed() }
        return request.method
    }

    private struct ParseFailed: Error {}

    @Test("every registered method parses to its constant, with its text")
    func registered() throws {
        let all: [HTTPMethod] = [.get, .head, .post, .put, .delete, .patch, .options, .connect, .trace]
        for method in all {
            let parsed = try parsedMethod(method.rawValue)
            #expect(parsed == method)
            #expect(parsed.rawValue == method.rawValue)
        }
        #expect(Set(all).count == all.count, "no two constants are equal")
        #expect(Set(all.map(\.rawValue)) == ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE"])
    }

    @Test("a string and a literal name the same method as the parser's bytes")
    func stringForms() throws {
        #expect(HTTPMethod("POST") == .post)
        let literal: HTTPMethod = "HEAD"
        #expect(literal == .head)
        #expect(HTTPMethod("DELETE").hashValue == HTTPMethod.delete.hashValue)
        #expect("\(HTTPMethod.patch)" == "PATCH")
    }

    @Test("methods are case-sensitive: lowercase is an extension method, not the registered one")
    func caseSensitive() throws {
        let lower = try parsedMethod("get")
        #expect(lower != .get)
        #expect(lower.rawValue == "get")
        #expect(HTTPMethod("Post") != .post)
    }

    @Test("extension methods keep their token and compare by it")
    func extensionMethods() throws {
        let purge = try parsedMethod("PURGE")
        #expect(purge.rawValue == "PURGE")
        #expect(purge == HTTPMethod("PURGE"))
        #expect(purge != HTTPMethod("PURGES"))
        #expect(purge != .post && purge != .put)
        // Same length as registered ones, different bytes.
        #expect(try parsedMethod("GOT") != .get)
        #expect(try parsedMethod("PUSH") != .post)
        #expect(Set([purge, HTTPMethod("PURGE"), .get, HTTPMethod("GET")]).count == 2)
    }

    @Test("the router matches typed methods, and HEAD falls back to GET")
    func routing() {
        var router = HTTPRouter()
        router.add(.get, "/a", .inline { _ in HTTPResponse(status: .ok) })
        router.add(HTTPMethod("PURGE"), "/a", .inline { _ in HTTPResponse(status: .accepted) })
        guard case .handler = router.resolve(method: .head, path: "/a"),
              case .handler = router.resolve(method: HTTPMethod("PURGE"), path: "/a") else {
            Issue.record("a routed method was not found"); return
        }
        guard case .methodNotAllowed(let allow) = router.resolve(method: HTTPMethod("get"), path: "/a") else {
            Issue.record("lowercase get matched GET"); return
        }
        #expect(allow == "GET, HEAD, PURGE")
    }
}
