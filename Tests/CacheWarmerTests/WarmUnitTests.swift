@testable import CacheWarmer
import DigitalRiverAPI
import Foundation
import HTTPTestClient
import JSON
import Sockets
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("warm-up building blocks")
struct WarmUnitTests {
    @Test("checkpoint values round-trip and stay readable JSON")
    func checkpointRoundTrip() throws {
        let list = WarmCheckpoint(state: .running, source: .list, since: "2025-01-01T00:00:00Z", after: "cust-\"42\"", pages: 7, customers: 700)
        #expect(WarmCheckpoint(parsing: list.encoded) == list)
        #expect(list.encoded.hasPrefix(#"{"v":1,"state":"running","source":"list""#))
        let ids = WarmCheckpoint(state: .complete, source: .ids, position: 250, pages: 3, customers: 0)
        #expect(WarmCheckpoint(parsing: ids.encoded) == ids)
        #expect(WarmCheckpoint(parsing: "cust-000123") == nil)
        #expect(WarmCheckpoint(parsing: #"{"v":2,"state":"running","source":"list"}"#) == nil)
        #expect(WarmCheckpoint.listName(sinceArgument: nil) == "warm:list:all")
        #expect(WarmCheckpoint.listName(sinceArgument: "26h") == "warm:list:since=26h")
        #expect(WarmCheckpoint.idsName(["a", "b"]) != WarmCheckpoint.idsName(["ab"]))
        #expect(WarmCheckpoint.idsName(["a", "b"]).count == "warm:ids:".count + 16)
    }

    @Test("id lists: trimmed, comments and blanks skipped, duplicates counted, overlong lines refused")
    func idList() {
        let text = "# header\n\n  a-1 \r\nb-2\n\t#indented comment\na-1\n" + String(repeating: "x", count: 300) + "\nc-3"
        let list = IDList(parsing: text)
        #expect(list.ids == ["a-1", "b-2", "c-3"])
        #expect(list.duplicates == 1)
        #expect(list.invalidLines == [7])
    }

    @Test("--since accepts ISO-8601 or a duration back from now")
    func since() {
        let now: Int64 = 1_700_000_000_000_000
        #expect(SinceTime.resolve("2025-01-01T00:00:00Z", nowMicroseconds: now) == "2025-01-01T00:00:00Z")
        #expect(SinceTime.resolve("2h", nowMicroseconds: now) == "2023-11-14T20:13:20Z")
        #expect(SinceTime.resolve("90s", nowMicroseconds: now) == "2023-11-14T22:11:50Z")
        #expect(SinceTime.resolve("7d", nowMicroseconds: now) != nil)
        for bad in ["", "h", "-2h", "2w", "yesterday", "2025-01-01", "99999d"] {
            #expect(SinceTime.resolve(bad, nowMicroseconds: now) == nil, "\(bad)")
        }
    }

