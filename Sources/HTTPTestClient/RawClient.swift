import Foundation
import Sockets
#if canImport(Glibc)
import Glibc
#endif

/// A response as a test sees it on the wire.
public struct WireResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]

    public func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }
    public var bodyText: String { String(decoding: body, as: UTF8.self) }
}

/// A blocking raw-bytes client, so tests control exactly what goes on the wire and how it is split.
public final class RawClient {
    public let socket: TCPSocket
    private var buffer: [UInt8] = []

    public init(_ address: SocketAddress, receiveTimeoutMilliseconds: Int = 5_000) throws {
        socket = try TCPSocket.connect(to: address)
        socket.setReceiveTimeout(milliseconds: receiveTimeoutMilliseconds)
    }

    deinit { socket.close() }

    public func send(_ text: String) { send(Array(text.utf8)) }

    public func send(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.send(socket.descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if written <= 0 { return }
            offset += written
        }
    }

    /// Reads more bytes; false on EOF, error or timeout.
    @discardableResult
    public func fill() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65_536)
        let count = chunk.withUnsafeMutableBytes { Glibc.recv(socket.descriptor, $0.baseAddress, $0.count, 0) }
        if count <= 0 { return false }
        buffer.append(contentsOf: chunk[0..<count])
        return true
    }

    /// Reads one response (Content-Length framed, or to EOF without one). `head` skips the body for HEAD requests.
    public func readResponse(head: Bool = false) -> WireResponse? {
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
    public func isClosedByPeer() -> Bool {
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


extension RawClient {
    /// Sends one request with a body and reads its response.
    public func exchange(method: String, path: String, headers: [(String, String)] = [], body: [UInt8] = []) -> WireResponse? {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: test\r\nContent-Length: \(body.count)\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        send(Array((head + "\r\n").utf8) + body)
        return readResponse(head: method == "HEAD")
    }
}
