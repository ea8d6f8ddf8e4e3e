import Foundation
import Logging
import Sockets
import Synchronization

/// A response produced off the loop, handed back through the mailbox.
struct Completion: Sendable {
    let connectionID: UInt64
    let response: HTTPResponse
    let isHead: Bool
    let method: HTTPMethod
    let path: String
    let startedAt: Int
}

/// One thread, one epoll set, one listener. All connection state is touched only by this loop's thread, which
/// is why the class is `@unchecked Sendable`: only `requestShutdown` and `post` cross threads, and both go
/// through the mutex-protected mailbox plus the eventfd.
final class EventLoop: @unchecked Sendable {
    let index: Int
    private let listener: TCPSocket
    private var listenerOpen = true
    /// What the loop needs of its server, held strongly: the loop thread can outlive the last reference to the
    /// `HTTPServer` (released after `shutdown()` without `waitUntilStopped()`), and must not touch a freed object.
    private let shared: SharedServerState
    private let router: HTTPRouter
    private let handlerExecutor: HandlerExecutor
    private let epoll: Epoll
    private let wakeup: EventFD
    private let mailbox = Mutex<(completions: [Completion], shutdown: Bool)>(([], false))
    private var connections: [UInt64: Connection] = [:]
    private var nextConnectionID: UInt64 = 2
    private var readBuffer: UnsafeMutableRawBufferPointer
    private var dateCache = HTTPDateCache()
    private var shuttingDown = false
    private var shutdownDeadline = Int.max
    private var lastSweep = 0
    /// The loop's own thread, so a deferred handler that answers at once is completed inline.
    private var loopThread: pthread_t?
    /// The connection whose deferred handler is running right now on this thread.
    private var dispatchingConnectionID: UInt64?
    private let configuration: HTTPServerConfiguration
    private let logger: Logger
    /// Given up when accept hits EMFILE, so the waiting connection can be taken off the backlog and closed.
    private let reserve = ReserveDescriptor()
    /// While set, the listener is out of the epoll set until this time: accept failed in a way that retrying at
    /// once cannot fix, and a level-triggered listener would otherwise spin.
    private var listenerResumesAt: Int?
    private var lastAcceptErrorLog: Int?
    private var acceptErrorsSinceLog = 0

    private static let listenerToken: UInt64 = 0
    private static let wakeupToken: UInt64 = 1
    private static let sweepIntervalMilliseconds: Int32 = 200
    private static let acceptBackoffMilliseconds = 100
    private static let acceptErrorLogIntervalMilliseconds = 10_000

