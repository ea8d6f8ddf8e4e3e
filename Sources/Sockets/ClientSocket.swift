#if canImport(Glibc)
import Glibc
#endif
import CLinux

// The blocking client side of TCPSocket: connect with a deadline, per-call timeouts, whole writes. Used by the warm
// job's plain-http transport (one short-lived thread per exchange) and by test clients and peers; event loops never
// block, so none of this is on a server's path.
extension TCPSocket {
    /// Connects a blocking client socket, giving up after `timeoutMilliseconds` (a blocking connect to a host that
    /// never answers would otherwise wait for the kernel's SYN retries, minutes). TCP_NODELAY is on.
    /// - Throws: `SocketError` from `connect`; a timeout is ETIMEDOUT (`isTimeout`).
    public static func connect(to address: SocketAddress, timeoutMilliseconds: Int) throws(SocketError) -> TCPSocket {
        let fd = try syscall("socket") { clinux_socket_nonblocking(address.isIPv6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue)) }
        let socket = TCPSocket(descriptor: fd)
        do throws(SocketError) {
            let result = try address.withSockAddr { (pointer, length) throws(SocketError) in Glibc.connect(fd, pointer, length) }
            if result == -1 {
                let code = clinux_errno()
                // EINTR leaves the connect going on in the background, like EINPROGRESS: wait for its outcome.
                guard code == EINPROGRESS || code == EINTR else { throw SocketError(call: "connect", errno: code) }
                try socket.waitUntilConnected(timeoutMilliseconds: timeoutMilliseconds)
            }
            try socket.setBlocking(true)
            try setOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1, name: "setsockopt(TCP_NODELAY)")
        } catch {
            closeDescriptor(fd)
            throw error
        }
        return socket
    }

    private func waitUntilConnected(timeoutMilliseconds: Int) throws(SocketError) {
        let deadline = monotonicMilliseconds() + max(0, timeoutMilliseconds)
        while true {
            var request = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
            let left = deadline - monotonicMilliseconds()
            guard left > 0 else { throw SocketError(call: "connect", errno: ETIMEDOUT) }
            let ready = Glibc.poll(&request, 1, Int32(clamping: left))
            if ready == -1 {
                let code = clinux_errno()
                if code == EINTR { continue }
                throw SocketError(call: "poll", errno: code)
            }
            if ready == 0 { continue }
            var failure: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            _ = try syscall("getsockopt(SO_ERROR)") { getsockopt(descriptor, SOL_SOCKET, SO_ERROR, &failure, &length) }
            if failure != 0 { throw SocketError(call: "connect", errno: failure) }
            return
        }
    }

    /// Switches the descriptor between blocking and non-blocking mode (a listener is made non-blocking for the event
    /// loops; a test peer that serves one connection at a time on a thread wants it blocking).
    public func setBlocking(_ blocking: Bool) throws(SocketError) {
        let flags = try syscall("fcntl(F_GETFL)") { fcntl(descriptor, F_GETFL) }
        let wanted = blocking ? flags & ~O_NONBLOCK : flags | O_NONBLOCK
        if wanted != flags { _ = try syscall("fcntl(F_SETFL)") { fcntl(descriptor, F_SETFL, wanted) } }
    }

    /// Bounds each blocking read: one that waits longer returns `.wouldBlock` from `read(into:)`.
    public func setReceiveTimeout(milliseconds: Int) throws(SocketError) {
        try setTimeout(SO_RCVTIMEO, milliseconds: milliseconds, name: "setsockopt(SO_RCVTIMEO)")
    }

    /// Bounds each blocking send: one that cannot hand its bytes to the kernel for longer fails in `writeAll`.
    public func setSendTimeout(milliseconds: Int) throws(SocketError) {
        try setTimeout(SO_SNDTIMEO, milliseconds: milliseconds, name: "setsockopt(SO_SNDTIMEO)")
    }

    private func setTimeout(_ option: Int32, milliseconds: Int, name: StaticString) throws(SocketError) {
        // Zero would mean "wait forever" to the kernel: the shortest real timeout is one millisecond.
        let milliseconds = max(1, milliseconds)
        var value = timeval(tv_sec: milliseconds / 1000, tv_usec: (milliseconds % 1000) * 1000)
        _ = try syscall(name) { setsockopt(descriptor, SOL_SOCKET, option, &value, socklen_t(MemoryLayout<timeval>.size)) }
    }

    /// Writes all of `bytes` on a blocking socket, however many sends it takes.
    /// - Throws: `SocketError` from `send`: EPIPE or ECONNRESET when the peer is gone, EAGAIN (`isTimeout`) when the
    ///   send timeout passed with the peer not reading.
    public func writeAll(_ bytes: UnsafeRawBufferPointer) throws(SocketError) {
        var offset = 0
        while offset < bytes.count {
            switch try write(UnsafeRawBufferPointer(rebasing: bytes[offset...])) {
            case .processed(let count): offset += count
            case .wouldBlock: throw SocketError(call: "send", errno: EAGAIN)
            }
        }
    }

    /// `writeAll` for an array (the closure-based buffer accessors cannot carry a typed throw).
    public func writeAll(_ bytes: [UInt8]) throws(SocketError) {
        let result: Result<Void, SocketError> = bytes.withUnsafeBytes { raw in
            do throws(SocketError) { return .success(try writeAll(raw)) } catch { return .failure(error) }
        }
        try result.get()
    }

    /// `read(into:)` into an array's space, from its start; `.processed(0)` means the peer closed its side.
    public func read(into buffer: inout [UInt8]) throws(SocketError) -> IOResult<Int> {
        let result: Result<IOResult<Int>, SocketError> = buffer.withUnsafeMutableBytes { raw in
            do throws(SocketError) { return .success(try read(into: raw)) } catch { return .failure(error) }
        }
        return try result.get()
    }

    /// Shuts both directions down: the peer reads EOF, and a thread blocked in `accept` on a listener wakes with an
    /// error (how a test peer's accept thread is stopped). Errors are ignored: the socket is being abandoned.
    public func shutdown() {
        _ = Glibc.shutdown(descriptor, Int32(SHUT_RDWR))
    }
}

extension SocketError {
    /// True when a deadline passed: a connect (ETIMEDOUT) or a send or receive timeout (EAGAIN).
    public var isTimeout: Bool { errno == ETIMEDOUT || errno == EAGAIN || errno == EWOULDBLOCK }
}

private func monotonicMilliseconds() -> Int {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return now.tv_sec * 1000 + now.tv_nsec / 1_000_000
}
