import DigitalRiverAPI
import Foundation
import Sockets
import Synchronization
import Timekeeping
#if canImport(Glibc)
import Glibc
#endif

/// A small HTTP/1.1 client for **plain `http://` origins** (the service's in-cluster RPC listener, the local
/// sandbox), with keep-alive connections over our `Sockets` module. `https://` is refused: TLS origins (Digital
/// River itself) go through `URLSessionTransport`.
///
/// Why it exists: on Linux, URLSession drives libcurl from Dispatch sources and hops threads for every chunk of every
/// response; measured on the 2-core benchmark machine, a 100,000-customer warm-up made ~300,000 context switches and
/// spent more CPU in the kernel than in our code. Here each exchange runs start to finish on one short-lived thread
/// with blocking socket calls (a handful of syscalls per request), and the awaiting task is resumed once.
///
/// Framing: requests always carry `Content-Length` (bodies are in memory); responses may use `Content-Length`,
/// `chunked`, or close-delimited bodies. A connection is reused only after a fully framed response without
/// `Connection: close`. When a reused connection turns out to be closed by the server before any byte of the answer
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
            // A connect to an unreachable host can block far longer than the deadline (no connect timeout on a
            // blocking socket); the caller gets its answer on time and the thread cleans up whenever it returns.
            DispatchQueue.global().asyncAfter(deadline: .now() + max(0.001, request.timeoutSeconds) + 0.05) {
                once.resume(.failure(TransportError(.timedOut, "no response within \(request.timeoutSeconds) s")))
            }
        }
        return try result.get()
    }

    // MARK: Exchange (on the request's own thread)

    private func exchange(_ request: TransportRequest, target: Target, deadline: Double) -> Result<TransportResponse, TransportError> {
        let head = Self.head(request, target: target)
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
                    connection = try Connection.open(target)
                } catch {
                    return .failure(error)
                }
                reused = false
            }
            let limit = min(request.maxResponseBytes ?? Self.maxResponseBytes, Self.maxResponseBytes)
            let outcome = connection.exchange(head: head, body: request.body ?? [], method: request.method, deadline: deadline,
                                              limit: limit)
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

    static func head(_ request: TransportRequest, target: Target) -> [UInt8] {
        var text = "\(request.method) \(target.requestTarget) HTTP/1.1\r\nHost: \(target.hostHeader)\r\n"
        for (name, value) in request.headers where !name.contains("\r") && !name.contains("\n") && !value.contains("\r") && !value.contains("\n") {
            let lower = name.lowercased()
            if lower == "host" || lower == "content-length" || lower == "connection" || lower == "transfer-encoding" { continue }
            text += "\(name): \(value)\r\n"
        }
        if request.body != nil || request.method == "POST" || request.method == "PUT" {
            text += "Content-Length: \(request.body?.count ?? 0)\r\n"
        }
        text += "\r\n"
        return Array(text.utf8)
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

        /// Resolves the host (numeric, `localhost`, or a DNS name via getaddrinfo) and connects.
        static func open(_ target: Target) throws(TransportError) -> Connection {
            let address = try resolve(target)
            do {
                return Connection(socket: try TCPSocket.connect(to: address))
            } catch {
                throw TransportError(.connectionFailed, "connect to \(target.origin) failed (\(error))")
            }
        }

        static func resolve(_ target: Target) throws(TransportError) -> SocketAddress {
            if let numeric = try? SocketAddress(host: target.host, port: target.port) { return numeric }
            var hints = addrinfo()
            hints.ai_family = AF_UNSPEC
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            var list: UnsafeMutablePointer<addrinfo>?
            guard getaddrinfo(target.host, nil, &hints, &list) == 0, let first = list else {
                throw TransportError(.connectionFailed, "cannot resolve \(target.host)")
            }
            defer { freeaddrinfo(list) }
            var entry: UnsafeMutablePointer<addrinfo>? = first
            while let current = entry {
                var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
                let family = current.pointee.ai_family
                if let raw = current.pointee.ai_addr {
                    let converted: UnsafePointer<CChar>? = family == AF_INET
                        ? raw.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { pointer in
                            var address = pointer.pointee.sin_addr
                            return inet_ntop(AF_INET, &address, &text, socklen_t(text.count))
                        }
                        : family == AF_INET6
                        ? raw.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { pointer in
                            var address = pointer.pointee.sin6_addr
                            return inet_ntop(AF_INET6, &address, &text, socklen_t(text.count))
                        }
                        : nil
                    if converted != nil {
                        let host = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                        if let address = try? SocketAddress(host: host, port: target.port) { return address }
                    }
                }
                entry = current.pointee.ai_next
            }
            throw TransportError(.connectionFailed, "cannot resolve \(target.host)")
        }

        enum Outcome {
            case response(TransportResponse, keepAlive: Bool)
            /// `receivedAnything`: whether any byte of an answer arrived (if not, a reused connection was stale).
            case failed(TransportError, receivedAnything: Bool)
        }

        /// `limit`: most body bytes read; a larger `Content-Length` or body fails with `.responseTooLarge` unread.
        mutating func exchange(head: [UInt8], body: [UInt8], method: String, deadline: Double, limit: Int) -> Outcome {
            var receivedAnything = !buffer.isEmpty
            if let error = write(head, deadline: deadline) ?? (body.isEmpty ? nil : write(body, deadline: deadline)) {
                // A server may answer early (413 for a body over its limit) and close while we are still sending;
                // that answer, if it reached us, is the one to report.
                guard error.kind == .connectionLost, case .success(true) = fill(deadline: min(deadline, SystemClock.monotonicSeconds() + 1)) else {
                    return .failed(error, receivedAnything: receivedAnything)
                }
                receivedAnything = true
            }
            while true {
                // The head, skipping any 1xx interim answers.
                var headEnd = Self.headEnd(buffer)
                while headEnd == nil {
                    switch fill(deadline: deadline) {
                    case .failure(let error): return .failed(error, receivedAnything: receivedAnything)
                    case .success(false): return .failed(TransportError(.connectionLost, "connection closed before the response"), receivedAnything: receivedAnything)
                    case .success(true): receivedAnything = true
                    }
                    if buffer.count > 1 << 20 { return .failed(TransportError(.other, "response head too large"), receivedAnything: true) }
                    headEnd = Self.headEnd(buffer)
                }
                guard let end = headEnd, let parsed = Self.parseHead(buffer[0..<end]) else {
                    return .failed(TransportError(.other, "malformed response head"), receivedAnything: true)
                }
                buffer.removeFirst(end + 4)
                if (100..<200).contains(parsed.status) { continue }
                let connectionClose = parsed.header("connection")?.lowercased().contains("close") == true || !parsed.http11
                if method == "HEAD" || parsed.status == 204 || parsed.status == 304 {
                    return .response(TransportResponse(status: parsed.status, headers: parsed.headers), keepAlive: !connectionClose)
                }
                if let encoding = parsed.header("transfer-encoding") {
                    guard encoding.lowercased().trimmingCharacters(in: .whitespaces).hasSuffix("chunked") else {
                        return .failed(TransportError(.other, "unsupported transfer coding"), receivedAnything: true)
                    }
                    switch readChunked(deadline: deadline, limit: limit) {
                    case .success(let body):
                        return .response(TransportResponse(status: parsed.status, headers: parsed.headers, body: body), keepAlive: !connectionClose)
                    case .failure(let error): return .failed(error, receivedAnything: true)
                    }
                }
                if let lengthText = parsed.header("content-length") {
                    guard let length = Int(lengthText.trimmingCharacters(in: .whitespaces)), length >= 0
                    else { return .failed(TransportError(.other, "bad Content-Length"), receivedAnything: true) }
                    guard length <= limit else { return .failed(Self.tooLarge(limit), receivedAnything: true) }
                    switch readExactly(length, deadline: deadline) {
                    case .success(let body):
                        return .response(TransportResponse(status: parsed.status, headers: parsed.headers, body: body), keepAlive: !connectionClose)
                    case .failure(let error): return .failed(error, receivedAnything: true)
                    }
                }
                // Close-delimited body: read to EOF; the connection is spent.
                while true {
                    switch fill(deadline: deadline) {
                    case .failure(let error): return .failed(error, receivedAnything: true)
                    case .success(true):
                        if buffer.count > limit { return .failed(Self.tooLarge(limit), receivedAnything: true) }
                    case .success(false):
                        let body = buffer
                        buffer = []
                        return .response(TransportResponse(status: parsed.status, headers: parsed.headers, body: body), keepAlive: false)
                    }
                }
            }
        }

        private mutating func readExactly(_ count: Int, deadline: Double) -> Result<[UInt8], TransportError> {
            while buffer.count < count {
                switch fill(deadline: deadline) {
                case .failure(let error): return .failure(error)
                case .success(false): return .failure(TransportError(.connectionLost, "connection closed inside the body"))
                case .success(true): break
                }
            }
            let body = Array(buffer[0..<count])
            buffer.removeFirst(count)
            return .success(body)
        }

        private mutating func readLine(deadline: Double) -> Result<String, TransportError> {
            while true {
                if let index = Self.crlf(buffer) {
                    let line = String(decoding: buffer[0..<index], as: UTF8.self)
                    buffer.removeFirst(index + 2)
                    return .success(line)
                }
                if buffer.count > 64 << 10 { return .failure(TransportError(.other, "chunk line too long")) }
                switch fill(deadline: deadline) {
                case .failure(let error): return .failure(error)
                case .success(false): return .failure(TransportError(.connectionLost, "connection closed inside a chunk"))
                case .success(true): break
                }
            }
        }

        private static func tooLarge(_ limit: Int) -> TransportError {
            TransportError(.responseTooLarge, "response body over \(limit) bytes")
        }

        private mutating func readChunked(deadline: Double, limit: Int) -> Result<[UInt8], TransportError> {
            var body: [UInt8] = []
            while true {
                let line: String
                switch readLine(deadline: deadline) {
                case .failure(let error): return .failure(error)
                case .success(let text): line = text
                }
                let sizeText = line.split(separator: ";", maxSplits: 1).first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
                guard let size = Int(sizeText, radix: 16), size >= 0 else { return .failure(TransportError(.other, "bad chunk size")) }
                guard size <= limit - body.count else { return .failure(Self.tooLarge(limit)) }
                if size == 0 {
                    // Trailers, up to the empty line.
                    while true {
                        switch readLine(deadline: deadline) {
                        case .failure(let error): return .failure(error)
                        case .success(let trailer): if trailer.isEmpty { return .success(body) }
                        }
                    }
                }
                switch readExactly(size + 2, deadline: deadline) {
                case .failure(let error): return .failure(error)
                case .success(let chunk): body.append(contentsOf: chunk[0..<size])
                }
            }
        }

        /// Reads what is available into `buffer`; false on EOF.
        private mutating func fill(deadline: Double) -> Result<Bool, TransportError> {
            let left = deadline - SystemClock.monotonicSeconds()
            guard left > 0 else { return .failure(TransportError(.timedOut, "no complete response before the deadline")) }
            socket.setReceiveTimeout(milliseconds: max(1, Int((left * 1000).rounded(.up))))
            let descriptor = socket.descriptor
            let received = scratch.withUnsafeMutableBytes { raw in Glibc.recv(descriptor, raw.baseAddress, raw.count, 0) }
            let code = errno
            if received > 0 { buffer.append(contentsOf: scratch[0..<received]) }
            if received > 0 { return .success(true) }
            if received == 0 { return .success(false) }
            if code == EAGAIN || code == EWOULDBLOCK { return .failure(TransportError(.timedOut, "no complete response before the deadline")) }
            if code == EINTR { return .success(true) }
            return .failure(TransportError(.connectionLost, "receive failed (errno \(code))"))
        }

        private func write(_ bytes: [UInt8], deadline: Double) -> TransportError? {
            let left = deadline - SystemClock.monotonicSeconds()
            guard left > 0 else { return TransportError(.timedOut, "deadline passed before sending") }
            let milliseconds = max(1, Int((left * 1000).rounded(.up)))
            var value = timeval(tv_sec: milliseconds / 1000, tv_usec: (milliseconds % 1000) * 1000)
            _ = setsockopt(socket.descriptor, SOL_SOCKET, SO_SNDTIMEO, &value, socklen_t(MemoryLayout<timeval>.size))
            var offset = 0
            while offset < bytes.count {
                let descriptor = socket.descriptor
                let sent = bytes.withUnsafeBytes { raw in
                    Glibc.send(descriptor, raw.baseAddress.map { $0 + offset }, raw.count - offset, Int32(MSG_NOSIGNAL))
                }
                if sent > 0 {
                    offset += sent
                    continue
                }
                let code = errno
                if sent < 0, code == EINTR { continue }
                if sent < 0, code == EAGAIN || code == EWOULDBLOCK { return TransportError(.timedOut, "send timed out") }
                return TransportError(.connectionLost, "send failed (errno \(code))")
            }
            return nil
        }

        struct Head {
            let status: Int
            let http11: Bool
            let headers: [(String, String)]

            func header(_ name: String) -> String? {
                headers.first { $0.0.lowercased() == name }?.1
            }
        }

        static func parseHead(_ bytes: ArraySlice<UInt8>) -> Head? {
            let text = String(decoding: bytes, as: UTF8.self)
            var lines = text.split(separator: "\r\n", omittingEmptySubsequences: false)
            guard !lines.isEmpty else { return nil }
            let statusLine = lines.removeFirst()
            let parts = statusLine.split(separator: " ", maxSplits: 2)
            guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), parts[1].count == 3, let status = Int(parts[1]) else { return nil }
            var headers: [(String, String)] = []
            for line in lines {
                guard let colon = line.firstIndex(of: ":") else { return nil }
                headers.append((String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
            }
            return Head(status: status, http11: parts[0] == "HTTP/1.1", headers: headers)
        }

        static func headEnd(_ bytes: [UInt8]) -> Int? {
            guard bytes.count >= 4 else { return nil }
            return bytes.withUnsafeBufferPointer { buffer -> Int? in
                var index = 0
                while index + 3 < buffer.count {
                    if buffer[index] == 13, buffer[index + 1] == 10, buffer[index + 2] == 13, buffer[index + 3] == 10 { return index }
                    index += 1
                }
                return nil
            }
        }

        static func crlf(_ bytes: [UInt8]) -> Int? {
            guard bytes.count >= 2 else { return nil }
            var index = 0
            while index + 1 < bytes.count {
                if bytes[index] == 13, bytes[index + 1] == 10 { return index }
                index += 1
            }
            return nil
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