    init(index: Int, listener: TCPSocket, server: HTTPServer) throws {
        self.index = index
        self.listener = listener
        self.shared = server.shared
        self.router = server.router
        self.handlerExecutor = server.handlerExecutor
        self.configuration = server.configuration
        self.logger = server.logger
        epoll = try Epoll()
        wakeup = try EventFD()
        readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)
        try epoll.add(listener.descriptor, events: .readable, token: Self.listenerToken)
        try epoll.add(wakeup.descriptor, events: .readable, token: Self.wakeupToken)
    }

    deinit {
        readBuffer.deallocate()
    }

    func closeListener() {
        guard listenerOpen else { return }
        listenerOpen = false
        epoll.remove(listener.descriptor)
        listener.close()
    }

    private func pauseListener(now: Int) {
        guard listenerOpen, listenerResumesAt == nil else { return }
        listenerResumesAt = now + Self.acceptBackoffMilliseconds
        try? epoll.modify(listener.descriptor, events: [], token: Self.listenerToken)
    }

    private func resumeListenerIfDue(now: Int) {
        guard let resumesAt = listenerResumesAt, now >= resumesAt else { return }
        listenerResumesAt = nil
        guard listenerOpen else { return }
        try? epoll.modify(listener.descriptor, events: .readable, token: Self.listenerToken)
        acceptAll()
    }

    func requestShutdown() {
        mailbox.withLock { $0.shutdown = true }
        wakeup.signal()
    }

    func post(_ completion: Completion) {
        // Only the first completion into an empty mailbox needs a wake-up: the loop drains everything at once.
        let wasEmpty = mailbox.withLock { state -> Bool in
            state.completions.append(completion)
            return state.completions.count == 1
        }
        if wasEmpty { wakeup.signal() }
    }

    // MARK: loop

    func run() {
        loopThread = pthread_self()
        while true {
            var timeout = Self.sweepIntervalMilliseconds
            if let resumesAt = listenerResumesAt {
                timeout = Int32(clamping: max(0, min(Int(timeout), resumesAt - monotonicMilliseconds())))
            }
            do {
                try epoll.wait(timeoutMilliseconds: timeout) { token, events in
                    switch token {
                    case Self.listenerToken: acceptAll()
                    case Self.wakeupToken: drainMailbox()
                    default: handle(token, events)
                    }
                }
            } catch {
                logger.error("epoll_wait failed; stopping loop", metadata: ["listener": "\(configuration.name)", "error": "\(error)"])
                break
            }
            let now = monotonicMilliseconds()
            resumeListenerIfDue(now: now)
            if now - lastSweep >= Int(Self.sweepIntervalMilliseconds) {
                lastSweep = now
                sweepTimeouts(now: now)
            }
            if shuttingDown, connections.isEmpty || now >= shutdownDeadline { break }
        }
        for connection in Array(connections.values) { close(connection) }
        closeListener()
    }

    private func acceptAll() {
        // Connections accepted in this call have not been read yet: closing one to admit the next is churn, and
        // its unread request would turn our close into a reset.
        let firstOfBatch = nextConnectionID
        while listenerOpen, listenerResumesAt == nil {
            let accepted: IOResult<(TCPSocket, SocketAddress?)>
            do {
                accepted = try listener.accept()
            } catch {
                guard handleAcceptFailure(error, firstOfBatch: firstOfBatch) else { return }
                continue
            }
            guard case .processed(let (socket, peer)) = accepted else { return }
            let open = shared.openConnections.wrappingAdd(1, ordering: .relaxed).newValue
            if shuttingDown || (open > configuration.maxConnections && !closeLongestIdle(acceptedBefore: firstOfBatch)) {
                refuse(socket)
                continue
            }
            let id = nextConnectionID
            nextConnectionID += 1
            let connection = Connection(id: id, socket: socket, peer: peer, limits: configuration.limits, now: monotonicMilliseconds())
            do {
                try epoll.add(socket.descriptor, events: [.readable, .peerHangUp], token: id)
            } catch {
                socket.close()
                shared.openConnections.wrappingSubtract(1, ordering: .relaxed)
                continue
            }
            connections[id] = connection
        }
    }

    /// Counts and (rate-limited) logs a failed accept, then frees a descriptor if it can. Returns true when
    /// accepting again may succeed now; otherwise the listener is paused briefly, since the pending connection
    /// stays in the backlog and a level-triggered listener would report it again at once.
    private func handleAcceptFailure(_ error: SocketError, firstOfBatch: UInt64) -> Bool {
        // Out of descriptors with nobody waiting is not a failure to act on: the next connection wakes us.
        if error.isOutOfDescriptors, !listener.hasPendingConnection() { return false }
        let reason: HTTPServer.AcceptErrorReason = !error.isOutOfDescriptors ? .other
            : error.isProcessDescriptorLimit ? .processDescriptorLimit : .systemDescriptorLimit
        shared.countAcceptError(reason)
        let now = monotonicMilliseconds()
        acceptErrorsSinceLog += 1
        if lastAcceptErrorLog.map({ now - $0 >= Self.acceptErrorLogIntervalMilliseconds }) ?? true {
            logger.error("accept failed", metadata: ["listener": "\(configuration.name)", "loop": "\(index)", "error": "\(error)",
                                                     "reason": "\(reason.rawValue)", "failures_since_last_log": "\(acceptErrorsSinceLog)",
                                                     "open_connections": "\(connections.count)"])
            lastAcceptErrorLog = now
            acceptErrorsSinceLog = 0
        }
        guard error.isOutOfDescriptors else {
            pauseListener(now: now)
            return false
        }
        // Out of descriptors: an idle connection of ours makes room for the new one, as at the connection cap.
        if reason == .processDescriptorLimit, closeLongestIdle(acceptedBefore: firstOfBatch) { return true }
        // Otherwise take the waiting connection with the reserve descriptor and answer it 503, so it leaves the
        // backlog instead of being reported again and again.
        guard reserve.isHeld else {
            reserve.reacquire()
            pauseListener(now: now)
            return false
        }
        reserve.release()
        let taken: IOResult<(TCPSocket, SocketAddress?)>? = try? listener.accept()
        if case .processed(let (socket, _))? = taken {
            shared.openConnections.wrappingAdd(1, ordering: .relaxed)
            refuse(socket)
        }
        let reacquired = reserve.reacquire()
        switch taken {
        case .processed?: break
        case .wouldBlock?: return false  // the backlog is empty: wait for the next connection
        case nil:
            // Even the freed descriptor did not let accept succeed (ENFILE, or another thread took it).
            pauseListener(now: now)
            return false
        }
        guard reacquired else {
            pauseListener(now: now)
            return false
        }
        return true
    }

    /// At the connection cap: closes this loop's connection that has been idle longest (between requests, or
    /// silent since accept) so a new one can take its place. False when none is idle. A linear scan, since it
    /// runs only at the cap and is cheap next to the accept it serves.
    private func closeLongestIdle(acceptedBefore firstOfBatch: UInt64) -> Bool {
        var oldest: Connection?
        for connection in connections.values where connection.id < firstOfBatch && connection.isIdle {
            if let current = oldest, current.lastActivity <= connection.lastActivity { continue }
            oldest = connection
        }
        guard let oldest else { return false }
        shared.idleConnectionsClosed.wrappingAdd(1, ordering: .relaxed)
        close(oldest)
        return true
    }

    /// Over the connection limit: a short 503 on a fresh socket always fits the send buffer, so the peer learns why.
    private func refuse(_ socket: TCPSocket) {
        // Counted before the 503 leaves, so whoever has read it (a test, a scrape after a client's report) sees it.
        shared.connectionsRefused.wrappingAdd(1, ordering: .relaxed)
        _ = HTTPResponseEncoder.refusal.withUnsafeBytes { try? socket.write($0) }
        socket.shutdownWrite()
        socket.close()
        shared.openConnections.wrappingSubtract(1, ordering: .relaxed)
    }

    private func drainMailbox() {
        wakeup.drain()
        let (completions, shutdown) = mailbox.withLock { state -> ([Completion], Bool) in
            let taken = state.completions
            state.completions.removeAll(keepingCapacity: true)
            return (taken, state.shutdown)
        }
        for completion in completions {
            shared.asyncHandlersInFlight.wrappingSubtract(1, ordering: .relaxed)
            guard let connection = connections[completion.connectionID] else { continue }
            connection.state = .reading
            enqueue(completion.response, on: connection, isHead: completion.isHead, method: completion.method,
                    path: completion.path, startedAt: completion.startedAt)
            guard connections[completion.connectionID] != nil else { continue }
            if connection.state == .reading {
                if connection.pausedReading {
                    connection.pausedReading = false
                    updateInterest(connection)
                }
                processInput(connection)
            }
            flush(connection)
        }
        if shutdown, !shuttingDown { beginShutdown() }
    }

    private func completeDuringDispatch(_ completion: Completion) {
        shared.asyncHandlersInFlight.wrappingSubtract(1, ordering: .relaxed)
        dispatchingConnectionID = nil
        guard let connection = connections[completion.connectionID] else { return }
        connection.state = .reading
        enqueue(completion.response, on: connection, isHead: completion.isHead, method: completion.method,
                path: completion.path, startedAt: completion.startedAt)
    }

    private func beginShutdown() {
        shuttingDown = true
        shutdownDeadline = monotonicMilliseconds() + configuration.timeouts.shutdownGraceMilliseconds
        // Take what is already queued so those clients get an answer rather than a reset.
        acceptAll()
        closeListener()
        for connection in Array(connections.values) {
            connection.closeAfterCurrent = true
            if connection.state == .reading, connection.outbound.count == connection.outboundOffset,
               !connection.parser.isMidRequest(bufferedBytes: connection.inbound.count - connection.inboundOffset) {
                close(connection)
            }
        }
        logger.info("shutting down listener", metadata: ["listener": "\(configuration.name)", "loop": "\(index)",
                                                         "in_flight_connections": "\(connections.count)"])
    }

    // MARK: connection events

    private func handle(_ token: UInt64, _ events: EpollEvents) {
        guard let connection = connections[token] else { return }
        if events.contains(.error) {
            close(connection)
            return
        }
        if events.contains(.writable) {
            flush(connection)
            guard connections[token] != nil else { return }
        }
        if connection.pausedForOutput {
            // Not reading until the output drains; a peer that hung up entirely will never read it.
            if events.contains(.hangUp) { close(connection) }
            return
        }
        if events.contains(.readable) || events.contains(.peerHangUp) || events.contains(.hangUp) {
            readAvailable(connection)
        }
    }

    private func readAvailable(_ connection: Connection) {
        let result: IOResult<Int>
        do {
            result = try connection.socket.read(into: readBuffer)
        } catch {
            close(connection)
            return
        }
        guard case .processed(let count) = result else { return }
        if count == 0 {
            // Peer closed. A request still being handled gets no answer anyway, so close now.
            close(connection)
            return
        }
        let now = monotonicMilliseconds()
        if connection.state == .lingering { return }
        if connection.inbound.count == connection.inboundOffset {
            connection.inbound.removeAll(keepingCapacity: true)
            connection.inboundOffset = 0
            // A first request's head time runs from accept; later ones from their first byte.
            if !connection.awaitingFirstRequest, !connection.parser.isMidRequest(bufferedBytes: 0) { connection.requestStartedAt = now }
        }
        connection.inbound.append(contentsOf: UnsafeRawBufferPointer(rebasing: readBuffer[0..<count]))
        connection.lastActivity = now
        if connection.state == .reading {
            processInput(connection)
            flush(connection)
        } else if connection.state == .awaitingHandler, connection.inbound.count - connection.inboundOffset > 64 * 1024 {
            // A pipelining client got ahead of a slow handler: stop reading until its response is out, so the
            // buffer stays bounded (interest is restored when the response is queued).
            connection.pausedReading = true
            updateInterest(connection)
        }
    }

    /// Parses and answers as many complete requests as are buffered, stopping at one dispatched off the loop so
    /// pipelined responses keep their order.
    private func processInput(_ connection: Connection) {
        while connection.state == .reading, connections[connection.id] != nil {
            if connection.unsentOutput > configuration.maxOutputBufferBytes {
                // Backpressure: answers are piling up unread; stop parsing and reading until they are written.
                shared.notePendingOutput(connection.unsentOutput)
                shared.readsPausedForOutput.wrappingAdd(1, ordering: .relaxed)
                connection.pausedForOutput = true
                updateInterest(connection)
                return
            }
            let available = connection.inbound.count - connection.inboundOffset
            let wasReadingBody = connection.parser.isReadingBody
            let (event, consumed) = connection.inbound.withUnsafeBytes { buffer in
                connection.parser.parse(UnsafeRawBufferPointer(rebasing: buffer[connection.inboundOffset...]),
                                        remoteAddress: connection.peer)
            }
            connection.inboundOffset += consumed
            if !wasReadingBody, connection.parser.isReadingBody { connection.bodyStartedAt = monotonicMilliseconds() }
            switch event {
            case .needMore:
                compactInbound(connection)
                return
            case .expectsContinue:
                HTTPResponseEncoder.encodeContinue(into: &connection.outbound)
                compactInbound(connection)
                return
            case .failure(let error):
                connection.awaitingFirstRequest = false
                logger.debug("rejected request", metadata: ["listener": "\(configuration.name)", "status": "\(error.status.code)",
                                                             "reason": "\(error.code)", "peer": "\(connection.peer.map { "\($0)" } ?? "-")"])
                connection.closeAfterCurrent = true
                enqueue(HTTPResponse.error(error.status, code: error.code, message: error.message), on: connection,
                        isHead: false, method: "-", path: "-", startedAt: monotonicMilliseconds())
                return
            case .request(let request):
                connection.awaitingFirstRequest = false
                if available == consumed { compactInbound(connection) }
                dispatch(request, on: connection)
            }
        }
    }

    private func compactInbound(_ connection: Connection) {
        if connection.inboundOffset == connection.inbound.count {
            connection.inbound.removeAll(keepingCapacity: connection.inbound.capacity <= 64 * 1024)
            connection.inboundOffset = 0
        } else if connection.inboundOffset > 32 * 1024 {
            connection.inbound.removeFirst(connection.inboundOffset)
            connection.inboundOffset = 0
        }
    }

    private func dispatch(_ incoming: HTTPRequest, on connection: Connection) {
        var request = incoming
        let startedAt = monotonicMilliseconds()
        if !request.keepAlive { connection.closeAfterCurrent = true }
        connection.currentWantsKeepAliveHeader = request.version == .http1_0 && request.keepAlive
        let isHead = request.method == .head
        switch router.resolve(method: request.method, path: request.path) {
        case .notFound:
            let response = router.unroutedResponder.map { $0(request, .notFound) }
                ?? .error(.notFound, code: "not_found", message: "no route for this path")
            enqueue(response, on: connection, isHead: isHead, method: request.method, path: request.path, startedAt: startedAt)
        case .methodNotAllowed(let allow):
            var response = router.unroutedResponder.map { $0(request, .methodNotAllowed(allow: allow)) }
                ?? .error(.methodNotAllowed, code: "method_not_allowed", message: "allowed: \(allow)")
            if response.status.code == 405, response.headers["Allow"] == nil { response.headers.add(name: "Allow", value: allow) }
            enqueue(response, on: connection, isHead: isHead, method: request.method, path: request.path, startedAt: startedAt)
        case .handler(.inline(let handler), let parameters):
            if !parameters.isEmpty { request.pathParameters = parameters }
            enqueue(handler(request), on: connection, isHead: isHead, method: request.method, path: request.path, startedAt: startedAt)
        case .handler(.async(let handler), let parameters):
            if !parameters.isEmpty { request.pathParameters = parameters }
            let inFlight = shared.asyncHandlersInFlight.wrappingAdd(1, ordering: .relaxed).newValue
            if inFlight > configuration.maxConcurrentAsyncHandlers {
                shared.asyncHandlersInFlight.wrappingSubtract(1, ordering: .relaxed)
                enqueue(.error(.serviceUnavailable, code: "overloaded", message: "too many requests in progress",
                               headers: HTTPHeaders([("Retry-After", "1")])),
                        on: connection, isHead: isHead, method: request.method, path: request.path, startedAt: startedAt)
                return
            }
            connection.state = .awaitingHandler
            let id = connection.id
            let method = request.method
            let path = request.path
            Task(executorPreference: handlerExecutor) { [self] in
                let response = await handler(request)
                post(Completion(connectionID: id, response: response, isHead: isHead, method: method, path: path, startedAt: startedAt))
            }
        case .handler(.deferred(let handler), let parameters):
            if !parameters.isEmpty { request.pathParameters = parameters }
            connection.state = .awaitingHandler
            let id = connection.id
            let method = request.method
            let path = request.path
            shared.asyncHandlersInFlight.wrappingAdd(1, ordering: .relaxed)
            dispatchingConnectionID = id
            handler(request, HTTPResponseSink { [self] response in
                let completion = Completion(connectionID: id, response: response, isHead: isHead, method: method, path: path, startedAt: startedAt)
                if let loopThread, pthread_equal(pthread_self(), loopThread) != 0, dispatchingConnectionID == id {
                    // Answered during dispatch (a cache hit): queue the response here; processInput goes on.
                    completeDuringDispatch(completion)
                } else {
                    post(completion)
                }
            })
            dispatchingConnectionID = nil
        }
    }

    // MARK: writing

    private func enqueue(_ response: HTTPResponse, on connection: Connection, isHead: Bool, method: HTTPMethod, path: String, startedAt: Int) {
        if response.dropsConnection {
            close(connection)
            return
        }
        if shuttingDown { connection.closeAfterCurrent = true }
        let closing = connection.closeAfterCurrent
        let persistence: HTTPResponseEncoder.Persistence = closing ? .close
            : connection.currentWantsKeepAliveHeader ? .announcedKeepAlive : .keepAlive
        HTTPResponseEncoder.encode(response, date: dateCache.current(), isHead: isHead, persistence: persistence,
                                   into: &connection.outbound)
        if closing { connection.state = .closing }
        logger.debug("request", metadata: ["listener": "\(configuration.name)", "method": "\(method)", "path": "\(path)",
                                           "status": "\(response.status.code)", "ms": "\(monotonicMilliseconds() - startedAt)"])
    }

    private func flush(_ connection: Connection) {
        while writePending(connection) {
            guard connection.pausedForOutput else { break }
            // Drained: read and parse again. If that queues more, write it before deciding anything else.
            connection.pausedForOutput = false
            updateInterest(connection)
            processInput(connection)
            guard connections[connection.id] != nil else { return }
            if connection.unsentOutput == 0 { break }
        }
        guard connections[connection.id] != nil, connection.unsentOutput == 0 else { return }
        if connection.state == .closing {
            // Half-close, then read and discard until the peer closes: closing with unread input would send a
            // RST that can destroy the response we just wrote before the client reads it.
            connection.socket.shutdownWrite()
            connection.state = .lingering
            connection.lingerDeadline = monotonicMilliseconds() + 2_000
            updateInterest(connection)
        } else if shuttingDown, connection.state == .reading,
                  !connection.parser.isMidRequest(bufferedBytes: connection.inbound.count - connection.inboundOffset) {
            close(connection)
        }
    }

    /// Writes what the kernel takes; true when everything queued is written (and the connection still open).
    private func writePending(_ connection: Connection) -> Bool {
        guard connections[connection.id] != nil else { return false }
        if connection.unsentOutput > 0 { shared.notePendingOutput(connection.unsentOutput) }
        while connection.outboundOffset < connection.outbound.count {
            let result: IOResult<Int>
            do {
                result = try connection.outbound.withUnsafeBytes { buffer in
                    try connection.socket.write(UnsafeRawBufferPointer(rebasing: buffer[connection.outboundOffset...]))
                }
            } catch {
                close(connection)
                return false
            }
            switch result {
            case .processed(let written):
                connection.outboundOffset += written
                connection.lastWriteProgress = monotonicMilliseconds()
            case .wouldBlock:
                if !connection.watchingWritable {
                    connection.watchingWritable = true
                    connection.lastWriteProgress = monotonicMilliseconds()
                    updateInterest(connection)
                }
                return false
            }
        }
        if !connection.outbound.isEmpty {
            // Idle from the moment the answer is out, not from when the request came in.
            connection.lastActivity = connection.lastWriteProgress
        }
        connection.outbound.removeAll(keepingCapacity: connection.outbound.capacity <= 64 * 1024)
        connection.outboundOffset = 0
        if connection.watchingWritable {
            connection.watchingWritable = false
            updateInterest(connection)
        }
        return true
    }

    private func updateInterest(_ connection: Connection) {
        // Paused for output, even a half-close is left unread: level-triggered, it would be reported on every wait.
        var events: EpollEvents = connection.pausedForOutput ? [] : [.peerHangUp]
        if !connection.pausedReading, !connection.pausedForOutput { events.insert(.readable) }
        if connection.watchingWritable { events.insert(.writable) }
        try? epoll.modify(connection.socket.descriptor, events: events, token: connection.id)
    }

    private func close(_ connection: Connection) {
        guard connections.removeValue(forKey: connection.id) != nil else { return }
        epoll.remove(connection.socket.descriptor)
        connection.socket.close()
        shared.openConnections.wrappingSubtract(1, ordering: .relaxed)
    }

    // MARK: timeouts

    private func sweepTimeouts(now: Int) {
        dateCache.refresh()
        let timeouts = configuration.timeouts
        for connection in Array(connections.values) {
            if connection.outboundOffset < connection.outbound.count {
                if now - connection.lastWriteProgress > timeouts.writeMilliseconds { close(connection) }
                continue
            }
            switch connection.state {
            case .lingering:
                if now >= connection.lingerDeadline { close(connection) }
            case .awaitingHandler, .closing:
                continue
            case .reading:
                let buffered = connection.inbound.count - connection.inboundOffset
                if connection.parser.isReadingBody {
                    if now - connection.bodyStartedAt > timeouts.bodyReadMilliseconds {
                        timeOut(connection, code: "body_timeout", message: "request body not received in time")
                    }
                } else if connection.parser.isMidRequest(bufferedBytes: buffered) {
                    if now - connection.requestStartedAt > timeouts.headerReadMilliseconds {
                        timeOut(connection, code: "header_timeout", message: "request head not received in time")
                    }
                } else if connection.awaitingFirstRequest {
                    // Silent since accept: it gets the header time, not the keep-alive idle time, so connections
                    // that never speak cannot hold slots for a minute. Nothing was asked, so nothing is answered.
                    if now - connection.requestStartedAt > timeouts.headerReadMilliseconds { close(connection) }
                } else if now - connection.lastActivity > timeouts.idleMilliseconds {
                    close(connection)
                }
            }
        }
    }

    private func timeOut(_ connection: Connection, code: String, message: String) {
        logger.debug("request timed out", metadata: ["listener": "\(configuration.name)", "reason": "\(code)"])
        connection.closeAfterCurrent = true
        enqueue(.error(.requestTimeout, code: code, message: message), on: connection, isHead: false, method: "-", path: "-",
                startedAt: monotonicMilliseconds())
        flush(connection)
    }
}

