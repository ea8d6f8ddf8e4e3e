#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// A non-blocking TCP socket descriptor. Not Sendable: a descriptor belongs to the one event loop that owns it.
public struct TCPSocket {
    /// The raw descriptor, for epoll registration only.
    public let descriptor: Int32

    init(descriptor: Int32) { self.descriptor = descriptor }

    /// Opens, binds and listens. `reusePort` lets several event loops each own a listener on one port.
    public static func listen(on address: SocketAddress, backlog: Int32 = 4096, reusePort: Bool) throws(SocketError) -> TCPSocket {
        let fd = try syscall("socket") { clinux_socket_nonblocking(address.isIPv6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue)) }
        do {
            try setOption(fd, SOL_SOCKET, SO_REUSEADDR, 1, name: "setsockopt(SO_REUSEADDR)")
            if reusePort {
                try setOption(fd, SOL_SOCKET, SO_REUSEPORT, 1, name: "setsockopt(SO_REUSEPORT)")
            }
            if address.isIPv6 {
                // Dual-stack whatever the host's net.ipv6.bindv6only says: "[::]" means every interface, IPv4
                // clients included (they appear as their IPv4 address; see SocketAddress(storage:)). A specific
                // IPv6 address such as [::1] is unaffected, since only the wildcard accepts IPv4-mapped peers.
                try setOption(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, 0, name: "setsockopt(IPV6_V6ONLY)")
            }
            _ = try address.withSockAddr { (pointer, length) throws(SocketError) in
                try syscall("bind") { Glibc.bind(fd, pointer, length) }
            }
            _ = try syscall("listen") { Glibc.listen(fd, backlog) }
        } catch {
            closeDescriptor(fd)
            throw error
        }
        return TCPSocket(descriptor: fd)
    }

    /// Checks that nobody holds `address` by binding it once without SO_REUSEPORT, and returns the port that bind
    /// got (the real one when 0 was asked for). SO_REUSEPORT lets any process of the same user join a port
    /// silently, so without this check a second instance started by mistake would split the traffic instead of
    /// failing with "address in use".
    public static func reservePort(for address: SocketAddress) throws(SocketError) -> UInt16 {
        let probe = try listen(on: address, backlog: 1, reusePort: false)
        defer { probe.close() }
        return try probe.localAddress().port
    }

    /// Connects a blocking client socket without a deadline; used by tests and benchmarks on loopback
    /// (`connect(to:timeoutMilliseconds:)` bounds the wait).
    public static func connect(to address: SocketAddress) throws(SocketError) -> TCPSocket {
        let fd = try syscall("socket") { Glibc.socket(address.isIPv6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0) }
        do {
            _ = try address.withSockAddr { (pointer, length) throws(SocketError) in
                try syscall("connect") { Glibc.connect(fd, pointer, length) }
            }
            try setOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1, name: "setsockopt(TCP_NODELAY)")
        } catch {
            closeDescriptor(fd)
            throw error
        }
        return TCPSocket(descriptor: fd)
    }

    /// The address the kernel bound, which tells the real port after listening on port 0.
    public func localAddress() throws(SocketError) -> SocketAddress {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = try withUnsafeMutablePointer(to: &storage) { (pointer) throws(SocketError) in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { (raw) throws(SocketError) in
                try syscall("getsockname") { getsockname(descriptor, raw, &length) }
            }
        }
        guard let address = SocketAddress(storage: &storage) else {
            throw SocketError(call: "getsockname", errno: EAFNOSUPPORT)
        }
        return address
    }

    /// Accepts one pending connection as a non-blocking socket with TCP_NODELAY on
    /// (without it, Nagle plus delayed ACK adds ~40 ms to every small response).
    public func accept() throws(SocketError) -> IOResult<(TCPSocket, SocketAddress?)> {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let result = try withUnsafeMutablePointer(to: &storage) { (pointer) throws(SocketError) in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { (raw) throws(SocketError) in
                try nonBlockingSyscall("accept4") { clinux_accept4(descriptor, raw, &length, clinux_accept_flags()) }
            }
        }
        switch result {
        case .wouldBlock:
            return .wouldBlock
        case .processed(let fd):
            var one: Int32 = 1
            _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            return .processed((TCPSocket(descriptor: fd), SocketAddress(storage: &storage)))
        }
    }

    /// Whether a connection is waiting to be accepted. Needed after EMFILE: Linux allocates the descriptor before
    /// it looks at the queue, so accept fails with EMFILE even when nobody is waiting.
    public func hasPendingConnection() -> Bool {
        var request = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        return Glibc.poll(&request, 1, 0) > 0 && request.revents & Int16(POLLIN) != 0
    }

    /// Reads what is available into `buffer`; `.processed(0)` means the peer closed its side.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(SocketError) -> IOResult<Int> {
        try nonBlockingSyscall("read") { Glibc.read(descriptor, buffer.baseAddress, buffer.count) }
    }

    /// Writes as much of `buffer` as the kernel takes; MSG_NOSIGNAL turns a closed peer into EPIPE instead of SIGPIPE.
    public func write(_ buffer: UnsafeRawBufferPointer) throws(SocketError) -> IOResult<Int> {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return .processed(0) }
        return try nonBlockingSyscall("send") { Glibc.send(descriptor, base, buffer.count, clinux_msg_nosignal()) }
    }

    /// Half-closes the write side so the peer reads our last response before it sees EOF.
    public func shutdownWrite() {
        _ = Glibc.shutdown(descriptor, Int32(SHUT_WR))
    }

    /// Releases the descriptor; callers must not use the socket afterwards.
    public func close() {
        closeDescriptor(descriptor)
    }
}

func setOption(_ fd: Int32, _ level: Int32, _ option: Int32, _ value: Int32, name: StaticString) throws(SocketError) {
    var value = value
    _ = try syscall(name) { setsockopt(fd, level, option, &value, socklen_t(MemoryLayout<Int32>.size)) }
}
