import Sockets

/// One connection's protocol state as a value: events go in, the actions the event loop must perform come out. It
/// holds no descriptor, buffer or clock (times are given with the events), so each transition is tested without a
/// socket; the loop keeps the bytes, the parser and the syscalls, and does only what the actions say. An event that
/// cannot happen in the current phase is a bug in the loop and traps in debug builds.
struct ConnectionStateMachine {
    /// Where the connection is in its request/response cycle.
    enum Phase: Equatable {
        /// Parsing buffered requests and answering them in order.
        case reading
        /// A request is with a handler off the loop; pipelined bytes after it wait, so answers keep their order.
        case awaitingHandler
        /// The last response is queued: when it is written, the write side is shut down.
        case closing
        /// Write side shut; input is read and discarded until the peer closes or `until` passes. Closing with unread
        /// input would send a RST that can destroy the response before the client reads it.
        case lingering(until: Int)
        case closed
    }

    /// The deadlines a connection runs; which one expired decides between a silent close and a 408.
    enum Timer: Equatable {
        /// Unsent output made no progress for `writeMilliseconds`.
        case write
        /// A lingering close waited `lingerMilliseconds` for the peer.
        case linger
        /// The head of a later request, begun, is not complete within `headerReadMilliseconds` (slowloris): 408.
        case headerRead
        /// A body is not complete within `bodyReadMilliseconds` of its head: 408.
        case bodyRead
        /// Silent since accept for `headerReadMilliseconds`: nothing was asked, so nothing is answered.
        case firstRequest
        /// Keep-alive idle between requests for `idleMilliseconds`.
        case idle
    }

    /// What the loop must do after an event, in the order listed.
    struct Actions: OptionSet, Equatable, CustomStringConvertible {
        let rawValue: UInt16
        /// Read the socket.
        static let read = Actions(rawValue: 1 << 0)
        /// Drop the bytes just read (lingering).
        static let discardInput = Actions(rawValue: 1 << 1)
        /// Parse and answer the buffered input.
        static let parse = Actions(rawValue: 1 << 2)
        /// Hand the parsed request to its route.
        static let dispatch = Actions(rawValue: 1 << 3)
        /// Queue the bytes of a response (or the 100 Continue) and write them.
        static let write = Actions(rawValue: 1 << 4)
        /// Stop reading: a pipelining client got ahead of a slow handler, or unsent output passed its bound.
        static let pauseReading = Actions(rawValue: 1 << 5)
        static let resumeReading = Actions(rawValue: 1 << 6)
        /// The kernel took less than queued: wait for the socket to become writable.
        static let watchWritable = Actions(rawValue: 1 << 7)
        static let unwatchWritable = Actions(rawValue: 1 << 8)
        /// Shut the write side down (`shutdown(SHUT_WR)`) and start lingering.
        static let halfClose = Actions(rawValue: 1 << 9)
        /// Queue a 408 as the last response (a read timer expired mid-request).
        static let answerTimeout = Actions(rawValue: 1 << 10)
        static let close = Actions(rawValue: 1 << 11)

        /// The actions that change what epoll reports for the socket.
        static let changesInterest: Actions = [.pauseReading, .resumeReading, .watchWritable, .unwatchWritable, .halfClose]

        var description: String {
            let names: [(Actions, String)] = [(.read, "read"), (.discardInput, "discardInput"), (.parse, "parse"),
                                              (.dispatch, "dispatch"), (.write, "write"), (.pauseReading, "pauseReading"),
                                              (.resumeReading, "resumeReading"), (.watchWritable, "watchWritable"),
                                              (.unwatchWritable, "unwatchWritable"), (.halfClose, "halfClose"),
                                              (.answerTimeout, "answerTimeout"), (.close, "close")]
            return "[" + names.filter { contains($0.0) }.map(\.1).joined(separator: ", ") + "]"
        }
    }

    /// How long a lingering close waits for the peer to close.
    static let lingerMilliseconds = 2_000
    /// Pipelined input buffered behind a running handler beyond which reading pauses, so the buffer stays bounded.
    static let maxInputBehindHandler = 64 * 1024

    private(set) var phase = Phase.reading
    /// Reading paused because a pipelining client got ahead of a slow handler.
    private(set) var pausedBehindHandler = false
    /// Reading and parsing paused because unsent output passed `maxOutputBufferBytes` (backpressure).
    private(set) var pausedForOutput = false
    private(set) var watchingWritable = false
    /// No request parsed yet: the head timeout runs from accept.
    private(set) var awaitingFirstRequest = true
    /// The response being prepared is the last: the client asked, a request failed, or the server is stopping.
    private(set) var closeAfterCurrent = false
    private var announceKeepAlive = false
    private(set) var requestStartedAt: Int
    private(set) var bodyStartedAt: Int
    /// The last read, or the end of the last response's write: what "idle longest" compares.
    private(set) var lastActivity: Int
    private(set) var lastWriteProgress: Int

