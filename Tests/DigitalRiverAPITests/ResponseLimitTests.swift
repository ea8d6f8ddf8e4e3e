@testable import DigitalRiverAPI
import Foundation
import HTTPTestClient
import Testing

@Suite("Upstream bodies are bounded while they arrive", .serialized)
struct ResponseLimitTests {
    /// Large against what libcurl reads before corelibs' cancel takes effect (measured 60–110 MB on loopback).
    static let hugeBody = 1 << 30

    func retrieve(from server: OversizedBodyServer) async -> DigitalRiverError? {
        let client = Harness.client(baseURL: server.baseURL, sleep: SleepRecorder(), logs: LogRecorder())
        return await drError { try await client.retrieveCustomer(id: "cus_1") }
    }

    /// Waits (bounded) for the server to record the connection: it notices the hang-up on its next write.
    func sentBytes(_ server: OversizedBodyServer) async throws -> Int {
        for _ in 0..<200 where server.bytesSent.isEmpty { try await Task.sleep(nanoseconds: 50_000_000) }
        return try #require(server.bytesSent.first)
    }

    @Test("a 1 GiB body, announced or chunked, is refused as an invalid response and the client hangs up early", arguments: [true, false])
    func announcedLength(_ useChunked: Bool) async throws {
        let server = try OversizedBodyServer(totalBytes: Self.hugeBody, framing: useChunked ? .chunked : .contentLength)
        defer { server.stop() }
        let error = try #require(await retrieve(from: server))
        #expect(error.kind == .invalidResponse)
        #expect(error.message.contains("over \(16 << 20) bytes"), "\(error.message)")
        #expect(error.attempts == 1)
        let sent = try await sentBytes(server)
        #expect(server.closedEarly == 1)
        // The client hung up long before the end: the body was never read whole.
        #expect(sent < Self.hugeBody / 2, "server wrote \(sent) bytes")
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
        var within = request
        within.maxResponseBytes = 4 << 20
        let response = try await transport.send(within)
        #expect(response.status == 200)
        #expect(response.body.count == 3 << 20)
    }
}
