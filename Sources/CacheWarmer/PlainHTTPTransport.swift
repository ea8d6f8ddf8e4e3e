import DigitalRiverAPI
import Foundation
import HTTP1
import Sockets
import Synchronization
import Timekeeping

/// A small HTTP/1.1 client for **plain `http://` origins** (the service's in-cluster RPC listener, the local
/// sandbox), with keep-alive connections: `Sockets` for name resolution, connect and timeouts, `HTTP1`'s request
/// encoder and response parser for the wire (the same field rules, limits and chunked decoder as the server's).
/// `https://` is refused: TLS origins (Digital River itself) go through `URLSessionTransport`.
///
/// Why it exists: on Linux, URLSession drives libcurl from Dispatch sources and hops threads for every chunk of every
/// response; measured on the 2-core benchmark machine, a 100,000-customer warm-up made ~300,000 context switches and
/// spent more CPU in the kernel than in our code. Here each exchange runs start to finish on one short-lived thread
/// with blocking socket calls (a handful of syscalls per request), and the awaiting task is resumed once.
///
/// Framing: requests always carry `Content-Length` (bodies are in memory); responses may use `Content-Length`,
/// `chunked`, or close-delimited bodies, and their heads must fit `HTTPLimits`' defaults (8 KiB status line, 16 KiB
/// and 100 header fields). A response with conflicting framing is refused (`.other`) and its connection closed. A
/// connection is reused only after a fully framed response without `Connection: close`. When a reused connection turns out to be closed by the server before any byte of the answer
/// came back, the request is sent once more on a fresh connection: the server closed it while idle, so it never
/// saw the request.
public final class PlainHTTPTransport: DigitalRiverTransport, Sendable {
    /// Largest response accepted, so a misbehaving peer cannot exhaust memory.
    public static let maxResponseBytes = 64 << 20

    private let idle = Mutex<[String: [Connection]]>([:])
    private let maxIdlePerOrigin: Int

    /// - Parameter maxIdlePerOrigin: connections kept open per host:port between requests.
    public init(maxIdlePerOrigin: Int = 4) {
        self.maxIdlePerOrigin = max(1, maxIdlePerOrigin)
    }

    deinit {
        idle.withLock { pools in
            for connection in pools.values.joined() { connection.socket.close() }
            pools.removeAll()
        }
    }

    /// True when this transport can carry requests to `url` (plain http).
    public static func supports(_ url: String) -> Bool {
        url.lowercased().hasPrefix("http://")
    }

    public func send(_ request: TransportRequest) async throws(TransportError) -> TransportResponse {
        let target = try Target(request.url)
        let deadline = SystemClock.monotonicSeconds() + max(0.001, request.timeoutSeconds)
        let once = ResumeOnce()
        let result: Result<TransportResponse, TransportError> = await withCheckedContinuation { continuation in
            once.set(continuation)
            // Blocking I/O belongs on a thread of its own, never on Swift's small cooperative pool.
            let thread = Thread { [self] in
                once.resume(self.exchange(request, target: target, deadline: deadline))
            }
            thread.stackSize = 256 << 10
            thread.start()
            // Connect, send and receive are bounded by the deadline, but name resolution is not (getaddrinfo has no
            // timeout of ours): the caller gets its answer on time and the thread cleans up whenever it returns.
            DispatchQueue.global().asyncAfter(deadline: .now() + max(0.001, request.timeoutSeconds) + 0.05) {
                once.resume(.failure(TransportError(.timedOut, "no response within \(request.timeoutSeconds) s")))
            }
        }
        return try result.get()
    }

    // MARK: Exchange (on the request's own thread)

    private func exchange(_ request: TransportRequest, target: Target, deadline: Double) -> Result<TransportResponse, TransportError> {
        let encoded: [UInt8]
        do {
            encoded = try HTTPRequestEncoder.encode(method: request.method, target: target.requestTarget, host: target.hostHeader,
                                                    headers: request.headers, body: request.body)
        } catch {
            return .failure(TransportError(.other, error.description))
        }
        var attempt = 0
        while true {
            attempt += 1
            let reused: Bool
            var connection: Connection
            if let pooled = takeIdle(target.origin) {
                connection = pooled
                reused = true
            } else {
                do {
                    connection = try Connection.open(target, deadline: deadline)
                } catch {
                    return .failure(error)
                }
                reused = false
            }
            let limit = min(request.maxResponseBytes ?? Self.maxResponseBytes, Self.maxResponseBytes)
            let outcome = connection.exchange(encoded, method: request.method, deadline: deadline, limit: limit)
            switch outcome {
            case .response(let response, let keepAlive):
                if keepAlive { putIdle(connection, origin: target.origin) } else { connection.socket.close() }
                return .success(response)
            case .failed(let error, let receivedAnything):
                connection.socket.close()
                if reused, !receivedAnything, attempt == 1, error.kind == .connectionLost { continue }
                return .failure(error)
            }
        }
    }

