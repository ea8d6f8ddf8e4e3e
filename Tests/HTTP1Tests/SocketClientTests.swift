import Sockets
import Testing

@Suite("Sockets: name resolution, client connect and timeouts")
struct SocketClientTests {
    @Test("numeric addresses and localhost resolve as they are; other names through getaddrinfo")
    func resolve() throws {
        #expect(try SocketAddress.resolve(host: "127.0.0.1", port: 80) == [try SocketAddress(host: "127.0.0.1", port: 80)])
        #expect(try SocketAddress.resolve(host: "::1", port: 81) == [try SocketAddress(host: "::1", port: 81)])
        // Upper case is not the "localhost" shortcut, so this goes through the resolver (/etc/hosts).
        let resolved = try SocketAddress.resolve(host: "LOCALHOST", port: 8080)
        #expect(!resolved.isEmpty)
        #expect(resolved.allSatisfy { ($0.host == "127.0.0.1" || $0.host == "::1") && $0.port == 8080 }, "\(resolved)")
    }

    @Test("a name that does not exist is a NameResolutionError naming the host")
    func unknownName() {
        do {
            _ = try SocketAddress.resolve(host: "no-such-host.invalid", port: 80)
            Issue.record("resolved a .invalid name")
        } catch {
            #expect(error.host == "no-such-host.invalid")
            #expect(error.description.hasPrefix("cannot resolve no-such-host.invalid: "))
        }
    }

    @Test("connect with a deadline reaches a listener, and a closed port is refused at once")
    func connect() throws {
        let listener = try TCPSocket.listen(on: try SocketAddress(parsing: "127.0.0.1:0"), backlog: 4, reusePort: false)
        let address = try listener.localAddress()
        let client = try TCPSocket.connect(to: address, timeoutMilliseconds: 2_000)
        defer { client.close() }
        try listener.setBlocking(true)
        guard case .processed(let (server, _)) = try listener.accept() else { Issue.record("nothing to accept"); return }
        defer { server.close() }
        // The client socket blocks: a whole write goes out, and a read waits for the answer.
        let request = Array("ping".utf8)
        try client.writeAll(request)
        try server.setBlocking(true)
        var received = [UInt8](repeating: 0, count: 4)
        guard case .processed(4) = try server.read(into: &received) else {
            Issue.record("the server did not read the 4 bytes"); return
        }
        #expect(received == request)
        listener.close()
        do {
            _ = try TCPSocket.connect(to: address, timeoutMilliseconds: 2_000)
            Issue.record("connected to a closed port")
        } catch {
            #expect(error.call == "connect" && !error.isTimeout, "\(error)")
        }
    }

    @Test("a receive timeout makes a read return wouldBlock; a send timeout makes writeAll throw a timeout")
    func timeouts() throws {
        let listener = try TCPSocket.listen(on: try SocketAddress(parsing: "127.0.0.1:0"), backlog: 4, reusePort: false)
        defer { listener.close() }
        let client = try TCPSocket.connect(to: try listener.localAddress(), timeoutMilliseconds: 2_000)
        defer { client.close() }
        try client.setReceiveTimeout(milliseconds: 50)
        var byte: [UInt8] = [0]
        guard case .wouldBlock = try client.read(into: &byte) else {
            Issue.record("a read with nothing to read returned"); return
        }
        // Nobody reads (the connection is never even accepted), so the kernel's buffers fill and a send waits.
        try client.setSendTimeout(milliseconds: 50)
        let flood = [UInt8](repeating: 0x61, count: 64 << 20)
        do {
            try client.writeAll(flood)
            Issue.record("64 MiB went into a connection nobody reads")
        } catch {
            #expect(error.isTimeout, "\(error)")
        }
    }
}
