@testable import HTTP1
import Sockets
import Testing

/// The connection's protocol state without sockets: each row starts from a named state, feeds one event, and
/// states the actions and the state that must follow.
@Suite("Connection state machine, as a table of transitions")
struct ConnectionStateMachineTests {
    typealias Machine = ConnectionStateMachine
    typealias Actions = ConnectionStateMachine.Actions

    private static let timeouts: HTTPTimeouts = {
        var timeouts = HTTPTimeouts()
        timeouts.headerReadMilliseconds = 100
        timeouts.bodyReadMilliseconds = 200
        timeouts.idleMilliseconds = 300
        timeouts.writeMilliseconds = 400
        return timeouts
    }()

    // MARK: starting states, each reached by events only

    static func fresh() -> Machine { Machine(now: 0) }

    /// One keep-alive request answered and written at t=10.
    static func betweenRequests() -> Machine {
        var machine = fresh()
        _ = machine.bytesRead(count: 40, alreadyBuffered: 0, parserMidRequest: false, now: 5)
        _ = machine.readyToParse(unsentOutput: 0, outputLimit: 1000)
        _ = machine.requestParsed(keepAlive: true, isHTTP10: false)
        _ = machine.responseReady(shuttingDown: false)
        machine.wrote(now: 10)
        _ = machine.writeDrained(wroteBytes: true, shuttingDown: false, midRequest: false)
        return machine
    }

    static func awaitingHandler() -> Machine {
        var machine = betweenRequests()
        _ = machine.bytesRead(count: 40, alreadyBuffered: 0, parserMidRequest: false, now: 20)
        _ = machine.requestParsed(keepAlive: true, isHTTP10: false)
        machine.handlerStarted()
        return machine
    }

    static func closing() -> Machine {
        var machine = betweenRequests()
        _ = machine.requestParsed(keepAlive: false, isHTTP10: false)
        _ = machine.responseReady(shuttingDown: false)
        return machine
    }

    static func lingering() -> Machine {
        var machine = closing()
        machine.wrote(now: 50)
        _ = machine.writeDrained(wroteBytes: true, shuttingDown: false, midRequest: false)
        return machine
    }

    static func pausedForOutput() -> Machine {
        var machine = betweenRequests()
        _ = machine.readyToParse(unsentOutput: 1001, outputLimit: 1000)
        return machine
    }

    static func pausedBehindHandler() -> Machine {
        var machine = awaitingHandler()
        _ = machine.bytesRead(count: 70_000, alreadyBuffered: 0, parserMidRequest: false, now: 30)
        return machine
    }

    // MARK: the table

    struct Row: CustomTestStringConvertible, Sendable {
        let name: String
        let start: @Sendable () -> Machine
        let event: @Sendable (inout Machine) -> Actions
        let actions: Actions
        let phase: Machine.Phase
        var testDescription: String { name }
    }

