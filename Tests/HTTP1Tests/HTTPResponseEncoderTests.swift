import HTTP1
import Testing

@Suite("HTTP response encoder on bytes")
struct HTTPResponseEncoderTests {
    private let date = Array("Mon, 07 Dec 2026 20:00:00 GMT".utf8)

    private func encode(_ response: HTTPResponse, isHead: Bool = false,
                        persistence: HTTPResponseEncoder.Persistence = .keepAlive) -> String {
        var out: [UInt8] = []
        HTTPResponseEncoder.encode(response, date: date, isHead: isHead, persistence: persistence, into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    @Test("status line, Date, Content-Length, the handler's fields in order, then the body")
    func whole() {
        let response = HTTPResponse(status: .ok, headers: HTTPHeaders([("Content-Type", "application/json"), ("X-A", "1")]),
                                    body: Array(#"{"a":1}"#.utf8))
        #expect(encode(response) == "HTTP/1.1 200 OK\r\nDate: Mon, 07 Dec 2026 20:00:00 GMT\r\nContent-Length: 7\r\n"
            + "Content-Type: application/json\r\nX-A: 1\r\n\r\n{\"a\":1}")
    }

    @Test("an empty 200 still says Content-Length: 0, so the client does not read to the close")
    func emptyBody() {
        #expect(encode(HTTPResponse(status: .ok)) == "HTTP/1.1 200 OK\r\nDate: Mon, 07 Dec 2026 20:00:00 GMT\r\nContent-Length: 0\r\n\r\n")
    }

    @Test("HEAD keeps the Content-Length of the body it leaves out")
    func head() {
        let text = encode(HTTPResponse(status: .ok, body: Array(repeating: 0x41, count: 12_345)), isHead: true)
        #expect(text == "HTTP/1.1 200 OK\r\nDate: Mon, 07 Dec 2026 20:00:00 GMT\r\nContent-Length: 12345\r\n\r\n")
    }

    @Test("204, 304 and 1xx carry neither Content-Length nor a body")
    func bodiless() {
        for status in [HTTPStatus.noContent, HTTPStatus(code: 304, reason: "Not Modified"), HTTPStatus(code: 103, reason: "Early Hints")] {
            let text = encode(HTTPResponse(status: status, body: Array("ignored".utf8)))
            #expect(text == "HTTP/1.1 \(status.code) \(status.reason)\r\nDate: Mon, 07 Dec 2026 20:00:00 GMT\r\n\r\n")
            #expect(HTTPResponseEncoder.framing(status: status, bodyCount: 7) == .none)
        }
        #expect(HTTPResponseEncoder.framing(status: .notFound, bodyCount: 7) == .contentLength(7))
    }

    @Test("the last response says Connection: close; an HTTP/1.0 keep-alive is announced; HTTP/1.1's is not")
    func persistence() {
        let response = HTTPResponse(status: .notFound)
        #expect(encode(response, persistence: .close).contains("\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
        #expect(encode(response, persistence: .announcedKeepAlive).contains("\r\nConnection: keep-alive\r\n\r\n"))
        #expect(!encode(response, persistence: .keepAlive).contains("Connection"))
    }

    @Test("multi-digit statuses and lengths are written in decimal")
    func decimals() {
        let text = encode(HTTPResponse(status: .serviceUnavailable, body: Array(repeating: 0x20, count: 1_000_000)), isHead: true)
        #expect(text.hasPrefix("HTTP/1.1 503 Service Unavailable\r\n"))
        #expect(text.contains("\r\nContent-Length: 1000000\r\n"))
    }

    @Test("responses append to what is queued, as pipelined answers do")
    func appends() {
        var out: [UInt8] = []
        HTTPResponseEncoder.encodeContinue(into: &out)
        HTTPResponseEncoder.encode(HTTPResponse(status: .accepted), date: date, isHead: false, persistence: .keepAlive, into: &out)
        #expect(String(decoding: out, as: UTF8.self)
            == "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 202 Accepted\r\nDate: Mon, 07 Dec 2026 20:00:00 GMT\r\nContent-Length: 0\r\n\r\n")
    }

    @Test("the refusal at the connection cap is a complete 503 that closes")
    func refusal() {
        let text = String(decoding: HTTPResponseEncoder.refusal, as: UTF8.self)
        let body = #"{"error":"too_many_connections","message":"connection limit reached"}"#
        #expect(text == "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n"
            + "Connection: close\r\nRetry-After: 1\r\n\r\n\(body)")
    }
}
