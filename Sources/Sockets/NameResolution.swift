#if canImport(Glibc)
import Glibc
#endif
import CLinux

extension SocketAddress {
    /// The TCP addresses of `host`, in the resolver's order of preference: a numeric address or `localhost` as it
    /// is, any other name through getaddrinfo (so /etc/hosts, DNS and the cluster's search domains apply).
    /// It blocks for as long as the resolver takes, so it belongs on a thread that may block.
    /// - Throws: `NameResolutionError` when the name does not resolve or the resolver fails.
    public static func resolve(host: String, port: UInt16) throws(NameResolutionError) -> [SocketAddress] {
        if let numeric = try? SocketAddress(host: host, port: port) { return [numeric] }
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, nil, &hints, &list)
        guard status == 0 else {
            throw NameResolutionError(host: host, code: status, systemErrno: status == EAI_SYSTEM ? errno : 0)
        }
        defer { freeaddrinfo(list) }
        var addresses: [SocketAddress] = []
        var entry = list
        while let current = entry {
            entry = current.pointee.ai_next
            guard let raw = current.pointee.ai_addr else { continue }
            var storage = sockaddr_storage()
            withUnsafeMutableBytes(of: &storage) { destination in
                destination.copyMemory(from: UnsafeRawBufferPointer(start: raw, count: min(Int(current.pointee.ai_addrlen), destination.count)))
            }
            // The entry carries port 0 (no service was asked for); the address is taken with the caller's port.
            guard let found = SocketAddress(storage: &storage), let address = try? SocketAddress(host: found.host, port: port),
                  !addresses.contains(address) else { continue }
            addresses.append(address)
        }
        guard !addresses.isEmpty else { throw NameResolutionError(host: host, code: EAI_NONAME, systemErrno: 0) }
        return addresses
    }
}

/// A host name that did not resolve: the name (not a secret) and the resolver's own reason.
public struct NameResolutionError: Error, Sendable, Hashable, CustomStringConvertible {
    public let host: String
    /// getaddrinfo's EAI_* code.
    public let code: Int32
    /// errno when `code` is EAI_SYSTEM, else 0.
    public let systemErrno: Int32

    public var description: String {
        let reason = systemErrno != 0 ? String(cString: strerror(systemErrno)) : String(cString: gai_strerror(code))
        return "cannot resolve \(host): \(reason)"
    }
}