    static let rows: [Row] = [
        Row(name: "bytes while reading are parsed", start: fresh,
            event: { $0.bytesRead(count: 10, alreadyBuffered: 0, parserMidRequest: false, now: 1) }, actions: .parse, phase: .reading),
        Row(name: "parsing goes on while output is under its bound", start: betweenRequests,
            event: { $0.readyToParse(unsentOutput: 1000, outputLimit: 1000) }, actions: .parse, phase: .reading),
        Row(name: "output over its bound pauses reading", start: betweenRequests,
            event: { $0.readyToParse(unsentOutput: 1001, outputLimit: 1000) }, actions: .pauseReading, phase: .reading),
        Row(name: "a parsed request is dispatched", start: betweenRequests,
            event: { $0.requestParsed(keepAlive: true, isHTTP10: false) }, actions: .dispatch, phase: .reading),
        Row(name: "100-continue is written", start: betweenRequests,
            event: { $0.continueExpected() }, actions: .write, phase: .reading),
        Row(name: "an inline answer is written and the connection stays", start: betweenRequests,
            event: { _ = $0.requestParsed(keepAlive: true, isHTTP10: false); return $0.responseReady(shuttingDown: false).actions },
            actions: .write, phase: .reading),
        Row(name: "Connection: close makes the answer the last", start: betweenRequests,
            event: { _ = $0.requestParsed(keepAlive: false, isHTTP10: false); return $0.responseReady(shuttingDown: false).actions },
            actions: .write, phase: .closing),
        Row(name: "a rejected request's error is the last answer", start: fresh,
            event: { $0.requestRejected(); return $0.responseReady(shuttingDown: false).actions }, actions: .write, phase: .closing),
        Row(name: "while a handler runs, pipelined bytes wait unparsed", start: awaitingHandler,
            event: { $0.bytesRead(count: 100, alreadyBuffered: 0, parserMidRequest: false, now: 25) }, actions: [], phase: .awaitingHandler),
        Row(name: "no parsing while a handler runs", start: awaitingHandler,
            event: { $0.readyToParse(unsentOutput: 0, outputLimit: 1000) }, actions: [], phase: .awaitingHandler),
        Row(name: "over 64 KiB behind a handler pauses reading", start: awaitingHandler,
            event: { $0.bytesRead(count: 1, alreadyBuffered: 64 * 1024, parserMidRequest: false, now: 25) },
            actions: .pauseReading, phase: .awaitingHandler),
        Row(name: "the handler's answer lets the pipelined input be parsed", start: awaitingHandler,
            event: { $0.responseReady(shuttingDown: false).actions }, actions: [.write, .parse], phase: .reading),
        Row(name: "the handler's answer resumes reading paused behind it", start: pausedBehindHandler,
            event: { $0.responseReady(shuttingDown: false).actions }, actions: [.write, .parse, .resumeReading], phase: .reading),
        Row(name: "during shutdown the handler's answer is the last", start: awaitingHandler,
            event: { $0.responseReady(shuttingDown: true).actions }, actions: .write, phase: .closing),
        Row(name: "a dropped response closes", start: awaitingHandler,
            event: { $0.responseDropped() }, actions: .close, phase: .closed),
        Row(name: "a short write watches for writability once", start: betweenRequests,
            event: { _ = $0.writeBlocked(now: 11); return $0.writeBlocked(now: 12) }, actions: [], phase: .reading),
        Row(name: "a first short write watches for writability", start: betweenRequests,
            event: { $0.writeBlocked(now: 11) }, actions: .watchWritable, phase: .reading),
        Row(name: "drained after a short write stops watching", start: betweenRequests,
            event: { _ = $0.writeBlocked(now: 11); return $0.writeDrained(wroteBytes: true, shuttingDown: false, midRequest: false) },
            actions: .unwatchWritable, phase: .reading),
        Row(name: "drained after a pause for output resumes reading and parses", start: pausedForOutput,
            event: { $0.writeDrained(wroteBytes: true, shuttingDown: false, midRequest: false) },
            actions: [.resumeReading, .parse], phase: .reading),
        Row(name: "the last answer written half-closes and lingers", start: closing,
            event: { $0.wrote(now: 60); return $0.writeDrained(wroteBytes: true, shuttingDown: false, midRequest: false) },
            actions: .halfClose, phase: .lingering(until: 60 + Machine.lingerMilliseconds)),
        Row(name: "shutting down, drained and idle closes", start: betweenRequests,
            event: { $0.writeDrained(wroteBytes: false, shuttingDown: true, midRequest: false) }, actions: .close, phase: .closed),
        Row(name: "shutting down, drained mid-request stays for the rest", start: betweenRequests,
            event: { $0.writeDrained(wroteBytes: false, shuttingDown: true, midRequest: true) }, actions: [], phase: .reading),
        Row(name: "lingering discards what arrives", start: lingering,
            event: { $0.bytesRead(count: 10, alreadyBuffered: 0, parserMidRequest: false, now: 60) }, actions: .discardInput,
            phase: .lingering(until: 50 + Machine.lingerMilliseconds)),
        Row(name: "a closing connection keeps late bytes unread", start: closing,
            event: { $0.bytesRead(count: 10, alreadyBuffered: 0, parserMidRequest: false, now: 60) }, actions: [], phase: .closing),
        Row(name: "the peer closing closes", start: awaitingHandler, event: { $0.peerClosed() }, actions: .close, phase: .closed),
        Row(name: "readable is read", start: betweenRequests,
            event: { $0.readinessReported(readable: true, hangUp: false) }, actions: .read, phase: .reading),
        Row(name: "paused for output, readable is ignored", start: pausedForOutput,
            event: { $0.readinessReported(readable: true, hangUp: false) }, actions: [], phase: .reading),
        Row(name: "paused for output, a hang-up closes", start: pausedForOutput,
            event: { $0.readinessReported(readable: false, hangUp: true) }, actions: .close, phase: .closed),
        Row(name: "shutdown closes an idle connection", start: betweenRequests,
            event: { $0.shutdown(unsentOutput: 0, midRequest: false) }, actions: .close, phase: .closed),
        Row(name: "shutdown lets a request in progress finish", start: betweenRequests,
            event: { $0.shutdown(unsentOutput: 0, midRequest: true) }, actions: [], phase: .reading),
        Row(name: "shutdown lets unsent output drain", start: betweenRequests,
            event: { $0.shutdown(unsentOutput: 5, midRequest: false) }, actions: [], phase: .reading),
        Row(name: "shutdown waits for a running handler", start: awaitingHandler,
            event: { $0.shutdown(unsentOutput: 0, midRequest: false) }, actions: [], phase: .awaitingHandler),
        Row(name: "after shutdown the next answer is the last", start: betweenRequests,
            event: { _ = $0.shutdown(unsentOutput: 0, midRequest: true); _ = $0.requestParsed(keepAlive: true, isHTTP10: false)
                     return $0.responseReady(shuttingDown: false).actions }, actions: .write, phase: .closing),
        Row(name: "a head timeout is answered 408 as the last response", start: betweenRequests,
            event: { $0.timerFired(.headerRead) }, actions: .answerTimeout, phase: .reading),
        Row(name: "a body timeout is answered 408", start: betweenRequests,
            event: { $0.timerFired(.bodyRead) }, actions: .answerTimeout, phase: .reading),
        Row(name: "the idle timer closes", start: betweenRequests, event: { $0.timerFired(.idle) }, actions: .close, phase: .closed),
        Row(name: "silence since accept closes", start: fresh, event: { $0.timerFired(.firstRequest) }, actions: .close, phase: .closed),
        Row(name: "a stalled write closes", start: awaitingHandler, event: { $0.timerFired(.write) }, actions: .close, phase: .closed),
        Row(name: "the linger deadline closes", start: lingering, event: { $0.timerFired(.linger) }, actions: .close, phase: .closed),
    ]

