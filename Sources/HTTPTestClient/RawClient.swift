import HTTP1
import Sockets

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

/// A blocking raw-bytes client, so tests control exactly what goes on the wire and how it is split. Responses are
/// read with HTTP1's response parser, so a server answer that is not valid HTTP/1.1 framing fails the test too.
public final class RawClient {
    /// Large enough for every body a test reads (a 1 MB echo, metrics pages); the head limits are the parser's.
    static let responseLimits = HTTPLimits(maxBodyBytes: 256 << 20)

    public let socket: TCPSocket
    private var buffer: [UInt8] = []
    private var scratch = [UInt8](repeating: 0, count: 65_536)

    public init(_ address: SocketAddress, receiveTimeoutMilliseconds: Int = 5_000) throws {
        socket = try TCPSocket.connect(to: address)
        do {
            try socket.setReceiveTimeout(milliseconds: receiveTimeoutMilliseconds)
        } catch {
            socket.close()
            throw error
        }
    }

    deinit { socket.close() }

    public func send(_ text: String) { send(Array(text.utf8)) }

    /// Writes all of `bytes`; a peer that has closed is not an error here (tests then see it on the read side).
    public func send(_ bytes: [UInt8]) {
        try? socket.writeAll(bytes)
    }

    /// Reads more bytes; false on EOF, error or timeout.
    @discardableResult
    public func fill() -> Bool {
        guard case .processed(let count)? = try? socket.read(into: &scratch), count > 0 else { return false }
        buffer.append(contentsOf: scratch[0..<count])
        return true
    }

    /// Reads one response, an interim (1xx) one included; nil when the connection ends or times out first, or the
    /// answer is not valid HTTP/1.1. `head` says the request was HEAD (no body follows).
    public func readResponse(head: Bool = false) -> WireResponse? {
        var parser = HTTPResponseParser(requestMethod: head ? "HEAD" : "GET", limits: Self.responseLimits)
        while true {
            if !buffer.isEmpty {
                let (event, consumed) = buffer.withUnsafeBytes { parser.parse($0) }
                buffer.removeFirst(consumed)
                switch event {
                case .needMore: break
                case .interim(let response), .response(let response): return Self.wireResponse(response)
                case .failure: return nil
                }
            }
            if !fill() {
                guard case .response(let response) = parser.finish() else { return nil }
                return Self.wireResponse(response)
            }
        }
    }

    /// True when the server closed the connection (EOF) within the receive timeout.
    public func isClosedByPeer() -> Bool {
        var byte: [UInt8] = [0]
        do {
            if case .processed(0) = try socket.read(into: &byte) { return true }
            return false
        } catch {
            return true
        }
    }

    private static func wireResponse(_ response: HTTPReceivedResponse) -> WireResponse {
        WireResponse(status: response.status.code, headers: response.headers.map { ($0.name, $0.value) }, body: response.body)
    }
}

extension RawClient {
    /// Sends one request with a body (HTTP1's request encoder: `Host: test`, `Content-Length`) and reads its
    /// response; nil also when the request cannot be encoded (a field value with CR or LF: use `send` for raw bytes).
    public func exchange(method: String, path: String, headers: [(String, String)] = [], body: [UInt8] = []) -> WireResponse? {
        guard let request = try? HTTPRequestEncoder.encode(method: method, target: path, host: "test", headers: headers, body: body) else {
            return nil
        }
        send(request)
        return readResponse(head: method == "HEAD")
    }
}