    private func takeIdle(_ origin: String) -> Connection? {
        idle.withLock { pools in pools[origin]?.popLast() }
    }

    private func putIdle(_ connection: Connection, origin: String) {
        let kept = idle.withLock { pools -> Bool in
            guard pools[origin, default: []].count < maxIdlePerOrigin else { return false }
            pools[origin, default: []].append(connection)
            return true
        }
        if !kept { connection.socket.close() }
    }

    // MARK: Types

    /// Where a request goes: the parsed `http://host[:port]/path?query`.
    struct Target: Sendable {
        let host: String
        let port: UInt16
        let requestTarget: String
        let hostHeader: String
        var origin: String { "\(host):\(port)" }

        init(_ url: String) throws(TransportError) {
            guard let components = URLComponents(string: url), components.scheme?.lowercased() == "http",
                  let host = components.host, !host.isEmpty, components.user == nil, components.password == nil
            else { throw TransportError(.other, "invalid plain-http URL") }
            let port = components.port ?? 80
            guard (1...65_535).contains(port) else { throw TransportError(.other, "invalid port") }
            self.host = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
            self.port = UInt16(port)
            let path = components.percentEncodedPath.isEmpty ? "/" : components.percentEncodedPath
            requestTarget = path + (components.percentEncodedQuery.map { "?" + $0 } ?? "")
            let bracketed = self.host.contains(":") ? "[\(self.host)]" : self.host
            hostHeader = port == 80 ? bracketed : "\(bracketed):\(port)"
        }
    }

    /// One keep-alive connection and the bytes read past the last response.
    struct Connection: @unchecked Sendable {
        let socket: TCPSocket
        var buffer: [UInt8] = []
        /// Receive space, reused for every read of this connection.
        var scratch = [UInt8](repeating: 0, count: 128 << 10)

        /// Resolves the host (numeric, `localhost`, or a DNS name) and connects to the first address that takes the
        /// connection before the deadline.
        static func open(_ target: Target, deadline: Double) throws(TransportError) -> Connection {
            let addresses: [SocketAddress]
            do {
                addresses = try SocketAddress.resolve(host: target.host, port: target.port)
            } catch {
                throw TransportError(.connectionFailed, error.description)
            }
            var failure = TransportError(.connectionFailed, "connect to \(target.origin) failed")
            for address in addresses {
                let left = Self.millisecondsLeft(deadline)
                guard left > 0 else { break }
                do {
                    return Connection(socket: try TCPSocket.connect(to: address, timeoutMilliseconds: left))
                } catch {
                    // Timed out or refused, the request never left: connectionFailed either way, so it may be retried.
                    failure = TransportError(.connectionFailed, "connect to \(address) failed (\(error))")
                }
            }
            throw failure
        }

        enum Outcome {
            case response(TransportResponse, keepAlive: Bool)
            /// `receivedAnything`: whether any byte of an answer arrived (if not, a reused connection was stale).
            case failed(TransportError, receivedAnything: Bool)
        }