    @Test("each transition", arguments: rows)
    func transition(_ row: Row) {
        var machine = row.start()
        let actions = row.event(&machine)
        #expect(actions == row.actions)
        #expect(machine.phase == row.phase)
    }

    // MARK: what the transitions leave behind

    @Test("the Connection field follows the request: HTTP/1.1 says nothing, HTTP/1.0 keep-alive is announced, close closes")
    func persistence() {
        var machine = Self.betweenRequests()
        _ = machine.requestParsed(keepAlive: true, isHTTP10: true)
        #expect(machine.responseReady(shuttingDown: false).persistence == .announcedKeepAlive)
        _ = machine.requestParsed(keepAlive: true, isHTTP10: false)
        #expect(machine.responseReady(shuttingDown: false).persistence == .keepAlive)
        _ = machine.requestParsed(keepAlive: false, isHTTP10: true)
        #expect(machine.responseReady(shuttingDown: false).persistence == .close)
    }

    @Test("epoll interest: paused reading drops readable, paused output drops peer hang-up too, a short write adds writable")
    func interest() {
        #expect(Self.fresh().interest == [.readable, .peerHangUp])
        #expect(Self.pausedBehindHandler().interest == [.peerHangUp])
        #expect(Self.pausedForOutput().interest == [])
        var blocked = Self.betweenRequests()
        _ = blocked.writeBlocked(now: 11)
        #expect(blocked.interest == [.readable, .peerHangUp, .writable])
        var resumed = Self.pausedBehindHandler()
        _ = resumed.responseReady(shuttingDown: false)
        #expect(resumed.interest == [.readable, .peerHangUp])
    }

    @Test("a lingering connection reads to discard, even if reading was paused behind a handler")
    func lingeringReads() {
        var machine = Self.pausedBehindHandler()
        _ = machine.shutdown(unsentOutput: 0, midRequest: true)
        _ = machine.responseReady(shuttingDown: true)
        machine.wrote(now: 40)
        #expect(machine.writeDrained(wroteBytes: true, shuttingDown: true, midRequest: true) == .halfClose)
        #expect(machine.interest.contains(.readable))
    }

    @Test("only an idle connection may be closed to admit a new one")
    func idleness() {
        #expect(Self.fresh().isIdle(unsentOutput: 0, midRequest: false))
        #expect(Self.betweenRequests().isIdle(unsentOutput: 0, midRequest: false))
        #expect(!Self.betweenRequests().isIdle(unsentOutput: 0, midRequest: true))
        #expect(!Self.betweenRequests().isIdle(unsentOutput: 1, midRequest: false))
        #expect(!Self.awaitingHandler().isIdle(unsentOutput: 0, midRequest: false))
        #expect(!Self.pausedForOutput().isIdle(unsentOutput: 0, midRequest: false))
        #expect(!Self.lingering().isIdle(unsentOutput: 0, midRequest: false))
    }

    // MARK: which timer

    struct TimerRow: CustomTestStringConvertible, Sendable {
        let name: String
        let start: @Sendable () -> Machine
        let now: Int
        let unsentOutput: Int
        let readingBody: Bool
        let midRequest: Bool
        let expected: Machine.Timer?
        var testDescription: String { name }
    }

