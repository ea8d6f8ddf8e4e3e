#if canImport(Glibc)
import Glibc
#endif

/// A failed socket or epoll call, keeping the call's name and errno so logs say what failed and why.
public struct SocketError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The system call that failed, e.g. "bind".
    public let call: String
    /// The errno it left.
    public let errno: Int32

    public init(call: String, errno: Int32) {
        self.call = call
        self.errno = errno
    }

    public var description: String {
        "\(call) failed: \(String(cString: strerror(errno))) (errno \(errno))"
    }
}

/// Why a listen address could not be used.
public struct SocketAddressError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The text that did not parse, as given by the operator (an address is not a secret).
    public let input: String
    /// What is wrong with it.
    public let reason: String

    public var description: String { "invalid listen address '\(input)': \(reason)" }
}

extension SocketError {
    /// True for EMFILE (this process) and ENFILE (the whole system): no descriptor left for a new connection.
    public var isOutOfDescriptors: Bool { errno == EMFILE || errno == ENFILE }

    /// True for EMFILE: the per-process limit (RLIMIT_NOFILE), which closing one of our own descriptors relieves.
    public var isProcessDescriptorLimit: Bool { errno == EMFILE }
}
