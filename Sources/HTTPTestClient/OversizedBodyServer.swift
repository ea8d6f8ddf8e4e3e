import Foundation
import Sockets
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A hostile upstream for tests: answers every request with `200` and a body of `totalBytes`, announced by
/// `Content-Length` or sent chunked without one, written in 64 KiB pieces until done or until the client hangs up.
/// It counts what it managed to send, so a test can prove the client stopped reading early instead of
/// swallowing the whole body.
public final class OversizedBodyServer: Sendable {
    /// How the body's size is (or is not) announced.
    public enum Framing: Sendable {
        case contentLength
        case chunked
    }

    public let address: SocketAddress
    public let totalBytes: Int
    private let listener: Int32
    private let state = Mutex<(sent: [Int], closedEarly: Int)>(([], 0))
    private let stopped = Atomic<Bool>(false)

    public var baseURL: String { "http://\(address)" }
    /// Body bytes written per connection, in accept order.
    public var bytesSent: [Int] { state.withLock { $0.sent } }
    /// Connections whose client hung up before the whole body was written.
    public var closedEarly: Int { state.withLock { $0.closedEarly } }

    public init(totalBytes: Int, framing: Framing) throws {
        self.totalBytes = totalBytes
        let socket = try TCPSocket.listen(on: try SocketAddress(parsing: "127.0.0.1:0"), backlog: 16, reusePort: false)
        listener = socket.descriptor
        address = try socket.localAddress()
        // The listener may be non-blocking; this server is a plain thread, so make it blocking.
        _ = fcntl(listener, F_SETFL, fcntl(listener, F_GETFL) & ~O_NONBLOCK)
        let worker = Thread { [self] in
            while true {
                let client = Glibc.accept(listener, nil, nil)
                if client < 0 { return }
                _ = fcntl(client, F_SETFL, fcntl(client, F_GETFL) & ~O_NONBLOCK)
                serve(client, framing: framing)
                Glibc.close(client)
            }
        }
        worker.start()
    }

    /// Stops accepting; a connection being served ends when its client hangs up.
    public func stop() {
        // Once only: a second close could hit a descriptor number some other socket has reused by then.
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        Glibc.shutdown(listener, Int32(SHUT_RDWR))
        Glibc.close(listener)
    }

    deinit { stop() }

    private func serve(_ client: Int32, framing: Framing) {
        var head: [UInt8] = []
        var byte: UInt8 = 0
        while !head.suffix(4).elementsEqual("\r\n\r\n".utf8) {
            guard recv(client, &byte, 1, 0) == 1 else { return }
            head.append(byte)
        }
        let framingHeader = framing == .contentLength ? "Content-Length: \(totalBytes)" : "Transfer-Encoding: chunked"
        guard send(all: Array("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\(framingHeader)\r\n\r\n".utf8), to: client) else { return }
        let piece = [UInt8](repeating: UInt8(ascii: " "), count: 64 << 10)
        var sent = 0
        var complete = true
        while sent < totalBytes {
            let count = min(piece.count, totalBytes - sent)
            let bytes = framing == .chunked ? Array("\(String(count, radix: 16))\r\n".utf8) + piece[0..<count] + Array("\r\n".utf8)
                                            : Array(piece[0..<count])
            guard send(all: bytes, to: client) else {
                complete = false
                break
            }
            sent += count
        }
        if complete, framing == .chunked { _ = send(all: Array("0\r\n\r\n".utf8), to: client) }
        state.withLock {
            $0.sent.append(sent)
            if !complete { $0.closedEarly += 1 }
        }
    }

    private func send(all bytes: [UInt8], to client: Int32) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if written <= 0 { return false }
            offset += written
        }
        return true
    }
}
