#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// An IPv4 or IPv6 address and port, parsed from "host:port" or "[v6]:port"; port 0 asks the kernel for a free one.
public struct SocketAddress: Sendable, Hashable, CustomStringConvertible {
    /// The numeric host, as written by inet_ntop.
    public let host: String
    /// The TCP port.
    public let port: UInt16
    /// True for IPv6 addresses.
    public let isIPv6: Bool

    public init(host: String, port: UInt16) throws(SocketAddressError) {
        var v4 = in_addr()
        var v6 = in6_addr()
        if inet_pton(AF_INET, host, &v4) == 1 {
            self.init(uncheckedHost: host, port: port, isIPv6: false)
        } else if inet_pton(AF_INET6, host, &v6) == 1 {
            self.init(uncheckedHost: host, port: port, isIPv6: true)
        } else if host == "localhost" {
            self.init(uncheckedHost: "127.0.0.1", port: port, isIPv6: false)
        } else {
            throw SocketAddressError(input: host, reason: "host must be a numeric IPv4 or IPv6 address (or localhost)")
        }
    }

    private init(uncheckedHost: String, port: UInt16, isIPv6: Bool) {
        self.host = uncheckedHost
        self.port = port
        self.isIPv6 = isIPv6
    }

    /// Parses "127.0.0.1:8080", "[::1]:8080", ":8080" (all IPv4 interfaces) or "localhost:8080".
    public init(parsing text: String) throws(SocketAddressError) {
        let hostPart: Substring
        let portPart: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else {
                throw SocketAddressError(input: text, reason: "missing ']' after IPv6 address")
            }
            hostPart = text[text.index(after: text.startIndex)..<close]
            let afterClose = text.index(after: close)
            guard afterClose < text.endIndex, text[afterClose] == ":" else {
                throw SocketAddressError(input: text, reason: "expected ':PORT' after ']'")
            }
            portPart = text[text.index(after: afterClose)...]
        } else {
            guard let colon = text.lastIndex(of: ":") else {
                throw SocketAddressError(input: text, reason: "expected HOST:PORT")
            }
            hostPart = text[..<colon]
            if hostPart.contains(":") {
                throw SocketAddressError(input: text, reason: "IPv6 addresses must be written in brackets, e.g. [::1]:8080")
            }
            portPart = text[text.index(after: colon)...]
        }
        guard !portPart.isEmpty, portPart.allSatisfy({ $0.isASCII && $0.isNumber }), let port = UInt16(portPart) else {
            throw SocketAddressError(input: text, reason: "port must be a number from 0 to 65535")
        }
        let host = hostPart.isEmpty ? "0.0.0.0" : String(hostPart)
        do {
            try self.init(host: host, port: port)
        } catch {
            throw SocketAddressError(input: text, reason: error.reason)
        }
    }

    public var description: String { isIPv6 ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// Calls `body` with this address as a sockaddr, for bind and connect.
    func withSockAddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) throws(SocketError) -> R) throws(SocketError) -> R {
        if isIPv6 {
            var storage = sockaddr_in6()
            storage.sin6_family = sa_family_t(AF_INET6)
            storage.sin6_port = port.bigEndian
            _ = inet_pton(AF_INET6, host, &storage.sin6_addr)
            return try withUnsafePointer(to: &storage) { (pointer) throws(SocketError) -> R in
                try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { (raw) throws(SocketError) -> R in
                    try body(raw, socklen_t(MemoryLayout<sockaddr_in6>.size))
                }
            }
        } else {
            var storage = sockaddr_in()
            storage.sin_family = sa_family_t(AF_INET)
            storage.sin_port = port.bigEndian
            _ = inet_pton(AF_INET, host, &storage.sin_addr)
            return try withUnsafePointer(to: &storage) { (pointer) throws(SocketError) -> R in
                try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { (raw) throws(SocketError) -> R in
                    try body(raw, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
    }

    /// Reads an address the kernel filled in (accept, getsockname); nil for families other than IPv4/IPv6.
    init?(storage: UnsafePointer<sockaddr_storage>) {
        switch Int32(storage.pointee.ss_family) {
        case AF_INET:
            let address = UnsafeRawPointer(storage).load(as: sockaddr_in.self)
            var copy = address.sin_addr
            var text = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
            guard inet_ntop(AF_INET, &copy, &text, socklen_t(text.count)) != nil else { return nil }
            self.init(uncheckedHost: String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self),
                      port: UInt16(bigEndian: address.sin_port), isIPv6: false)
        case AF_INET6:
            let address = UnsafeRawPointer(storage).load(as: sockaddr_in6.self)
            var copy = address.sin6_addr
            let bytes = withUnsafeBytes(of: &copy) { Array($0) }
            if bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF {
                // An IPv4 client of a dual-stack "[::]" listener (::ffff:a.b.c.d): logs and source checks see
                // the IPv4 address it really has.
                self.init(uncheckedHost: "\(bytes[12]).\(bytes[13]).\(bytes[14]).\(bytes[15])",
                          port: UInt16(bigEndian: address.sin6_port), isIPv6: false)
                return
            }
            var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            guard inet_ntop(AF_INET6, &copy, &text, socklen_t(text.count)) != nil else { return nil }
            self.init(uncheckedHost: String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self),
                      port: UInt16(bigEndian: address.sin6_port), isIPv6: true)
        default:
            return nil
        }
    }
}
