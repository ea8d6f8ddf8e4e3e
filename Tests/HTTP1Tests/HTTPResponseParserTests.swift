import HTTP1
import Testing

/// One row of the response table: the bytes a server sent (then, with `closes`, its close) and what the parser
/// must make of them, as one line per event.
struct ResponseCase: CustomTestStringConvertible, Sendable {
    let name: String
    var method = "GET"
    let bytes: String
    var closes = false
    let events: [String]
    var testDescription: String { name }
}

private let tooLong = String(repeating: "a", count: 80)

let responseCases: [ResponseCase] = [
    // Framing (RFC 9112 §6.3).
    ResponseCase(name: "Content-Length body", bytes: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
                 events: ["200 keep-alive hello"]),
    ResponseCase(name: "Content-Length: 0 ends at the head", bytes: "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
                 events: ["200 keep-alive "]),
    ResponseCase(name: "identical repeated Content-Length is one length",
                 bytes: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\ncontent-length: 2, 2\r\n\r\nok", events: ["200 keep-alive ok"]),
    ResponseCase(name: "chunked body with extensions and a trailer",
                 bytes: "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\nwiki\r\n5 ; a = \"q\\\"x\" ; b\r\npedia\r\n0\r\nX-T: y\r\n\r\n",
                 events: ["201 keep-alive wikipedia"]),
    ResponseCase(name: "Transfer-Encoding is matched ignoring case", bytes: "HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
                 events: ["200 keep-alive ok"]),
    ResponseCase(name: "no length: the body runs to the close", bytes: "HTTP/1.1 200 OK\r\n\r\nuntil close", closes: true,
                 events: ["200 close until close"]),
    ResponseCase(name: "HTTP/1.0 without length runs to the close", bytes: "HTTP/1.0 200 OK\r\n\r\nold", closes: true,
                 events: ["200 close old"]),
    ResponseCase(name: "a response to HEAD has no body whatever Content-Length says", method: "HEAD",
                 bytes: "HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
                 events: ["200 keep-alive ", "200 keep-alive "]),
    ResponseCase(name: "a response to HEAD may announce chunked and still has no body", method: "HEAD",
                 bytes: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", events: ["200 keep-alive "]),
    ResponseCase(name: "204 has no body", bytes: "HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx",
                 events: ["204 keep-alive ", "200 keep-alive x"]),
    ResponseCase(name: "304 has no body even with a Content-Length", bytes: "HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n",
                 events: ["304 keep-alive "]),
    ResponseCase(name: "interim 100 and 103 come before the final response",
                 bytes: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
                 events: ["interim 100", "interim 103", "200 keep-alive ok"]),
    ResponseCase(name: "pipelined responses come out one at a time",
                 bytes: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nb\r\n0\r\n\r\n",
                 events: ["200 keep-alive a", "404 keep-alive b"]),
    // Keep-alive (RFC 9112 §9.3).
    ResponseCase(name: "Connection: close ends the connection", bytes: "HTTP/1.1 200 OK\r\nConnection: Upgrade, CLOSE\r\nContent-Length: 1\r\n\r\nx",
                 events: ["200 close x"]),
    ResponseCase(name: "HTTP/1.0 closes by default", bytes: "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx", events: ["200 close x"]),
    ResponseCase(name: "HTTP/1.0 keep-alive stays open", bytes: "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx",
                 events: ["200 keep-alive x"]),
    // Status line.
    ResponseCase(name: "an empty reason, with or without its space", bytes: "HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\nHTTP/1.1 202\r\nContent-Length: 0\r\n\r\n",
                 events: ["200 keep-alive ", "202 keep-alive "]),
    ResponseCase(name: "101 was never asked for", bytes: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n",
                 events: ["unsupported protocol_switch"]),
    ResponseCase(name: "HTTP/2.0 in HTTP/1 framing", bytes: "HTTP/2.0 200 OK\r\n\r\n", events: ["unsupported version_not_supported"]),
    ResponseCase(name: "lowercase version", bytes: "http/1.1 200 OK\r\n\r\n", events: ["malformed malformed_status_line"]),
    ResponseCase(name: "two-digit status", bytes: "HTTP/1.1 20 OK\r\n\r\n", events: ["malformed malformed_status_line"]),
    ResponseCase(name: "status above 599", bytes: "HTTP/1.1 600 Odd\r\n\r\n", events: ["malformed malformed_status_line"]),
    ResponseCase(name: "control byte in the reason", bytes: "HTTP/1.1 200 O\u{01}K\r\n\r\n", events: ["malformed malformed_status_line"]),
    // Conflicting or invalid framing: an error, never a guess.
    ResponseCase(name: "Content-Length with Transfer-Encoding",
                 bytes: "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", events: ["malformed length_and_chunked"]),
    ResponseCase(name: "differing Content-Lengths", bytes: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
                 events: ["malformed conflicting_content_length"]),
    ResponseCase(name: "differing Content-Length list", bytes: "HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\nab",
                 events: ["malformed conflicting_content_length"]),
    ResponseCase(name: "signed Content-Length", bytes: "HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\na", events: ["malformed invalid_content_length"]),
    ResponseCase(name: "an invalid Content-Length fails even on a 304", bytes: "HTTP/1.1 304 Not Modified\r\nContent-Length: x\r\n\r\n",
                 events: ["malformed invalid_content_length"]),
    ResponseCase(name: "Transfer-Encoding in HTTP/1.0", bytes: "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                 events: ["malformed transfer_encoding_in_http10"]),
    ResponseCase(name: "a coding other than chunked", bytes: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
                 events: ["unsupported unsupported_transfer_coding"]),
    ResponseCase(name: "a coding before chunked", bytes: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                 events: ["unsupported unsupported_transfer_coding"]),
    ResponseCase(name: "chunked twice", bytes: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
                 events: ["unsupported unsupported_transfer_coding"]),
    // Field lines: the request parser's rules.
    ResponseCase(name: "bare LF", bytes: "HTTP/1.1 200 OK\nContent-Length: 0\n\n", events: ["malformed bare_lf"]),
    ResponseCase(name: "obs-fold", bytes: "HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 0\r\n\r\n", events: ["malformed obs_fold"]),
    ResponseCase(name: "space before colon", bytes: "HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n", events: ["malformed malformed_header"]),
    ResponseCase(name: "control byte in a value", bytes: "HTTP/1.1 200 OK\r\nX-A: a\u{01}\r\nContent-Length: 0\r\n\r\n",
                 events: ["malformed invalid_header_value"]),
    // The chunked decoder the request parser uses.
    ResponseCase(name: "chunk size that is not hexadecimal", bytes: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                 events: ["malformed malformed_chunk"]),
    ResponseCase(name: "chunk size followed by a second number", bytes: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1 1\r\na\r\n0\r\n\r\n",
                 events: ["malformed malformed_chunk"]),
    ResponseCase(name: "chunk extension without a name", bytes: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;\r\na\r\n0\r\n\r\n",
                 events: ["malformed malformed_chunk"]),
    ResponseCase(name: "chunk data without CRLF", bytes: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n",
                 events: ["malformed malformed_chunk"]),
    ResponseCase(name: "bare LF in a trailer", bytes: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: y\n\r\n",
                 events: ["malformed bare_lf"]),
    // Limits (the table's parser: 64-byte status line, 256 bytes and 8 fields of header, 32-byte body).
    ResponseCase(name: "Content-Length over the body limit fails before the body", bytes: "HTTP/1.1 200 OK\r\nContent-Length: 33\r\n\r\n",
                 events: ["bodyTooLarge body_too_large"]),
    ResponseCase(name: "Content-Length at the body limit is read", bytes: "HTTP/1.1 200 OK\r\nContent-Length: 32\r\n\r\n" + String(repeating: "b", count: 32),
                 events: ["200 keep-alive " + String(repeating: "b", count: 32)]),
    ResponseCase(name: "chunks over the body limit fail at the size line",
                 bytes: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n" + String(repeating: "c", count: 16) + "\r\n11\r\n",
                 events: ["bodyTooLarge body_too_large"]),
    ResponseCase(name: "a close-delimited body over the limit fails as it arrives", bytes: "HTTP/1.1 200 OK\r\n\r\n" + String(repeating: "d", count: 33),
                 events: ["bodyTooLarge body_too_large"]),
    ResponseCase(name: "status line over the limit", bytes: "HTTP/1.1 200 \(tooLong)\r\n\r\n", events: ["headTooLarge status_line_too_long"]),
    ResponseCase(name: "an endless status line fails before its end", bytes: "HTTP/1.1 200 \(tooLong)", events: ["headTooLarge status_line_too_long"]),
    ResponseCase(name: "header section over the limit", bytes: "HTTP/1.1 200 OK\r\nX-Big: \(String(repeating: "h", count: 300))\r\n\r\n",
                 events: ["headTooLarge header_section_too_large"]),
    ResponseCase(name: "too many header fields", bytes: "HTTP/1.1 200 OK\r\n" + (0..<9).map { "X-\($0): v\r\n" }.joined() + "\r\n",
                 events: ["headTooLarge too_many_headers"]),
    ResponseCase(name: "trailers over the header limit",
                 bytes: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-Big: \(String(repeating: "t", count: 300))\r\n\r\n",
                 events: ["headTooLarge trailers_too_large"]),
    // The close in the middle of a response.
    ResponseCase(name: "closed inside a Content-Length body", bytes: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel", closes: true,
                 events: ["truncated truncated"]),
    ResponseCase(name: "closed inside a chunked body", bytes: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", closes: true,
                 events: ["truncated truncated"]),
    ResponseCase(name: "closed inside the head", bytes: "HTTP/1.1 200 OK\r\nContent-Le", closes: true, events: ["truncated truncated"]),
    ResponseCase(name: "closed before any byte", bytes: "", closes: true, events: ["truncated truncated"]),
]

@Suite("HTTP response parser without sockets")
struct HTTPResponseParserTests {
    static let limits = HTTPLimits(maxRequestLineBytes: 64, maxHeaderBytes: 256, maxHeaderCount: 8, maxBodyBytes: 32)

    /// Feeds `bytes` in pieces cut at `cuts`, keeping what the parser did not consume as a connection's buffer
    /// would, and describes every event; a failure ends the run.
    static func run(_ row: ResponseCase, cuts: [Int]) -> [String] {
        var parser = HTTPResponseParser(requestMethod: row.method, limits: limits)
        let bytes = Array(row.bytes.utf8)
        var buffer: [UInt8] = []
        var described: [String] = []
        var start = 0
        for end in cuts + [bytes.count] where end >= start {
            buffer += bytes[start..<end]
            start = end
            while true {
                let (event, consumed) = buffer.withUnsafeBytes { parser.parse($0) }
                #expect(consumed <= buffer.count)
                buffer.removeFirst(consumed)
                switch event {
                case .needMore: break
                case .interim(let response): described.append("interim \(response.status.code)"); continue
                case .response(let response): described.append(describe(response)); continue
                case .failure(let error): return described + ["\(error.kind) \(error.code)"]
                }
                break
            }
        }
        guard row.closes else { return described }
        switch parser.finish() {
        case .response(let response): return described + [describe(response)]
        case .failure(let error): return described + ["\(error.kind) \(error.code)"]
        case .needMore, .interim: return described + ["nothing at the close"]
        }
    }

    static func describe(_ response: HTTPReceivedResponse) -> String {
        "\(response.status.code) \(response.keepAlive ? "keep-alive" : "close") \(String(decoding: response.body, as: UTF8.self))"
    }

    @Test("whole responses give the expected events", arguments: responseCases)
    func whole(_ row: ResponseCase) {
        #expect(Self.run(row, cuts: []) == row.events)
    }

    @Test("split at every byte boundary, a response gives the same events", arguments: responseCases)
    func splitEverywhere(_ row: ResponseCase) {
        let count = row.bytes.utf8.count
        for cut in 0...count {
            #expect(Self.run(row, cuts: [cut]) == row.events, "split at \(cut)")
        }
    }

    @Test("fed one byte at a time, a response gives the same events", arguments: responseCases)
    func byteAtATime(_ row: ResponseCase) {
        #expect(Self.run(row, cuts: Array(0...row.bytes.utf8.count)) == row.events)
    }

    @Test("the parser consumes exactly one response, so the bytes after it stay the caller's")
    func stopsAtTheEnd() {
        var parser = HTTPResponseParser()
        let bytes = Array("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA".utf8)
        let (event, consumed) = bytes.withUnsafeBytes { parser.parse($0) }
        guard case .response(let response) = event else { Issue.record("no response: \(event)"); return }
        #expect(consumed == bytes.count - 5)
        #expect(response.status == HTTPStatus(code: 200, reason: "OK"))
        #expect(response.version == .http1_1)
        #expect(response.headers["content-length"] == "2")
    }

    @Test("after a failure the parser consumes nothing more")
    func staysFailed() {
        var parser = HTTPResponseParser()
        let bad = Array("HTTP/1.1 200 OK\nX: y\n\n".utf8)
        guard case .failure = bad.withUnsafeBytes({ parser.parse($0).event }) else { Issue.record("accepted a bare LF"); return }
        let good = Array("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".utf8)
        let (event, consumed) = good.withUnsafeBytes { parser.parse($0) }
        guard case .needMore = event else { Issue.record("parsed after a failure: \(event)"); return }
        #expect(consumed == 0)
    }

    @Test("the body limit and the request method can change between responses on one connection")
    func perResponseSettings() {
        var parser = HTTPResponseParser(limits: HTTPLimits(maxBodyBytes: 4))
        var bytes = Array("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcHTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n".utf8)
        let (first, used) = bytes.withUnsafeBytes { parser.parse($0) }
        guard case .response = first else { Issue.record("first: \(first)"); return }
        bytes.removeFirst(used)
        parser.requestMethod = "HEAD"
        guard case .response(let head) = bytes.withUnsafeBytes({ parser.parse($0).event }) else { Issue.record("HEAD answer refused"); return }
        #expect(head.body.isEmpty)
        var again = HTTPResponseParser(limits: HTTPLimits(maxBodyBytes: 4))
        guard case .failure(let error) = bytes.withUnsafeBytes({ again.parse($0).event }) else { Issue.record("over the limit accepted"); return }
        #expect(error.kind == .bodyTooLarge)
    }
}
