import HTTP1
import Testing

@Suite("HTTP request encoder")
struct HTTPRequestEncoderTests {
    private func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    @Test("writes the request line, Host, the fields in order, Content-Length and the body")
    func layout() throws {
        let bytes = try HTTPRequestEncoder.encode(method: "POST", target: "/rpc?x=1", host: "127.0.0.1:8081",
                                                  headers: [("Content-Type", "application/json"), ("X-A", "1"), ("x-a", "2")],
                                                  body: Array("{}".utf8))
        #expect(text(bytes) == "POST /rpc?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8081\r\nContent-Type: application/json\r\nX-A: 1\r\nx-a: 2\r\nContent-Length: 2\r\n\r\n{}")
    }

    @Test("Content-Length only with a body, or for POST, PUT and PATCH without one")
    func contentLength() throws {
        #expect(!text(try HTTPRequestEncoder.encode(method: "GET", target: "/", host: "h", headers: [], body: nil)).contains("Content-Length"))
        #expect(text(try HTTPRequestEncoder.encode(method: "GET", target: "/", host: "h", headers: [], body: [])).contains("Content-Length: 0\r\n"))
        for method in ["POST", "PUT", "PATCH"] {
            #expect(text(try HTTPRequestEncoder.encode(method: method, target: "/", host: "h", headers: [], body: nil)).contains("Content-Length: 0\r\n"))
        }
    }

    @Test("a caller's Host, Content-Length, Transfer-Encoding and Connection are left out: framing is the encoder's")
    func framingFieldsAreOurs() throws {
        let bytes = try HTTPRequestEncoder.encode(method: "POST", target: "/", host: "real", headers: [
            ("Host", "evil"), ("content-length", "99"), ("Transfer-Encoding", "chunked"), ("Connection", "close"), ("Accept", "*/*"),
        ], body: Array("abc".utf8))
        #expect(text(bytes) == "POST / HTTP/1.1\r\nHost: real\r\nAccept: */*\r\nContent-Length: 3\r\n\r\nabc")
    }

    @Test("CR, LF or another control byte in a value is refused, and the message names the field, never the value")
    func injection() {
        for value in ["a\r\nX-Injected: 1", "a\nb", "a\rb", "a\u{0}b", "a\u{7F}"] {
            do {
                _ = try HTTPRequestEncoder.encode(method: "GET", target: "/", host: "h", headers: [("Authorization", value)], body: nil)
                Issue.record("accepted \(value.debugDescription)")
            } catch {
                #expect(error.description.contains("Authorization"))
                #expect(!error.description.contains("X-Injected") && !error.description.contains("a\n"))
            }
        }
        #expect(throws: HTTPRequestEncodingError.self) { try HTTPRequestEncoder.encode(method: "GE T", target: "/", host: "h", headers: [], body: nil) }
        #expect(throws: HTTPRequestEncodingError.self) { try HTTPRequestEncoder.encode(method: "GET", target: "/a b", host: "h", headers: [], body: nil) }
        #expect(throws: HTTPRequestEncodingError.self) { try HTTPRequestEncoder.encode(method: "GET", target: "/", host: "h\r\nX: 1", headers: [], body: nil) }
        #expect(throws: HTTPRequestEncodingError.self) { try HTTPRequestEncoder.encode(method: "GET", target: "/", host: "h", headers: [("X A", "1")], body: nil) }
        #expect(throws: Never.self) { try HTTPRequestEncoder.encode(method: "GET", target: "/", host: "h", headers: [("X-Tab", "a\tb")], body: nil) }
    }

    @Test("what it writes, the server's parser reads back as the same request")
    func roundTrip() throws {
        let body = Array(#"{"jsonrpc":"2.0"}"#.utf8)
        let bytes = try HTTPRequestEncoder.encode(method: "POST", target: "/rpc", host: "svc:8081",
                                                  headers: [("Authorization", "Bearer t"), ("X-Many", "a, b")], body: body)
        var parser = HTTPRequestParser()
        let (event, consumed) = bytes.withUnsafeBytes { parser.parse($0) }
        guard case .request(let request) = event else { Issue.record("not parsed: \(event)"); return }
        #expect(consumed == bytes.count)
        #expect(request.method == "POST" && request.path == "/rpc" && request.body == body && request.keepAlive)
        #expect(request.headers["host"] == "svc:8081" && request.headers["authorization"] == "Bearer t" && request.headers["x-many"] == "a, b")
    }
}