    init(now: Int) {
        requestStartedAt = now
        bodyStartedAt = now
        lastActivity = now
        lastWriteProgress = now
    }

    /// What epoll should report. Paused for output even a half-close is left unread: level-triggered, it would be
    /// reported on every wait.
    var interest: EpollEvents {
        var events: EpollEvents = pausedForOutput ? [] : [.peerHangUp]
        if !pausedBehindHandler, !pausedForOutput { events.insert(.readable) }
        if watchingWritable { events.insert(.writable) }
        return events
    }

    /// Between requests or silent since accept, with nothing to send: closing it loses no work.
    func isIdle(unsentOutput: Int, midRequest: Bool) -> Bool {
        phase == .reading && unsentOutput == 0 && !pausedForOutput && !midRequest
    }

    private func check(_ legal: Bool, _ event: StaticString) {
        assert(legal, "connection event \(event) is illegal in phase \(phase)")
    }

    // MARK: input

    /// epoll reported input (`readable`: data or the peer's half-close) or a full hang-up. Paused for output, only
    /// the hang-up matters: that peer will never read what is queued.
    mutating func readinessReported(readable: Bool, hangUp: Bool) -> Actions {
        check(phase != .closed, "readinessReported")
        if pausedForOutput { return hangUp ? close() : [] }
        return readable || hangUp ? .read : []
    }

    /// `count` bytes arrived with `alreadyBuffered` unparsed bytes before them; `parserMidRequest` is whether the
    /// parser holds part of a request (its state, not the buffer).
    mutating func bytesRead(count: Int, alreadyBuffered: Int, parserMidRequest: Bool, now: Int) -> Actions {
        check(phase != .closed, "bytesRead")
        if case .lingering = phase { return .discardInput }
        // A first request's head time runs from accept; later ones from their first byte.
        if alreadyBuffered == 0, !awaitingFirstRequest, !parserMidRequest { requestStartedAt = now }
        lastActivity = now
        switch phase {
        case .reading: return .parse
        case .awaitingHandler where alreadyBuffered + count > Self.maxInputBehindHandler && !pausedBehindHandler:
            pausedBehindHandler = true
            return .pauseReading
        default: return []
        }
    }

    /// The peer closed, reset, or the socket failed. A request still being handled gets no answer anyway.
    mutating func peerClosed() -> Actions { close() }

    /// Asked before each parse: parse on, stop (a handler runs or the connection is closing), or pause reading
    /// until `unsentOutput` is written.
    mutating func readyToParse(unsentOutput: Int, outputLimit: Int) -> Actions {
        guard phase == .reading, !pausedForOutput else { return [] }
        if unsentOutput > outputLimit {
            pausedForOutput = true
            return .pauseReading
        }
        return .parse
    }

    /// The parser finished a head and now reads its body: the body timer starts.
    mutating func bodyStarted(now: Int) {
        check(phase == .reading, "bodyStarted")
        bodyStartedAt = now
    }

    /// The head asks for 100 Continue before its body.
    mutating func continueExpected() -> Actions {
        check(phase == .reading, "continueExpected")
        return .write
    }

    /// The parser rejected the input: its error response is the last.
    mutating func requestRejected() {
        check(phase == .reading, "requestRejected")
        awaitingFirstRequest = false
        closeAfterCurrent = true
    }

    /// A whole request was parsed; `keepAlive` is its RFC 9112 §9.3 outcome, `isHTTP10` its version.
    mutating func requestParsed(keepAlive: Bool, isHTTP10: Bool) -> Actions {
        check(phase == .reading, "requestParsed")
        awaitingFirstRequest = false
        if !keepAlive { closeAfterCurrent = true }
        announceKeepAlive = isHTTP10 && keepAlive
        return .dispatch
    }

    /// The request went to a handler that answers later (a task, or a deferred sink not yet called).
    mutating func handlerStarted() {
        check(phase == .reading, "handlerStarted")
        phase = .awaitingHandler
    }

    // MARK: output

