@testable import DigitalRiverAPI
import Foundation
import HTTPTestClient
import Testing

@Suite("Upstream bodies are bounded while they arrive", .serialized)
struct ResponseLimitTests {
    /// Large against what libcurl reads (and discards) before corelibs' cancel takes effect: 60–130 MB on this
    /// machine's loopback, but on a loaded machine the cancel came after a whole GiB had been read. 8 GiB keeps the
    /// hang-up observable; the server streams it in 64 KiB pieces, so the size costs nothing when the client hangs up.
    static let hugeBody = 1 << 33

    func retrieve(from server: OversizedBodyServer) async -> DigitalRiverError? {
        let client = Harness.client(baseURL: server.baseURL, sleep: SleepRecorder(), logs: LogRecorder())
        return await drError { try await client.retrieveCustomer(id: "cus_1") }
    }

    /// Waits (bounded) for the server to record the connection: it notices the hang-up on its next write.
    func sentBytes(_ server: OversizedBodyServer) async throws -> Int {
        for _ in 0..<400 where server.bytesSent.isEmpty { try await Task.sleep(nanoseconds: 50_000_000) }
        return try #require(server.bytesSent.first)
    }

    @Test("an 8 GiB Content-Length is refused as an invalid response, and the client hangs up long before the end")
    func announcedLength() async throws {
        let server = try OversizedBodyServer(totalBytes: Self.hugeBody, framing: .contentLength)
        defer { server.stop() }
        let error = try #require(await retrieve(from: server))
        #expect(error.kind == .invalidResponse)
        #expect(error.message.contains("over \(16 << 20) bytes"), "\(error.message)")
        #expect(error.attempts == 1)
        let sent = try await sentBytes(server)
        #expect(server.closedEarly == 1)
        #expect(sent < Self.hugeBody, "server wrote \(sent) bytes")
    }

    @Test("a chunked body without a length is refused as soon as it passes the limit, not after it ends")
    func unannouncedLength() async throws {
        // corelibs' cancel can wait behind libcurl's read loop while the peer floods, so libcurl may read (and
        // drop) the rest; what matters is that the answer comes at the limit, with nothing kept.
        let server = try OversizedBodyServer(totalBytes: 256 << 20, framing: .chunked)
        defer { server.stop() }
        let error = try #require(await retrieve(from: server))
        #expect(error.kind == .invalidResponse)
        #expect(error.message.contains("over \(16 << 20) bytes"), "\(error.message)")
        #expect(error.attempts == 1)
    }

    @Test("the transport alone throws responseTooLarge, and a body within the limit still arrives whole")
    func transportLimit() async throws {
        let server = try OversizedBodyServer(totalBytes: 3 << 20, framing: .chunked)
        defer { server.stop() }
        let transport = URLSessionTransport()
        let request = TransportRequest(method: "GET", url: server.baseURL + "/x", headers: [], body: nil, timeoutSeconds: 20,
                                       maxResponseBytes: 1 << 20)
        do {
            _ = try await transport.send(request)
            Issue.record("an oversized body was accepted")
        } catch {
            #expect(error.kind == .responseTooLarge)
        }
        let fresh = try OversizedBodyServer(totalBytes: 3 << 20, framing: .chunked)
        defer { fresh.stop() }
        let within = TransportRequest(method: "GET", url: fresh.baseURL + "/x", headers: [], body: nil, timeoutSeconds: 20,
                                      maxResponseBytes: 4 << 20)
        let response = try await URLSessionTransport().send(within)
        #expect(response.status == 200)
        #expect(response.body.count == 3 << 20)
    }
}
