import Foundation
import HTTP1
import Logging
import Sockets
#if canImport(Glibc)
import Glibc
#endif

/// A response as a test sees it on the wire.
struct WireResponse {
    var status: Int
    var headers: [(String, String)]
    var body: [UInt8]

    func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }
    var bodyText: String { String(decoding: body, as: UTF8.self) }
}

/// A blocking raw-bytes client, so tests control exactly what goes on the wire and how it is split.
final class RawClient {
    let socket: TCPSocket
    private var buffer: [UInt8] = []

    init(_ address: SocketAddress, receiveTimeoutMilliseconds: Int = 5_000) throws {
        socket = try TCPSocket.connect(to: address)
        socket.setReceiveTimeout(milliseconds: receiveTimeoutMilliseconds)
    }

    deinit { socket.close() }

    func send(_ text: String) { send(Array(text.utf8)) }

    func send(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.send(socket.descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if written <= 0 { return }
            offset += written
        }
    }

    /// Reads more bytes; false on EOF, error or timeout.
    @discardableResult
    func fill() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65_536)
        let count = chunk.withUnsafeMutableBytes { Glibc.recv(socket.descriptor, $0.baseAddress, $0.count, 0) }
        if count <= 0 { return false }
        buffer.append(contentsOf: chunk[0..<count])
        return true
    }

    /// Reads one response (Content-Length framed, or to EOF without one). `head` skips the body for HEAD requests.
    func readResponse(head: Bool = false) -> WireResponse? {
        while true {
            if let end = findHeadEnd() {
                let headText = String(decoding: buffer[0..<end], as: UTF8.self)
                var lines = headText.components(separatedBy: "\r\n")
                let statusLine = lines.removeFirst()
                let parts = statusLine.split(separator: " ")
                guard parts.count >= 2, let status = Int(parts[1]) else { return nil }
                var headers: [(String, String)] = []
                for line in lines where !line.isEmpty {
                    if let colon = line.firstIndex(of: ":") {
                        headers.append((String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
                    }
                }
                let bodyStart = end + 4
                let length = head || status < 200 || status == 204 ? 0
                    : Int(headers.first { $0.0.lowercased() == "content-length" }?.1 ?? "") ?? -1
                if length >= 0 {
                    while buffer.count < bodyStart + length { if !fill() { return nil } }
                    let body = Array(buffer[bodyStart..<(bodyStart + length)])
                    buffer.removeFirst(bodyStart + length)
                    return WireResponse(status: status, headers: headers, body: body)
                }
                while fill() {}
                let body = Array(buffer[bodyStart...])
                buffer.removeAll()
                return WireResponse(status: status, headers: headers, body: body)
            }
            if !fill() { return nil }
        }
    }

    /// True when the server closed the connection (EOF) within the receive timeout.
    func isClosedByPeer() -> Bool {
        var byte: UInt8 = 0
        let count = Glibc.recv(socket.descriptor, &byte, 1, 0)
        return count == 0 || (count < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
    }

    private func findHeadEnd() -> Int? {
        guard buffer.count >= 4 else { return nil }
        for index in 0...(buffer.count - 4)
        where buffer[index] == 13 && buffer[index + 1] == 10 && buffer[index + 2] == 13 && buffer[index + 3] == 10 {
            return index
        }
        return nil
    }
}

/// A live server on 127.0.0.1 with a port picked by the kernel and routes that exercise the server's rules.
final class TestServer {
    let server: HTTPServer
    let address: SocketAddress

    init(limits: HTTPLimits = HTTPLimits(), timeouts: HTTPTimeouts = HTTPTimeouts(), maxConnections: Int = 4096,
         eventLoops: Int = 2, extraRoutes: (inout HTTPRouter) -> Void = { _ in }) throws {
        var router = HTTPRouter()
        router.add("GET", "/hello", .inline { _ in .json(.ok, Array(#"{"hello":"world"}"#.utf8)) })
        router.add("POST", "/echo", .inline { request in
            HTTPResponse(status: .ok, headers: HTTPHeaders([("Content-Type", "application/octet-stream")]), body: request.body)
        })
        router.add("POST", "/slow", .async { request in
            try? await Task.sleep(for: .milliseconds(Int(String(decoding: request.body, as: UTF8.self)) ?? 300))
            return .json(.ok, Array(#"{"slow":true}"#.utf8))
        })
        extraRoutes(&router)
        var configuration = HTTPServerConfiguration(address: try SocketAddress(parsing: "127.0.0.1:0"), name: "test",
                                                    eventLoopCount: eventLoops, limits: limits, timeouts: timeouts)
        configuration.maxConnections = maxConnections
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        server = HTTPServer(configuration: configuration, router: router, logger: logger)
        address = try server.start()
    }

    func stop() {
        server.shutdown()
        server.waitUntilStopped()
    }

    deinit { stop() }
}
