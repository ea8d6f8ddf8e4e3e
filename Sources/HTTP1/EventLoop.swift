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
                try epoll.add(socket.descriptor, events: connection.machine.interest, token: id)
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
            if let current = oldest, current.machine.lastActivity <= connection.machine.lastActivity { continue }
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
            let actions = respond(completion.response, on: connection, isHead: completion.isHead, method: completion.method,
                                  path: completion.path, startedAt: completion.startedAt)
            guard connections[completion.connectionID] != nil else { continue }
            // The answer is queued: the pipelined requests behind it may be parsed now.
            if actions.contains(.parse) { processInput(connection) }
            flush(connection)
        }
        if shutdown, !shuttingDown { beginShutdown() }
    }

    private func completeDuringDispatch(_ completion: Completion) {
        shared.asyncHandlersInFlight.wrappingSubtract(1, ordering: .relaxed)
        dispatchingConnectionID = nil
        guard let connection = connections[completion.connectionID] else { return }
        // Its `parse` needs no doing: this runs inside processInput, whose loop goes on.
        respond(completion.response, on: connection, isHead: completion.isHead, method: completion.method,
                path: completion.path, startedAt: completion.startedAt)
    }

    private func beginShutdown() {
        shuttingDown = true
        shutdownDeadline = monotonicMilliseconds() + configuration.timeouts.shutdownGraceMilliseconds
        // Take what is already queued so those clients get an answer rather than a reset.
        acceptAll()
        closeListener()
        for connection in Array(connections.values) {
            perform(connection.machine.shutdown(unsentOutput: connection.unsentOutput, midRequest: connection.isMidRequest), on: connection)
        }
        logger.info("shutting down listener", metadata: ["listener": "\(configuration.name)", "loop": "\(index)",
                                                         "in_flight_connections": "\(connections.count)"])
    }

    // MARK: connection events

    private func handle(_ token: UInt64, _ events: EpollEvents) {
        guard let connection = connections[token] else { return }
        if events.contains(.error) {
            perform(connection.machine.peerClosed(), on: connection)
            return
        }
        if events.contains(.writable) {
            flush(connection)
            guard connections[token] != nil else { return }
        }
        let actions = connection.machine.readinessReported(readable: events.contains(.readable) || events.contains(.peerHangUp),
                                                           hangUp: events.contains(.hangUp))
        if actions.contains(.read) {
            readAvailable(connection)
        } else {
            perform(actions, on: connection)
        }
    }

    private func readAvailable(_ connection: Connection) {
        let result: IOResult<Int>
        do {
            result = try connection.socket.read(into: readBuffer)
        } catch {
            perform(connection.machine.peerClosed(), on: connection)
            return
        }
        guard case .processed(let count) = result else { return }
        guard count > 0 else {
            perform(connection.machine.peerClosed(), on: connection)
            return
        }
        let buffered = connection.bufferedInput
        let actions = connection.machine.bytesRead(count: count, alreadyBuffered: buffered,
                                                   parserMidRequest: connection.parser.isMidRequest(bufferedBytes: 0),
                                                   now: monotonicMilliseconds())
        if actions.contains(.discardInput) { return }
        if buffered == 0 {
            connection.inbound.removeAll(keepingCapacity: true)
            connection.inboundOffset = 0
        }
        connection.inbound.append(contentsOf: UnsafeRawBufferPointer(rebasing: readBuffer[0..<count]))
        if actions.contains(.parse) {
            processInput(connection)
            flush(connection)
        } else {
            perform(actions, on: connection)
        }
    }

    /// Parses and answers as many complete requests as are buffered, stopping at one dispatched off the loop so
    /// pipelined responses keep their order.
    private func processInput(_ connection: Connection) {
        while connections[connection.id] != nil {
            let step = connection.machine.readyToParse(unsentOutput: connection.unsentOutput,
                                                       outputLimit: configuration.maxOutputBufferBytes)
            if step.contains(.pauseReading) {
                // Backpressure: answers are piling up unread; stop parsing and reading until they are written.
                shared.notePendingOutput(connection.unsentOutput)
                shared.readsPausedForOutput.wrappingAdd(1, ordering: .relaxed)
                perform(step, on: connection)
                return
            }
            guard step.contains(.parse) else { return }
            let available = connection.bufferedInput
            let wasReadingBody = connection.parser.isReadingBody
            let (event, consumed) = connection.inbound.withUnsafeBytes { buffer in
                connection.parser.parse(UnsafeRawBufferPointer(rebasing: buffer[connection.inboundOffset...]),
                                        remoteAddress: connection.peer)
            }
            connection.inboundOffset += consumed
            if !wasReadingBody, connection.parser.isReadingBody { connection.machine.bodyStarted(now: monotonicMilliseconds()) }
            switch event {
            case .needMore:
                compactInbound(connection)
                return
            case .expectsContinue:
                if connection.machine.continueExpected().contains(.write) {
                    HTTPResponseEncoder.encodeContinue(into: &connection.outbound)
                }
                compactInbound(connection)
                return
            case .failure(let error):
                connection.machine.requestRejected()
                logger.debug("rejected request", metadata: ["listener": "\(configuration.name)", "status": "\(error.status.code)",
                                                             "reason": "\(error.code)", "peer": "\(connection.peer.map { "\($0)" } ?? "-")"])
                respond(HTTPResponse.error(error.status, code: error.code, message: error.message), on: connection,
                        isHead: false, method: "-", path: "-", startedAt: monotonicMilliseconds())
                return
            case .request(let request):
                if available == consumed { compactInbound(connection) }
                let actions = connection.machine.requestParsed(keepAlive: request.keepAlive, isHTTP10: request.version == .http1_0)
                if actions.contains(.dispatch) { dispatch(request, on: connection) }
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
        let isHead = request.method == .head
        switch router.resolve(method: request.method, path: request.path) {
        case .notFound:
            let response = router.unroutedResponder.map { $0(request, .notFound) }
                ?? .error(.notFound, code: "not_found", message: "no route for this path")
            respond(response, on: connection, isHead: isHead, method: request.method, path: request.path, startedAt: startedAt)
        case .methodNotAllowed(let allow):
            var response = router.unroutedResponder.map { $0(request, .methodNotAllowed(allow: allow)) }
                ?? .error(.methodNotAllowed, code: "method_not_allowed", message: "allowed: \(allow)")
            if response.status.code == 405, response.headers["Allow"] == nil { response.headers.add(name: "Allow", value: allow) }
            respond(response, on: connection, isHead: isHead, method: request.method, path: request.path, startedAt: startedAt)
        case .handler(.inline(let handler), let parameters):
            if !parameters.isEmpty { request.pathParameters = parameters }
            respond(handler(request), on: connection, isHead: isHead, method: request.method, path: request.path, startedAt: startedAt)
        case .handler(.async(let handler), let parameters):
            if !parameters.isEmpty { request.pathParameters = parameters }
            let inFlight = shared.asyncHandlersInFlight.wrappingAdd(1, ordering: .relaxed).newValue
            if inFlight > configuration.maxConcurrentAsyncHandlers {
                shared.asyncHandlersInFlight.wrappingSubtract(1, ordering: .relaxed)
                respond(.error(.serviceUnavailable, code: "overloaded", message: "too many requests in progress",
                               headers: HTTPHeaders([("Retry-After", "1")])),
                        on: connection, isHead: isHead, method: request.method, path: request.path, startedAt: startedAt)
                return
            }
            connection.machine.handlerStarted()
            let id = connection.id
            let method = request.method
            let path = request.path
            Task(executorPreference: handlerExecutor) { [self] in
                let response = await handler(request)
                post(Completion(connectionID: id, response: response, isHead: isHead, method: method, path: path, startedAt: startedAt))
            }
        case .handler(.deferred(let handler), let parameters):
            if !parameters.isEmpty { request.pathParameters = parameters }
            connection.machine.handlerStarted()
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

    /// Queues `response` (the machine decides whether it is the last) and returns the machine's actions; a
    /// response that drops the connection closes it instead.
    @discardableResult
    private func respond(_ response: HTTPResponse, on connection: Connection, isHead: Bool, method: HTTPMethod, path: String,
                         startedAt: Int) -> ConnectionStateMachine.Actions {
        if response.dropsConnection {
            let actions = connection.machine.responseDropped()
            perform(actions, on: connection)
            return actions
        }
        let (actions, persistence) = connection.machine.responseReady(shuttingDown: shuttingDown)
        HTTPResponseEncoder.encode(response, date: dateCache.current(), isHead: isHead, persistence: persistence,
                                   into: &connection.outbound)
        if actions.contains(.resumeReading) { updateInterest(connection) }
        logger.debug("request", metadata: ["listener": "\(configuration.name)", "method": "\(method)", "path": "\(path)",
                                           "status": "\(response.status.code)", "ms": "\(monotonicMilliseconds() - startedAt)"])
        return actions
    }

    /// Writes what is queued; once it is all out, does what the machine says next (which may be to parse the
    /// input held back for output, and write what that queues before deciding anything else).
    private func flush(_ connection: Connection) {
        while connections[connection.id] != nil {
            let wroteBytes = !connection.outbound.isEmpty
            guard writePending(connection) else { return }
            let actions = connection.machine.writeDrained(wroteBytes: wroteBytes, shuttingDown: shuttingDown,
                                                          midRequest: connection.isMidRequest)
            perform(actions, on: connection)
            guard actions.contains(.parse) else { return }
            processInput(connection)
        }
    }

    /// Writes what the kernel takes; true when everything queued is written (and the connection still open).
    private func writePending(_ connection: Connection) -> Bool {
        if connection.unsentOutput > 0 { shared.notePendingOutput(connection.unsentOutput) }
        while connection.outboundOffset < connection.outbound.count {
            let result: IOResult<Int>
            do {
                result = try connection.outbound.withUnsafeBytes { buffer in
                    try connection.socket.write(UnsafeRawBufferPointer(rebasing: buffer[connection.outboundOffset...]))
                }
            } catch {
                perform(connection.machine.peerClosed(), on: connection)
                return false
            }
            switch result {
            case .processed(let written):
                connection.outboundOffset += written
                connection.machine.wrote(now: monotonicMilliseconds())
            case .wouldBlock:
                perform(connection.machine.writeBlocked(now: monotonicMilliseconds()), on: connection)
                return false
            }
        }
        connection.outbound.removeAll(keepingCapacity: connection.outbound.capacity <= 64 * 1024)
        connection.outboundOffset = 0
        return true
    }

    /// The actions that are syscalls on this connection alone: interest changes, the half-close, the close.
    private func perform(_ actions: ConnectionStateMachine.Actions, on connection: Connection) {
        if actions.contains(.close) {
            close(connection)
            return
        }
        if actions.contains(.halfClose) { connection.socket.shutdownWrite() }
        if !actions.isDisjoint(with: .changesInterest) { updateInterest(connection) }
    }

    private func updateInterest(_ connection: Connection) {
        try? epoll.modify(connection.socket.descriptor, events: connection.machine.interest, token: connection.id)
    }

    private func close(_ connection: Connection) {
        guard connections.removeValue(forKey: connection.id) != nil else { return }
        connection.machine.closed()
        epoll.remove(connection.socket.descriptor)
        connection.socket.close()
        shared.openConnections.wrappingSubtract(1, ordering: .relaxed)
    }

    // MARK: timeouts

    private func sweepTimeouts(now: Int) {
        dateCache.refresh()
        let timeouts = configuration.timeouts
        for connection in Array(connections.values) {
            guard let timer = connection.machine.expiredTimer(now: now, timeouts: timeouts, unsentOutput: connection.unsentOutput,
                                                              readingBody: connection.parser.isReadingBody,
                                                              midRequest: connection.isMidRequest) else { continue }
            let actions = connection.machine.timerFired(timer)
            guard actions.contains(.answerTimeout) else {
                perform(actions, on: connection)
                continue
            }
            let (code, message) = timer == .bodyRead ? ("body_timeout", "request body not received in time")
                                                     : ("header_timeout", "request head not received in time")
            logger.debug("request timed out", metadata: ["listener": "\(configuration.name)", "reason": "\(code)"])
            respond(.error(.requestTimeout, code: code, message: message), on: connection, isHead: false, method: "-", path: "-",
                    startedAt: now)
            flush(connection)
        }
    }
}

/// One connection's descriptor, buffers and parser, confined to its loop; its protocol state is `machine`.
final class Connection {
    let id: UInt64
    let socket: TCPSocket
    let peer: SocketAddress?
    var parser: HTTPRequestParser
    var machine: ConnectionStateMachine
    var inbound: [UInt8] = []
    var inboundOffset = 0
    var outbound: [UInt8] = []
    var outboundOffset = 0

    var unsentOutput: Int { outbound.count - outboundOffset }
    var bufferedInput: Int { inbound.count - inboundOffset }
    /// Part of a request has arrived (buffered or inside the parser): shutdown and the timers treat it as work.
    var isMidRequest: Bool { parser.isMidRequest(bufferedBytes: bufferedInput) }
    var isIdle: Bool { machine.isIdle(unsentOutput: unsentOutput, midRequest: isMidRequest) }

    init(id: UInt64, socket: TCPSocket, peer: SocketAddress?, limits: HTTPLimits, now: Int) {
        self.id = id
        self.socket = socket
        self.peer = peer
        self.parser = HTTPRequestParser(limits: limits)
        self.machine = ConnectionStateMachine(now: now)
    }
}
