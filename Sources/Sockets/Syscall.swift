#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// The result of a non-blocking call: either it made progress or the kernel asked us to wait for readiness.
public enum IOResult<Value> {
    case processed(Value)
    case wouldBlock
}

/// Runs a syscall that returns -1 on failure, retrying EINTR and reading errno at once,
/// so no other call can clobber it. Every socket call in this module goes through here.
@inline(__always)
func syscall<T: FixedWidthInteger>(_ name: StaticString, _ body: () -> T) throws(SocketError) -> T {
    while true {
        let result = body()
        if result != -1 { return result }
        let code = clinux_errno()
        if code == EINTR { continue }
        throw SocketError(call: "\(name)", errno: code)
    }
}

/// Like `syscall`, but returns EAGAIN/EWOULDBLOCK as `.wouldBlock` since that is flow control, not failure.
@inline(__always)
func nonBlockingSyscall<T: FixedWidthInteger>(_ name: StaticString, _ body: () -> T) throws(SocketError) -> IOResult<T> {
    while true {
        let result = body()
        if result != -1 { return .processed(result) }
        let code = clinux_errno()
        if code == EINTR { continue }
        if code == EAGAIN || code == EWOULDBLOCK { return .wouldBlock }
        throw SocketError(call: "\(name)", errno: code)
    }
}

/// Closes a descriptor exactly once; EINTR still means closed on Linux, so it is never retried.
func closeDescriptor(_ fd: Int32) {
    _ = Glibc.close(fd)
}

/// Names the calling thread as the kernel sees it (Foundation's `Thread.name` does not reach it on Linux), so
/// `top -H`, perf and gdb show which loop or pool a thread belongs to.
public func setCurrentThreadName(_ name: String) {
    clinux_set_thread_name(name)
}