    static let timerRows: [TimerRow] = [
        TimerRow(name: "silent since accept: the head time from accept", start: fresh, now: 101, unsentOutput: 0,
                 readingBody: false, midRequest: false, expected: .firstRequest),
        TimerRow(name: "silent since accept, within the head time", start: fresh, now: 100, unsentOutput: 0,
                 readingBody: false, midRequest: false, expected: nil),
        TimerRow(name: "a first head arriving slowly still counts from accept", start: fresh, now: 101, unsentOutput: 0,
                 readingBody: false, midRequest: true, expected: .headerRead),
        TimerRow(name: "between requests: idle after the last write", start: betweenRequests, now: 311, unsentOutput: 0,
                 readingBody: false, midRequest: false, expected: .idle),
        TimerRow(name: "between requests, within idle", start: betweenRequests, now: 310, unsentOutput: 0,
                 readingBody: false, midRequest: false, expected: nil),
        TimerRow(name: "a body read too slowly", start: bodyStarted, now: 251, unsentOutput: 0,
                 readingBody: true, midRequest: true, expected: .bodyRead),
        TimerRow(name: "a body within its time", start: bodyStarted, now: 250, unsentOutput: 0,
                 readingBody: true, midRequest: true, expected: nil),
        TimerRow(name: "unsent output without progress", start: awaitingHandler, now: 411, unsentOutput: 1,
                 readingBody: false, midRequest: false, expected: .write),
        TimerRow(name: "a running handler has no read timer", start: awaitingHandler, now: 10_000, unsentOutput: 0,
                 readingBody: false, midRequest: true, expected: nil),
        TimerRow(name: "a closing connection waits for its write", start: closing, now: 10_000, unsentOutput: 0,
                 readingBody: false, midRequest: false, expected: nil),
        TimerRow(name: "lingering ends at its deadline", start: lingering, now: 50 + Machine.lingerMilliseconds, unsentOutput: 0,
                 readingBody: false, midRequest: false, expected: .linger),
        TimerRow(name: "lingering before its deadline", start: lingering, now: 49 + Machine.lingerMilliseconds, unsentOutput: 0,
                 readingBody: false, midRequest: false, expected: nil),
    ]

    /// A body begun at t=50 on a kept-alive connection.
    static func bodyStarted() -> Machine {
        var machine = betweenRequests()
        _ = machine.bytesRead(count: 100, alreadyBuffered: 0, parserMidRequest: false, now: 40)
        machine.bodyStarted(now: 50)
        return machine
    }

    @Test("which timer has expired", arguments: timerRows)
    func expiredTimer(_ row: TimerRow) {
        let machine = row.start()
        #expect(machine.expiredTimer(now: row.now, timeouts: Self.timeouts, unsentOutput: row.unsentOutput,
                                     readingBody: row.readingBody, midRequest: row.midRequest) == row.expected)
    }

    @Test("a later request's head time runs from its first byte, not from the previous answer")
    func headTimeFromFirstByte() {
        var machine = Self.betweenRequests()
        _ = machine.bytesRead(count: 3, alreadyBuffered: 0, parserMidRequest: false, now: 500)
        #expect(machine.expiredTimer(now: 600, timeouts: Self.timeouts, unsentOutput: 0, readingBody: false, midRequest: true) == nil)
        #expect(machine.expiredTimer(now: 601, timeouts: Self.timeouts, unsentOutput: 0, readingBody: false, midRequest: true) == .headerRead)
        // More bytes of the same head do not restart it.
        _ = machine.bytesRead(count: 3, alreadyBuffered: 3, parserMidRequest: false, now: 590)
        #expect(machine.expiredTimer(now: 601, timeouts: Self.timeouts, unsentOutput: 0, readingBody: false, midRequest: true) == .headerRead)
    }

    // MARK: illegal transitions trap (debug builds, where tests run)

    #if DEBUG
    @Test("a request parsed while a handler runs traps")
    func requestWhileAwaiting() async {
        await #expect(processExitsWith: .failure) {
            var machine = ConnectionStateMachine(now: 0)
            _ = machine.requestParsed(keepAlive: true, isHTTP10: false)
            machine.handlerStarted()
            _ = machine.requestParsed(keepAlive: true, isHTTP10: false)
        }
    }

    @Test("a response for a connection already closed traps")
    func responseAfterClose() async {
        await #expect(processExitsWith: .failure) {
            var machine = ConnectionStateMachine(now: 0)
            _ = machine.peerClosed()
            _ = machine.responseReady(shuttingDown: false)
        }
    }

    @Test("a second response while the last one is being written traps")
    func responseWhileClosing() async {
        await #expect(processExitsWith: .failure) {
            var machine = ConnectionStateMachine(now: 0)
            _ = machine.requestParsed(keepAlive: false, isHTTP10: false)
            _ = machine.responseReady(shuttingDown: false)
            _ = machine.responseReady(shuttingDown: false)
        }
    }
    #endif
}