        /// Sends `request` (head and body, encoded) and reads the answer to it with HTTP1's response parser, skipping
        /// interim (1xx) answers. `limit`: most body bytes read; a larger `Content-Length` or body fails with
        /// `.responseTooLarge` unread.
        mutating func exchange(_ request: [UInt8], method: String, deadline: Double, limit: Int) -> Outcome {
            var receivedAnything = !buffer.isEmpty
            if let error = write(request, deadline: deadline) {
                // A server may answer early (413 for a body over its limit) and close while we are still sending;
                // that answer, if it reached us, is the one to report.
                guard error.kind == .connectionLost, case .success(true) = fill(deadline: min(deadline, SystemClock.monotonicSeconds() + 1)) else {
                    return .failed(error, receivedAnything: receivedAnything)
                }
                receivedAnything = true
            }
            var parser = HTTPResponseParser(requestMethod: method, limits: HTTPLimits(maxBodyBytes: limit))
            while true {
                parsing: while !buffer.isEmpty {
                    let (event, consumed) = buffer.withUnsafeBytes { parser.parse($0) }
                    buffer.removeFirst(consumed)
                    switch event {
                    case .needMore: break parsing
                    case .interim: continue  // the final answer may be buffered behind it already
                    case .response(let response): return .response(Self.transportResponse(response), keepAlive: response.keepAlive)
                    case .failure(let error): return .failed(Self.transportError(error, limit: limit), receivedAnything: true)
                    }
                }
                switch fill(deadline: deadline) {
                case .failure(let error): return .failed(error, receivedAnything: receivedAnything)
                case .success(true): receivedAnything = true
                case .success(false):
                    guard receivedAnything else {
                        return .failed(TransportError(.connectionLost, "connection closed before the response"), receivedAnything: false)
                    }
                    switch parser.finish() {
                    case .response(let response): return .response(Self.transportResponse(response), keepAlive: false)
                    case .failure(let error): return .failed(Self.transportError(error, limit: limit), receivedAnything: true)
                    case .needMore, .interim:
                        return .failed(TransportError(.connectionLost, "connection closed inside the response"), receivedAnything: true)
                    }
                }
            }
        }

        private static func transportResponse(_ response: HTTPReceivedResponse) -> TransportResponse {
            TransportResponse(status: response.status.code, headers: response.headers.map { ($0.name, $0.value) }, body: response.body)
        }

        /// The parser's verdict in the terms the retry policy reads: only a connection that ended early may be
        /// worth another attempt; a response that is too large or malformed would come back the same.
        private static func transportError(_ error: HTTPResponseParseError, limit: Int) -> TransportError {
            switch error.kind {
            case .bodyTooLarge: TransportError(.responseTooLarge, "response body over \(limit) bytes")
            case .truncated: TransportError(.connectionLost, "connection closed inside the response")
            case .malformed, .headTooLarge: TransportError(.other, "malformed response (\(error))")
            case .unsupported: TransportError(.other, "unsupported response (\(error))")
            }
        }

        private static func millisecondsLeft(_ deadline: Double) -> Int {
            Int(((deadline - SystemClock.monotonicSeconds()) * 1000).rounded(.up))
        }

        /// Reads what is available into `buffer`, waiting at most until the deadline; false on EOF.
        private mutating func fill(deadline: Double) -> Result<Bool, TransportError> {
            let left = Self.millisecondsLeft(deadline)
            guard left > 0 else { return .failure(TransportError(.timedOut, "no complete response before the deadline")) }
            do {
                try socket.setReceiveTimeout(milliseconds: left)
                switch try socket.read(into: &scratch) {
                case .wouldBlock:
                    return .failure(TransportError(.timedOut, "no complete response before the deadline"))
                case .processed(0):
                    return .success(false)
                case .processed(let count):
                    buffer.append(contentsOf: scratch[0..<count])
                    return .success(true)
                }
            } catch {
                return .failure(TransportError(.connectionLost, "receive failed (\(error))"))
            }
        }

        private func write(_ bytes: [UInt8], deadline: Double) -> TransportError? {
            let left = Self.millisecondsLeft(deadline)
            guard left > 0 else { return TransportError(.timedOut, "deadline passed before sending") }
            do {
                try socket.setSendTimeout(milliseconds: left)
                try socket.writeAll(bytes)
                return nil
            } catch {
                return error.isTimeout ? TransportError(.timedOut, "send timed out") : TransportError(.connectionLost, "send failed (\(error))")
            }
        }
    }
}

/// Resumes a continuation exactly once, whichever of the exchange and the deadline timer comes first.
private final class ResumeOnce: Sendable {
    private let state = Mutex<(continuation: CheckedContinuation<Result<TransportResponse, TransportError>, Never>?, done: Bool)>((nil, false))

    func set(_ continuation: CheckedContinuation<Result<TransportResponse, TransportError>, Never>) {
        state.withLock { $0.continuation = continuation }
    }

    func resume(_ result: Result<TransportResponse, TransportError>) {
        let continuation = state.withLock { state -> CheckedContinuation<Result<TransportResponse, TransportError>, Never>? in
            guard !state.done, let continuation = state.continuation else { return nil }
            state.done = true
            state.continuation = nil
            return continuation
        }
        continuation?.resume(returning: result)
    }
}
