#if canImport(Glibc)
import Glibc
#endif

/// One descriptor (on /dev/null) held back for the moment the process runs out: giving it up lets a listener
/// accept the connection that is waiting and close it at once, instead of leaving it in the backlog, where a
/// level-triggered epoll reports it again and again (the "accept spin"). Owned by one event loop.
public final class ReserveDescriptor {
    private var descriptor: Int32 = -1

    /// Takes the descriptor at once; `isHeld` is false if even that failed.
    public init() { reacquire() }

    deinit { release() }

    /// Whether the reserve is held and so can be given up once more.
    public var isHeld: Bool { descriptor >= 0 }

    /// Gives the descriptor back to the kernel so the next accept can have it.
    public func release() {
        guard descriptor >= 0 else { return }
        closeDescriptor(descriptor)
        descriptor = -1
    }

    /// Takes a descriptor again; false while none is free (try later).
    @discardableResult
    public func reacquire() -> Bool {
        if descriptor < 0 { descriptor = open("/dev/null", O_RDONLY | O_CLOEXEC) }
        return descriptor >= 0
    }
}