/// Per-connection state, confined to its loop.
final class Connection {
    enum State { case reading, awaitingHandler, closing, lingering }

    let id: UInt64
    let socket: TCPSocket
    let peer: SocketAddress?
    var parser: HTTPRequestParser
    var state = State.reading
    var inbound: [UInt8] = []
    var inboundOffset = 0
    var outbound: [UInt8] = []
    var outboundOffset = 0
    var watchingWritable = false
    /// Input paused because a pipelining client got ahead of a slow handler.
    var pausedReading = false
    /// Input paused because unsent output passed `maxOutputBufferBytes` (backpressure).
    var pausedForOutput = false
    /// No request parsed yet: the head timeout runs from accept.
    var awaitingFirstRequest = true
    var closeAfterCurrent = false
    var currentWantsKeepAliveHeader = false
    var requestStartedAt: Int
    var bodyStartedAt: Int
    var lastActivity: Int
    var lastWriteProgress: Int
    var lingerDeadline = 0

    var unsentOutput: Int { outbound.count - outboundOffset }

    /// Between requests or silent since accept, with nothing to send: closing it loses no work.
    var isIdle: Bool {
        state == .reading && unsentOutput == 0 && !pausedForOutput && !parser.isMidRequest(bufferedBytes: inbound.count - inboundOffset)
    }

    init(id: UInt64, socket: TCPSocket, peer: SocketAddress?, limits: HTTPLimits, now: Int) {
        self.id = id
        self.socket = socket
        self.peer = peer
        self.parser = HTTPRequestParser(limits: limits)
        requestStartedAt = now
        bodyStartedAt = now
        lastActivity = now
        lastWriteProgress = now
    }
}
