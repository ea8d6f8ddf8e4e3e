#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// Readiness an event loop can wait for.
public struct EpollEvents: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let readable = EpollEvents(rawValue: clinux_epollin())
    public static let writable = EpollEvents(rawValue: clinux_epollout())
    public static let peerHangUp = EpollEvents(rawValue: clinux_epollrdhup())
    public static let error = EpollEvents(rawValue: clinux_epollerr())
    public static let hangUp = EpollEvents(rawValue: clinux_epollhup())
}

/// One epoll instance; owned by a single event-loop thread, so it is not Sendable.
public final class Epoll {
    private let descriptor: Int32
    private let events: UnsafeMutableRawPointer
    private let capacity: Int32

    /// Creates the epoll set; `capacity` is how many ready descriptors one wait returns at most.
    public init(capacity: Int32 = 256) throws(SocketError) {
        descriptor = try syscall("epoll_create1") { clinux_epoll_create() }
        self.capacity = capacity
        events = UnsafeMutableRawPointer.allocate(byteCount: Int(clinux_epoll_event_size()) * Int(capacity), alignment: 16)
    }

    deinit {
        events.deallocate()
        closeDescriptor(descriptor)
    }

    /// Starts watching `fd`; `token` comes back with each event so the loop finds its connection without a lookup by fd.
    public func add(_ fd: Int32, events interest: EpollEvents, token: UInt64) throws(SocketError) {
        try control(EPOLL_CTL_ADD, fd, interest, token, name: "epoll_ctl(ADD)")
    }

    /// Changes what `fd` is watched for.
    public func modify(_ fd: Int32, events interest: EpollEvents, token: UInt64) throws(SocketError) {
        try control(EPOLL_CTL_MOD, fd, interest, token, name: "epoll_ctl(MOD)")
    }

    /// Stops watching `fd`; errors are ignored because the descriptor is about to be closed anyway.
    public func remove(_ fd: Int32) {
        var event = epoll_event()
        _ = epoll_ctl(descriptor, EPOLL_CTL_DEL, fd, &event)
    }

    private func control(_ operation: Int32, _ fd: Int32, _ interest: EpollEvents, _ token: UInt64, name: StaticString) throws(SocketError) {
        var event = epoll_event()
        clinux_epoll_event_set(&event, interest.rawValue, token)
        _ = try syscall(name) { epoll_ctl(descriptor, operation, fd, &event) }
    }

    /// Waits up to `timeoutMilliseconds` (-1 forever) and calls `handle` for each ready descriptor.
    public func wait(timeoutMilliseconds: Int32, _ handle: (UInt64, EpollEvents) -> Void) throws(SocketError) {
        let typed = events.assumingMemoryBound(to: epoll_event.self)
        let count: Int32
        let result = epoll_wait(descriptor, typed, capacity, timeoutMilliseconds)
        if result == -1 {
            let code = clinux_errno()
            if code == EINTR { return }
            throw SocketError(call: "epoll_wait", errno: code)
        }
        count = result
        for index in 0..<count {
            handle(clinux_epoll_event_data(typed, index), EpollEvents(rawValue: clinux_epoll_event_events(typed, index)))
        }
    }
}

/// An eventfd used to wake a loop blocked in epoll_wait when another thread hands it work.
public final class EventFD: Sendable {
    /// The raw descriptor, for epoll registration.
    public let descriptor: Int32

    public init() throws(SocketError) {
        descriptor = try syscall("eventfd") { clinux_eventfd() }
    }

    deinit { closeDescriptor(descriptor) }

    /// Wakes the waiting loop; safe from any thread. A full counter still means "awake", so errors are ignored.
    public func signal() {
        var one: UInt64 = 1
        _ = Glibc.write(descriptor, &one, 8)
    }

    /// Clears pending wake-ups.
    public func drain() {
        var value: UInt64 = 0
        _ = Glibc.read(descriptor, &value, 8)
    }
}
