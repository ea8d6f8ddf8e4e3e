import HTTP1
import Testing

@Suite("HTTP request parser without sockets")
struct HTTPRequestParserTests {
    private func parseAll(_ text: String, limits: HTTPLimits = HTTPLimits()) -> [HTTPRequestParser.Event] {
        var parser = HTTPRequestParser(limits: limits)
        var bytes = Array(text.utf8)
        var events: [HTTPRequestParser.Event] = []
        while true {
            let (event, consumed) = bytes.withUnsafeBytes { parser.parse($0) }
            bytes.removeFirst(consumed)
            if case .needMore = event { break }
            events.append(event)
            if case .failure = event { break }
        }
        return events
    }

    @Test("repeated headers are kept in order and looked up case-insensitively")
    func repeatedHeaders() throws {
        let events = parseAll("GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nx-a: 2\r\n\r\n")
        guard case .request(let request) = try #require(events.first) else { Issue.record("no request"); return }
        #expect(request.headers.values("X-A") == ["1", "2"])
        #expect(request.headers["HOST"] == "h")
    }

    @Test("optional whitespace around header values is trimmed")
    func trimsOWS() throws {
        let events = parseAll("GET / HTTP/1.1\r\nHost: \t h \t\r\n\r\n")
        guard case .request(let request) = try #require(events.first) else { Issue.record("no request"); return }
        #expect(request.headers["Host"] == "h")
    }

    @Test("two pipelined requests come out as two events")
    func pipelined() {
        let events = parseAll("GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(events.count == 2)
        if case .request(let second) = events.last { #expect(second.path == "/b") } else { Issue.record("second missing") }
    }

    @Test("a partial head waits for more bytes rather than failing")
    func partialHead() {
        #expect(parseAll("GET / HTTP/1.1\r\nHo").isEmpty)
    }

    @Test("Connection tokens are found in lists and in any case")
    func connectionTokens() throws {
        guard case .request(let listed) = try #require(parseAll("GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, CLOSE\r\n\r\n").first),
              case .request(let old) = try #require(parseAll("GET / HTTP/1.0\r\nConnection: TE, Keep-Alive\r\n\r\n").first),
              case .request(let other) = try #require(parseAll("GET / HTTP/1.1\r\nHost: h\r\nConnection: closed\r\n\r\n").first) else {
            Issue.record("no request"); return
        }
        #expect(!listed.keepAlive)
        #expect(old.keepAlive)
        #expect(other.keepAlive)
    }

    @Test("HTTP/1.0 without keep-alive is not kept alive; HTTP/1.1 is")
    func keepAliveRules() throws {
        guard case .request(let old) = try #require(parseAll("GET / HTTP/1.0\r\n\r\n").first),
              case .request(let new) = try #require(parseAll("GET / HTTP/1.1\r\nHost: h\r\n\r\n").first) else {
            Issue.record("no request"); return
        }
        #expect(!old.keepAlive)
        #expect(new.keepAlive)
    }
}

@Suite("Router")
struct HTTPRouterTests {
    @Test("pattern routes capture percent-decoded segments; exact routes win")
    func patterns() {
        var router = HTTPRouter()
        router.add(.get, "/customers/{id}", .inline { _ in HTTPResponse(status: .ok) })
        router.add(.get, "/customers/special", .inline { _ in HTTPResponse(status: .accepted) })
        guard case .handler(_, let parameters) = router.resolve(method: .get, path: "/customers/a%20b") else {
            Issue.record("no match"); return
        }
        #expect(parameters == ["id": "a b"])
        guard case .handler(_, let exact) = router.resolve(method: .get, path: "/customers/special") else {
            Issue.record("no exact match"); return
        }
        #expect(exact.isEmpty)
        if case .notFound = router.resolve(method: .get, path: "/customers/") {} else { Issue.record("empty segment matched") }
        if case .notFound = router.resolve(method: .get, path: "/customers/%zz") {} else { Issue.record("bad escape matched") }
        if case .methodNotAllowed(let allow) = router.resolve(method: .delete, path: "/customers/x") {
            #expect(allow == "GET, HEAD")
        } else { Issue.record("expected 405") }
    }
}
