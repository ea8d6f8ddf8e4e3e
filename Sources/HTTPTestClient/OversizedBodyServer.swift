import Foundation
import HTTP1
import Sockets
import Synchronization

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
    /// Used by the accept thread and, once, by `stop()` (shutdown wakes the blocked accept, then close): syscalls
    /// on one descriptor, safe from two threads.
    nonisolated(unsafe) private let listener: TCPSocket
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
        do {
            // Listeners are made for event loops (non-blocking); this server is a plain thread, so it blocks.
            try socket.setBlocking(true)
            address = try socket.localAddress()
        } catch {
            socket.close()
            throw error
        }
        listener = socket
        let worker = Thread { [self] in
            while true {
                guard case .processed(let (client, _))? = try? listener.accept() else { return }
                if (try? client.setBlocking(true)) != nil { serve(client, framing: framing) }
                client.close()
            }
        }
        worker.start()
    }

    /// Stops accepting; a connection being served ends when its client hangs up.
    public func stop() {
        // Once only: a second close could hit a descriptor number some other socket has reused by then.
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        listener.shutdown()
        listener.close()
    }

    deinit { stop() }

    private func serve(_ client: TCPSocket, framing: Framing) {
        // Only the request's end matters (HTTP1's parser finds it); what it asked for does not.
        var parser = HTTPRequestParser()
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        reading: while true {
            guard case .processed(let count)? = try? client.read(into: &chunk), count > 0 else { return }
            received.append(contentsOf: chunk[0..<count])
            let (event, consumed) = received.withUnsafeBytes { parser.parse($0) }
            received.removeFirst(consumed)
            switch event {
            case .request: break reading
            case .needMore, .expectsContinue: continue
            case .failure: return
            }
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

    private func send(all bytes: [UInt8], to client: TCPSocket) -> Bool {
        (try? client.writeAll(bytes)) != nil
    }
}