    /// A response is ready to queue. Returns how the connection goes on (for its `Connection` field) and the actions:
    /// always `write`, then `parse` (and `resumeReading` if it was paused) when a handler's answer lets the
    /// pipelined input behind it be read.
    mutating func responseReady(shuttingDown: Bool) -> (actions: Actions, persistence: HTTPResponseEncoder.Persistence) {
        check(phase == .reading || phase == .awaitingHandler, "responseReady")
        var actions: Actions = .write
        if shuttingDown { closeAfterCurrent = true }
        let persistence: HTTPResponseEncoder.Persistence = closeAfterCurrent ? .close : announceKeepAlive ? .announcedKeepAlive : .keepAlive
        if closeAfterCurrent {
            phase = .closing
        } else if phase == .awaitingHandler {
            phase = .reading
            actions.insert(.parse)
            if pausedBehindHandler {
                pausedBehindHandler = false
                actions.insert(.resumeReading)
            }
        }
        return (actions, persistence)
    }

    /// The handler asked for the connection to be dropped unanswered (failure injection in tests and the emulator).
    mutating func responseDropped() -> Actions {
        check(phase == .reading || phase == .awaitingHandler, "responseDropped")
        return close()
    }

    /// The kernel took some bytes.
    mutating func wrote(now: Int) {
        check(phase != .closed, "wrote")
        lastWriteProgress = now
    }

    /// The kernel took less than was queued.
    mutating func writeBlocked(now: Int) -> Actions {
        check(phase != .closed, "writeBlocked")
        guard !watchingWritable else { return [] }
        watchingWritable = true
        lastWriteProgress = now
        return .watchWritable
    }

    /// Everything queued is written (`wroteBytes`: there was something). In order: resume reading if it was paused
    /// for output (the loop parses, writes, and reports drained again); else half-close a closing connection, which
    /// lingers from its last write; else, while shutting down, close one that holds no part of a request.
    mutating func writeDrained(wroteBytes: Bool, shuttingDown: Bool, midRequest: Bool) -> Actions {
        check(phase != .closed, "writeDrained")
        var actions: Actions = []
        // Idle from the moment the answer is out, not from when the request came in.
        if wroteBytes { lastActivity = lastWriteProgress }
        if watchingWritable {
            watchingWritable = false
            actions.insert(.unwatchWritable)
        }
        if pausedForOutput {
            pausedForOutput = false
            return actions.union([.resumeReading, .parse])
        }
        switch phase {
        case .closing:
            phase = .lingering(until: lastWriteProgress + Self.lingerMilliseconds)
            // Lingering reads to discard, whatever paused reading before.
            pausedBehindHandler = false
            actions.insert(.halfClose)
        case .reading where shuttingDown && !midRequest:
            actions.formUnion(close())
        default: break
        }
        return actions
    }

    // MARK: timers and shutdown

    /// The timer that has expired at `now`, if any. `unsentOutput`, `readingBody` and `midRequest` describe the
    /// buffers and the parser, which the machine does not hold.
    func expiredTimer(now: Int, timeouts: HTTPTimeouts, unsentOutput: Int, readingBody: Bool, midRequest: Bool) -> Timer? {
        if unsentOutput > 0 { return now - lastWriteProgress > timeouts.writeMilliseconds ? .write : nil }
        switch phase {
        case .lingering(let until): return now >= until ? .linger : nil
        case .awaitingHandler, .closing, .closed: return nil
        case .reading:
            if readingBody { return now - bodyStartedAt > timeouts.bodyReadMilliseconds ? .bodyRead : nil }
            if midRequest { return now - requestStartedAt > timeouts.headerReadMilliseconds ? .headerRead : nil }
            if awaitingFirstRequest { return now - requestStartedAt > timeouts.headerReadMilliseconds ? .firstRequest : nil }
            return now - lastActivity > timeouts.idleMilliseconds ? .idle : nil
        }
    }

    /// `timer` (from `expiredTimer`) fired: a read timer mid-request is answered 408 as the last response; every
    /// other one closes without a word.
    mutating func timerFired(_ timer: Timer) -> Actions {
        check(phase != .closed, "timerFired")
        switch timer {
        case .headerRead, .bodyRead:
            check(phase == .reading, "timerFired(read)")
            closeAfterCurrent = true
            return .answerTimeout
        case .write, .linger, .firstRequest, .idle:
            return close()
        }
    }

    /// The server stops: every connection's current response is its last, and one with nothing in flight closes now.
    mutating func shutdown(unsentOutput: Int, midRequest: Bool) -> Actions {
        check(phase != .closed, "shutdown")
        closeAfterCurrent = true
        return phase == .reading && unsentOutput == 0 && !midRequest ? close() : []
    }

    /// The loop closed the socket for its own reasons (an I/O error, the connection cap, the end of shutdown).
    mutating func closed() {
        phase = .closed
    }

    private mutating func close() -> Actions {
        phase = .closed
        return .close
    }
}