    @Test("the pacer spaces requests at the configured rate after its burst")
    func pacer() async {
        let clock = Mutex(0.0)
        let slept = Mutex<[Double]>([])
        let pacer = RequestPacer(requestsPerSecond: 10, burst: 2,
                                 sleep: { seconds in
                                     slept.withLock { $0.append(seconds) }
                                     clock.withLock { $0 += seconds }
                                 },
                                 now: { clock.withLock { $0 } })
        for _ in 0..<5 { await pacer.acquire() }
        let waits = slept.withLock { $0 }
        #expect(waits.count == 3)
        for wait in waits { #expect(abs(wait - 0.1) < 1e-9) }
        await pacer.acquire(5)
        #expect(abs((slept.withLock { $0.last } ?? 0) - 0.5) < 1e-9)
        let unlimited = RequestPacer(requestsPerSecond: 0, sleep: { _ in Issue.record("slept") })
        for _ in 0..<100 { await unlimited.acquire() }
    }

    @Test("RPC URLs: /rpc is appended to a bare origin; credentials and queries are refused")
    func rpcURL() throws {
        #expect(try ServiceClient.normalized("http://127.0.0.1:8081") == "http://127.0.0.1:8081/rpc")
        #expect(try ServiceClient.normalized("http://cache.internal:8081/") == "http://cache.internal:8081/rpc")
        #expect(try ServiceClient.normalized("https://cache.internal/custom/rpc") == "https://cache.internal/custom/rpc")
        for bad in ["ftp://x/rpc", "http://user:pw@x/rpc", "http://x/rpc?a=1", "not a url", "http:///rpc"] {
            #expect(throws: ServiceError.self, "\(bad)") { try ServiceClient.normalized(bad) }
        }
    }

    @Test("a cache.load body splices customers and escapes the checkpoint")
    func loadBody() throws {
        let body = ServiceClient.loadBody([Array(#"{"id":"a"}"#.utf8), Array(#"{"id":"b"}"#.utf8)],
                                          checkpoint: (name: "warm:list:all", value: #"{"after":"b"}"#), id: 7)
        let value = try JSONValue.parse(body)
        #expect(value["method"]?.stringValue == "cache.load")
        #expect(value["params"]?["customers"]?.arrayValue?.count == 2)
        #expect(value["params"]?["checkpoint"]?["value"]?.stringValue == #"{"after":"b"}"#)
        #expect(value["id"]?.intValue == 7)
        let empty = try JSONValue.parse(ServiceClient.loadBody([], checkpoint: nil, id: 1))
        #expect(empty["params"]?["customers"]?.arrayValue?.isEmpty == true)
        #expect(empty["params"]?["checkpoint"] == nil)
    }

    @Test("the progress line shows counts, rate, time, errors, and an ETA when the total is known")
    func progressLine() {
        var counts = WarmCounts()
        counts.total = 10_000
        counts.found = 2_500
        counts.pages = 25
        let line = WarmProgress.line(counts, elapsed: 5)
        #expect(line == "warm: 2,500 of 10,000 customers · 25 batches · 500/s · 0:05 · errors 0 · ETA 0:15")
        var list = WarmCounts()
        list.loaded = 1_234_567
        list.pages = 12_346
        #expect(WarmProgress.line(list, elapsed: 3_725) == "warm: 1,234,567 customers · 12,346 pages · 331/s · 1:02:05 · errors 0")
    }

    @Test("exit codes: 0 completed, 1 failed, 2 completed with errors, 3 stopped")
    func exitCodes() {
        let outcomes: [(WarmReport.Outcome, Int32)] = [(.completed, 0), (.failed, 1), (.completedWithErrors, 2), (.stopped, 3)]
        for (outcome, code) in outcomes {
            #expect(WarmReport(outcome: outcome, counts: WarmCounts(), elapsedSeconds: 1, checkpointName: "n", source: "list").exitCode == code)
        }
    }
}

/// A one-connection raw HTTP server on a thread, answering each request with the next canned response.
private final class CannedServer: @unchecked Sendable {
    let port: UInt16
    private let listener: TCPSocket
    let seen = RequestLog()
    var requests: [String] { seen.heads.withLock { $0 } }
    /// Connections accepted so far: one per connection the client opened.
    var connections: Int { seen.connections.withLock { $0 } }

    /// The request heads received and the connections accepted, shared with the server thread.
    final class RequestLog: Sendable {
        let heads = Mutex<[String]>([])
        let connections = Mutex(0)
    }

    init(responses: [String], closeAfterEach: Bool = false, readBody: Bool = true) throws {
        // A blocking listener: TCPSocket.listen makes a non-blocking socket, so accept is polled.
        listener = try TCPSocket.listen(on: try SocketAddress(parsing: "127.0.0.1:0"), backlog: 8, reusePort: false)
        port = try listener.localAddress().port
        let descriptor = listener.descriptor
        let requests = seen
        Thread.detachNewThread {
            var remaining = responses[...]
            while !remaining.isEmpty {
                var pollDescriptor = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
                guard poll(&pollDescriptor, 1, 5_000) > 0 else { return }
                let client = accept(descriptor, nil, nil)
                guard client >= 0 else { return }
                requests.connections.withLock { $0 += 1 }
                let flags = fcntl(client, F_GETFL)
                _ = fcntl(client, F_SETFL, flags & ~O_NONBLOCK)
                var buffer = [UInt8]()
                var chunk = [UInt8](repeating: 0, count: 65_536)
                connection: while let response = remaining.first {
                    // Read one request head (and its body when told to).
                    var headEnd: Int?
                    while headEnd == nil {
                        let count = chunk.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
                        if count <= 0 { break connection }
                        buffer.append(contentsOf: chunk[0..<count])
                        headEnd = Self.endOfHead(buffer)
                    }
                    guard let end = headEnd else { break }
                    let head = String(decoding: buffer[0..<end], as: UTF8.self)
                    requests.heads.withLock { $0.append(head) }
                    let length = head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
                        .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
                    if readBody {
                        while buffer.count < end + length {
                            let count = chunk.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
                            if count <= 0 { break connection }
                            buffer.append(contentsOf: chunk[0..<count])
                        }
                        buffer.removeFirst(end + length)
                    } else {
                        buffer.removeAll()
                    }
                    remaining = remaining.dropFirst()
                    let bytes = Array(response.utf8)
                    _ = bytes.withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                    if closeAfterEach { break }
                }
                close(client)
            }
            close(descriptor)
        }
    }
}

extension CannedServer {
    /// The index just past the first blank line (`\r\n\r\n`), if any.
    static func endOfHead(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for index in 0...(bytes.count - 4) where bytes[index] == 13 && bytes[index + 1] == 10 && bytes[index + 2] == 13 && bytes[index + 3] == 10 {
            return index + 4
        }
        return nil
    }
}

@Suite("plain-http keep-alive transport")
struct PlainHTTPTransportTests {
    @Test("reads Content-Length and chunked bodies over one kept-alive connection, and a close-delimited one at the end")
    func framing() async throws {
        let server = try CannedServer(responses: [
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-One: 1\r\n\r\nhello",
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\nwiki\r\n5\r\npedia\r\n0\r\nTrailer: x\r\n\r\n",
            "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n",
            "HTTP/1.0 200 OK\r\n\r\nuntil close",
        ])
        let transport = PlainHTTPTransport()
        let base = "http://127.0.0.1:\(server.port)"
        let first = try await transport.send(TransportRequest(method: "GET", url: base + "/a?x=1", headers: [("Accept", "application/json")], body: nil, timeoutSeconds: 5))
        #expect(first.status == 200 && first.body == Array("hello".utf8) && first.header("x-one") == "1")
        let second = try await transport.send(TransportRequest(method: "POST", url: base + "/b", headers: [], body: Array("{}".utf8), timeoutSeconds: 5))
        #expect(second.status == 201 && String(decoding: second.body, as: UTF8.self) == "wikipedia")
        let third = try await transport.send(TransportRequest(method: "GET", url: base + "/c", headers: [], body: nil, timeoutSeconds: 5))
        #expect(third.status == 429 && third.header("Retry-After") == "1")
        let fourth = try await transport.send(TransportRequest(method: "GET", url: base + "/d", headers: [], body: nil, timeoutSeconds: 5))
        #expect(fourth.status == 200 && String(decoding: fourth.body, as: UTF8.self) == "until close")
        let heads = server.requests
        #expect(heads.count == 4)
        #expect(server.connections == 1, "all four on one connection")
        #expect(heads[0].hasPrefix("GET /a?x=1 HTTP/1.1\r\nHost: 127.0.0.1:\(server.port)\r\n"))
        #expect(heads[1].contains("Content-Length: 2"))
    }

    @Test("a connection refused is connectionFailed; a silent server times out on our deadline")
    func failures() async throws {
        let transport = PlainHTTPTransport()
        do {
            _ = try await transport.send(TransportRequest(method: "GET", url: "http://127.0.0.1:1/", headers: [], body: nil, timeoutSeconds: 2))
            Issue.record("expected a refused connection")
        } catch {
            #expect(error.kind == .connectionFailed)
        }
        // The kernel completes the handshake on a listener that never accepts, so the request goes out and nothing
        // ever answers.
        let silent = try TCPSocket.listen(on: try SocketAddress(parsing: "127.0.0.1:0"), backlog: 8, reusePort: false)
        defer { silent.close() }
        let port = try silent.localAddress().port
        let started = Date()
        do {
            _ = try await transport.send(TransportRequest(method: "GET", url: "http://127.0.0.1:\(port)/", headers: [], body: nil, timeoutSeconds: 0.3))
            Issue.record("expected a timeout")
        } catch {
            #expect(error.kind == .timedOut)
        }
        #expect(Date().timeIntervalSince(started) < 3)
    }

    @Test("a body over the limit is responseTooLarge, announced or chunked, and the connection is dropped at once")
    func bodyLimit() async throws {
        for framing in [OversizedBodyServer.Framing.contentLength, .chunked] {
            let server = try OversizedBodyServer(totalBytes: 64 << 20, framing: framing)
            defer { server.stop() }
            let request = TransportRequest(method: "GET", url: server.baseURL + "/x", headers: [], body: nil, timeoutSeconds: 10,
                                           maxResponseBytes: 1 << 20)
            do {
                _ = try await PlainHTTPTransport().send(request)
                Issue.record("an oversized \(framing) body was accepted")
            } catch {
                #expect(error.kind == .responseTooLarge, "\(framing): \(error)")
            }
            for _ in 0..<400 where server.bytesSent.isEmpty { try await Task.sleep(nanoseconds: 50_000_000) }
            #expect(server.closedEarly == 1, "\(framing)")
            #expect((server.bytesSent.first ?? .max) < 64 << 20, "\(framing)")
        }
        let within = try OversizedBodyServer(totalBytes: 3 << 20, framing: .chunked)
        defer { within.stop() }
        let response = try await PlainHTTPTransport().send(TransportRequest(method: "GET", url: within.baseURL + "/x", headers: [], body: nil,
                                                                            timeoutSeconds: 10, maxResponseBytes: 4 << 20))
        #expect(response.status == 200 && response.body.count == 3 << 20)
    }

    @Test("conflicting framing is refused as .other and that connection is never reused; Connection: close is not reused either")
    func refusedFraming() async throws {
        let server = try CannedServer(responses: [
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
            "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nok",
            "HTTP/1.1 204 No Content\r\n\r\n",
        ])
        let transport = PlainHTTPTransport()
        let url = "http://127.0.0.1:\(server.port)/"
        for expected in [TransportError.Kind.other, nil, .other, nil] {
            do {
                let response = try await transport.send(TransportRequest(method: "GET", url: url, headers: [], body: nil, timeoutSeconds: 5))
                #expect(expected == nil && (response.status == 200 || response.status == 204), "\(response.status)")
            } catch {
                #expect(error.kind == expected, "\(error)")
            }
        }
        #expect(server.requests.count == 4)
        #expect(server.connections == 4, "a fresh connection after each refused or closing response")
    }

    @Test("a header value that would inject a field is refused before anything is sent")
    func headerInjection() async throws {
        let server = try CannedServer(responses: ["HTTP/1.1 204 No Content\r\n\r\n"])
        let transport = PlainHTTPTransport()
        let url = "http://127.0.0.1:\(server.port)/"
        do {
            _ = try await transport.send(TransportRequest(method: "GET", url: url, headers: [("X-Id", "a\r\nX-Evil: 1")], body: nil, timeoutSeconds: 5))
            Issue.record("sent a value with CRLF")
        } catch {
            #expect(error.kind == .other && error.message.contains("X-Id") && !error.message.contains("Evil"), "\(error)")
        }
        let response = try await transport.send(TransportRequest(method: "GET", url: url, headers: [("X-Id", "a")], body: nil, timeoutSeconds: 5))
        #expect(response.status == 204)
        #expect(server.requests.count == 1 && server.requests[0].contains("X-Id: a\r\n"))
    }

    @Test("https is left to URLSession")
    func onlyPlainHTTP() {
        #expect(PlainHTTPTransport.supports("http://127.0.0.1:8081/rpc"))
        #expect(!PlainHTTPTransport.supports("https://api.digitalriver.com"))
    }
}
