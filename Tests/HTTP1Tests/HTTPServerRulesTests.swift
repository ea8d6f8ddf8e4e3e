import Foundation
import HTTP1
import HTTPTestClient
import Sockets
import Testing

/// One row of the wire-rules table: raw request bytes and what the server must answer.
struct WireCase: CustomTestStringConvertible, Sendable {
    let name: String
    let request: String
    let status: Int
    /// Whether the server must close the connection after answering.
    let closes: Bool
    var body: String? = nil
    var testDescription: String { name }
}

let wireCases: [WireCase] = [
    WireCase(name: "simple GET", request: "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", status: 200, closes: false, body: #"{"hello":"world"}"#),
    WireCase(name: "header names are case-insensitive", request: "GET /hello HTTP/1.1\r\nhOsT: x\r\n\r\n", status: 200, closes: false),
    WireCase(name: "leading empty line is ignored", request: "\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n", status: 200, closes: false),
    WireCase(name: "query string is not part of the route", request: "GET /hello?x=1 HTTP/1.1\r\nHost: x\r\n\r\n", status: 200, closes: false),
    WireCase(name: "absolute-form target routes on its path", request: "GET http://x/hello HTTP/1.1\r\nHost: x\r\n\r\n", status: 200, closes: false),
    WireCase(name: "Connection: close closes", request: "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", status: 200, closes: true),
    WireCase(name: "HTTP/1.0 closes by default", request: "GET /hello HTTP/1.0\r\n\r\n", status: 200, closes: true),
    WireCase(name: "HTTP/1.0 keep-alive stays open", request: "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", status: 200, closes: false),
    WireCase(name: "POST with Content-Length echoes", request: "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", status: 200, closes: false, body: "hello"),
    WireCase(name: "identical repeated Content-Length is accepted", request: "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello", status: 200, closes: false, body: "hello"),
    WireCase(name: "chunked body with extension and trailer", request: "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: yes\r\n\r\n", status: 200, closes: false, body: "hello world"),
    WireCase(name: "unknown path is 404", request: "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", status: 404, closes: false),
    WireCase(name: "wrong method is 405", request: "DELETE /hello HTTP/1.1\r\nHost: x\r\n\r\n", status: 405, closes: false),
    WireCase(name: "missing Host on HTTP/1.1", request: "GET /hello HTTP/1.1\r\n\r\n", status: 400, closes: true),
    WireCase(name: "two Host headers", request: "GET /hello HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", status: 400, closes: true),
    WireCase(name: "Content-Length with Transfer-Encoding", request: "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", status: 400, closes: true),
    WireCase(name: "differing Content-Lengths", request: "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", status: 400, closes: true),
    WireCase(name: "differing Content-Length list", request: "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 6\r\n\r\nhello!", status: 400, closes: true),
    WireCase(name: "non-numeric Content-Length", request: "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello", status: 400, closes: true),
    WireCase(name: "unknown transfer coding", request: "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\r\n", status: 400, closes: true),
    WireCase(name: "chunked not last", request: "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", status: 400, closes: true),
    WireCase(name: "chunked twice", request: "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", status: 400, closes: true),
    WireCase(name: "unsupported coding before chunked is 501", request: "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", status: 501, closes: true),
    WireCase(name: "Transfer-Encoding on HTTP/1.0", request: "POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", status: 400, closes: true),
    WireCase(name: "obs-fold", request: "GET /hello HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n", status: 400, closes: true),
    WireCase(name: "space before colon", request: "GET /hello HTTP/1.1\r\nHost : x\r\n\r\n", status: 400, closes: true),
    WireCase(name: "invalid byte in header name", request: "GET /hello HTTP/1.1\r\nHost: x\r\nX(A): 1\r\n\r\n", status: 400, closes: true),
    WireCase(name: "control byte in header value", request: "GET /hello HTTP/1.1\r\nHost: x\r\nX-A: a\u{01}b\r\n\r\n", status: 400, closes: true),
    WireCase(name: "bare CR in header value", request: "GET /hello HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n", status: 400, closes: true),
    WireCase(name: "bare LF line ending", request: "GET /hello HTTP/1.1\nHost: x\n\n", status: 400, closes: true),
    WireCase(name: "malformed request line", request: "GET  /hello HTTP/1.1\r\nHost: x\r\n\r\n", status: 400, closes: true),
    WireCase(name: "lowercase version", request: "GET /hello http/1.1\r\nHost: x\r\n\r\n", status: 400, closes: true),
    WireCase(name: "HTTP/2.0 over HTTP/1 framing is 505", request: "GET /hello HTTP/2.0\r\nHost: x\r\n\r\n", status: 505, closes: true),
    WireCase(name: "target without slash", request: "GET hello HTTP/1.1\r\nHost: x\r\n\r\n", status: 400, closes: true),
    WireCase(name: "malformed chunk size", request: "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", status: 400, closes: true),
    WireCase(name: "chunk size followed by a second number", request: "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5 1\r\nhello\r\n0\r\n\r\n", status: 400, closes: true),
    WireCase(name: "chunk size followed by a word", request: "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5 xyz\r\nhello\r\n0\r\n\r\n", status: 400, closes: true),
    WireCase(name: "chunk extension without a name", request: "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;\r\nhello\r\n0\r\n\r\n", status: 400, closes: true),
    WireCase(name: "whitespace after the chunk size without an extension", request: "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n", status: 400, closes: true),
    WireCase(name: "chunk extension name with a space inside", request: "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;a b\r\nhello\r\n0\r\n\r\n", status: 400, closes: true),
    WireCase(name: "chunk extension with an empty value", request: "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;a=\r\nhello\r\n0\r\n\r\n", status: 400, closes: true),
    WireCase(name: "chunk extension value with an unterminated quote", request: "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;a=\"x\r\nhello\r\n0\r\n\r\n", status: 400, closes: true),
    WireCase(name: "chunk extension name with a non-token byte", request: "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;a@b\r\nhello\r\n0\r\n\r\n", status: 400, closes: true),
    WireCase(name: "whitespace after a chunk extension value", request: "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b \r\nhello\r\n0\r\n\r\n", status: 400, closes: true),
    WireCase(name: "chunk extensions with BWS, several names and a quoted value", request: "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5 ; a = \"q\\\"x\" ; b;c=d\r\nhello\r\n0\r\n\r\n", status: 200, closes: false, body: "hello"),
    WireCase(name: "chunk data without CRLF", request: "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n", status: 400, closes: true),
    WireCase(name: "unsupported Expect", request: "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: magic\r\nContent-Length: 1\r\n\r\na", status: 417, closes: true),
    WireCase(name: "body over the limit is 413", request: "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2048\r\n\r\n", status: 413, closes: true),
    WireCase(name: "chunked body over the limit is 413", request: "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n801\r\n", status: 413, closes: true),
    WireCase(name: "request line over the limit is 414", request: "GET /\(String(repeating: "a", count: 300)) HTTP/1.1\r\nHost: x\r\n\r\n", status: 414, closes: true),
    WireCase(name: "header section over the limit is 431", request: "GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "b", count: 1100))\r\n\r\n", status: 431, closes: true),
    WireCase(name: "too many header fields is 431", request: "GET /hello HTTP/1.1\r\nHost: x\r\n" + (0..<20).map { "X-\($0): v\r\n" }.joined() + "\r\n", status: 431, closes: true),
]

@Suite("HTTP/1.1 wire rules over real sockets")
struct HTTPServerRulesTests {
    static let limits = HTTPLimits(maxRequestLineBytes: 256, maxHeaderBytes: 1024, maxHeaderCount: 16, maxBodyBytes: 2047)

    @Test("raw request bytes get the expected status and connection handling", arguments: wireCases)
    func wireRule(_ wireCase: WireCase) throws {
        let server = try TestServer(limits: Self.limits)
        let client = try RawClient(server.address)
        client.send(wireCase.request)
        let response = try #require(client.readResponse())
        #expect(response.status == wireCase.status)
        if let body = wireCase.body { #expect(response.bodyText == body) }
        if wireCase.closes {
            #expect(response.header("Connection") == "close")
            #expect(client.isClosedByPeer())
        } else {
            // The connection must still serve a next request.
            client.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(client.readResponse()?.status == 200)
        }
        if response.status >= 400, response.status != 404, response.status != 405 {
            // Error bodies are JSON with a stable code, never an echo of the request.
            #expect(response.header("Content-Type") == "application/json")
            #expect(response.bodyText.hasPrefix(#"{"error":""#))
        }
    }

    @Test("405 lists the allowed methods in Allow, including HEAD for GET routes")
    func allowHeader() throws {
        let server = try TestServer()
        let client = try RawClient(server.address)
        client.send("POST /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        let response = try #require(client.readResponse())
        #expect(response.status == 405)
        #expect(response.header("Allow") == "GET, HEAD")
    }

    @Test("an unrouted responder answers unknown paths and methods; the server still adds Allow to its 405")
    func unroutedResponder() throws {
        let server = try TestServer(extraRoutes: { router in
            router.unroutedResponder = { _, unrouted in
                switch unrouted {
                case .notFound: .json(.notFound, Array(#"{"custom":"missing"}"#.utf8))
                case .methodNotAllowed(let allow): .json(.methodNotAllowed, Array(#"{"custom":"\#(allow)"}"#.utf8))
                }
            }
        })
        let client = try RawClient(server.address)
        client.send("GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n")
        let missing = try #require(client.readResponse())
        #expect(missing.status == 404)
        #expect(missing.bodyText == #"{"custom":"missing"}"#)
        client.send("POST /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        let wrongMethod = try #require(client.readResponse())
        #expect(wrongMethod.status == 405)
        #expect(wrongMethod.bodyText == #"{"custom":"GET, HEAD"}"#)
        #expect(wrongMethod.header("Allow") == "GET, HEAD")
        client.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(client.readResponse()?.bodyText == #"{"hello":"world"}"#, "routed requests are untouched")
    }

    @Test("HEAD gets the GET headers and Content-Length but no body")
    func headRequest() throws {
        let server = try TestServer()
        let client = try RawClient(server.address)
        client.send("HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        let head = try #require(client.readResponse(head: true))
        #expect(head.status == 200)
        #expect(head.header("Content-Length") == "17")
        #expect(head.body.isEmpty)
        // The next response starts right after the head: proof that no body bytes were sent.
        let get = try #require(client.readResponse())
        #expect(get.bodyText == #"{"hello":"world"}"#)
    }

    @Test("responses carry a Date header")
    func dateHeader() throws {
        let server = try TestServer()
        let client = try RawClient(server.address)
        client.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        let date = try #require(client.readResponse()?.header("Date"))
        #expect(date.hasSuffix(" GMT"))
        #expect(date.count == 29)
    }

    @Test("pipelined requests are answered in order, across inline and off-loop handlers")
    func pipelining() throws {
        let server = try TestServer()
        let client = try RawClient(server.address)
        client.send("POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n100"
                    + "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\none"
                    + "POST /deferred HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\n\r\ndeferred"
                    + "POST /deferred-now HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nnow"
                    + "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
                    + "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\ntwo\r\n0\r\n\r\n")
        #expect(client.readResponse()?.bodyText == #"{"slow":true}"#)
        #expect(client.readResponse()?.bodyText == "one")
        let deferred = client.readResponse()
        #expect(deferred?.status == 202)
        #expect(deferred?.bodyText == "deferred")
        #expect(client.readResponse()?.bodyText == "now")
        #expect(client.readResponse()?.bodyText == #"{"hello":"world"}"#)
        #expect(client.readResponse()?.bodyText == "two")
    }

    @Test("Expect: 100-continue gets an interim 100 before the body is sent")
    func expectContinue() throws {
        let server = try TestServer()
        let client = try RawClient(server.address)
        client.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
        let interim = try #require(client.readResponse())
        #expect(interim.status == 100)
        client.send("data")
        let final = try #require(client.readResponse())
        #expect(final.status == 200)
        #expect(final.bodyText == "data")
    }

    @Test("Expect: 100-continue with an oversized Content-Length is refused with 413 before any body")
    func expectContinueTooLarge() throws {
        let server = try TestServer(limits: Self.limits)
        let client = try RawClient(server.address)
        client.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\nExpect: 100-continue\r\n\r\n")
        #expect(client.readResponse()?.status == 413)
    }

    @Test("a chunked body split at every byte boundary is reassembled exactly")
    func chunkedSplitEverywhere() throws {
        let server = try TestServer()
        let request = Array("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4;a=b\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nT: 1\r\n\r\n".utf8)
        let client = try RawClient(server.address)
        for split in 1..<request.count {
            client.send(Array(request[0..<split]))
            usleep(300)
            client.send(Array(request[split...]))
            let response = try #require(client.readResponse(), "split at \(split)")
            #expect(response.status == 200, "split at \(split)")
            #expect(response.bodyText == "Wikipedia in\r\n\r\nchunks.", "split at \(split)")
        }
    }

    @Test("a request trickled one byte at a time is parsed")
    func byteAtATime() throws {
        let server = try TestServer()
        let client = try RawClient(server.address)
        for byte in Array("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc".utf8) {
            client.send([byte])
            usleep(200)
        }
        #expect(client.readResponse()?.bodyText == "abc")
    }

    @Test("a body that fills several reads arrives whole")
    func largeBody() throws {
        let server = try TestServer()
        let client = try RawClient(server.address)
        let body = (0..<1_000_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        client.send(Array("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body)
        let response = try #require(client.readResponse())
        #expect(response.status == 200)
        #expect(response.body == body)
    }
}

@Suite("Connection dropping")
struct HTTPDropConnectionTests {
    @Test("a handler can make the server close the connection without answering")
    func drop() throws {
        let server = try TestServer { router in
            router.add(.get, "/drop", .inline { _ in .dropConnection })
            router.add(.get, "/drop-async", .async { _ in .dropConnection })
        }
        for path in ["/drop", "/drop-async"] {
            let client = try RawClient(server.address)
            client.send("GET \(path) HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(client.readResponse() == nil)
            #expect(client.isClosedByPeer())
        }
        let healthy = try RawClient(server.address)
        healthy.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(healthy.readResponse()?.status == 200)
    }
}
