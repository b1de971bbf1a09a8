import NIOCore
import NIOHTTP1
import Testing

@testable import LatchProxy

/// ``ClientConnectionStateMachine`` driven one event at a time, without I/O.
@Suite("Client connection state machine")
struct ClientConnectionStateMachineTests {
    typealias Machine = ClientConnectionStateMachine

    static func head(_ uri: String = "/") -> ClientRequestPart {
        .head(.test(.GET, uri))
    }

    static let body = ClientRequestPart.body(ByteBuffer(string: "abc"))
    static let end = ClientRequestPart.end(nil)

    /// The URI of a `.startExchange` action, `nil` for anything else.
    static func started(_ action: Machine.PartAction) -> String? {
        if case .startExchange(let head) = action { return head.target }
        return nil
    }

    static func isForward(_ action: Machine.PartAction) -> Bool {
        if case .forward = action { return true }
        return false
    }

    static func isNone(_ action: Machine.PartAction) -> Bool {
        if case .none = action { return true }
        return false
    }

    @Test func keepAliveExchangesFollowEachOther() {
        var machine = Machine()
        let r1 = machine.received(Self.head("/a"))
        #expect(Self.started(r1) == "/a")
        let r2 = machine.received(Self.end)
        #expect(Self.isForward(r2))
        machine.exchangeEnded(keepAlive: true)
        #expect(machine.state == .idle)
        let r3 = machine.received(Self.head("/b"))
        #expect(Self.started(r3) == "/b")
    }

    @Test func pipelinedRequestsWaitAndReplayInOrder() {
        var machine = Machine()
        _ = machine.received(Self.head("/a"))
        _ = machine.received(Self.end)
        // The second request arrives while the first response is under way: everything of it waits.
        let r4 = machine.received(Self.head("/b"))
        #expect(Self.isNone(r4))
        let r5 = machine.received(Self.end)
        #expect(Self.isNone(r5))
        let r6 = machine.received(Self.head("/c"))
        #expect(Self.isNone(r6))
        #expect(machine.hasHeld)
        // Nothing is replayed while the first exchange runs.
        let r7 = machine.nextHeld()
        #expect(r7 == nil)
        // A read is held while anything waits.
        let r8 = machine.readRequested(requestStreaming: false, upstreamReady: true)
        #expect(!r8)
        #expect(machine.readPending)

        machine.exchangeEnded(keepAlive: true)
        guard case .part(let b)? = machine.nextHeld() else { Issue.record("no held head"); return }
        let r9 = machine.replay(b)
        #expect(Self.started(r9) == "/b")
        guard case .part(let bEnd)? = machine.nextHeld() else { Issue.record("no held end"); return }
        let r10 = machine.replay(bEnd)
        #expect(Self.isForward(r10))
        // "/c" waits for "/b"'s response.
        let r11 = machine.nextHeld()
        #expect(r11 == nil)
        machine.exchangeEnded(keepAlive: true)
        guard case .part(let c)? = machine.nextHeld() else { Issue.record("no third head"); return }
        let r12 = machine.replay(c)
        #expect(Self.started(r12) == "/c")
        #expect(!machine.hasHeld)
        let r13 = machine.takePendingRead()
        #expect(r13)
        let r14 = machine.takePendingRead()
        #expect(!r14)
    }

    @Test func aClosingResponseDropsThePipelinedRequestsBehindIt() {
        var machine = Machine()
        _ = machine.received(Self.head("/a"))
        _ = machine.received(Self.head("/b"))
        machine.exchangeEnded(keepAlive: false)
        #expect(machine.state == .closing)
        let r15 = machine.nextHeld()
        #expect(r15 == nil)
        #expect(!machine.hasHeld)
        // Nothing more is read or served (RFC 9112 §9.6).
        let r16 = machine.received(Self.head("/c"))
        #expect(Self.isNone(r16))
        let r17 = machine.readRequested(requestStreaming: false, upstreamReady: true)
        #expect(!r17)
    }

    @Test func readsWaitForTheNodeWhileTheBodyStreams() {
        var machine = Machine()
        _ = machine.received(Self.head())
        let r18 = machine.readRequested(requestStreaming: true, upstreamReady: false)
        #expect(!r18)
        #expect(machine.readPending)
        let r19 = machine.takePendingRead()
        #expect(r19)
        let r20 = machine.readRequested(requestStreaming: true, upstreamReady: true)
        #expect(r20)
        // Once the request has ended, reads go on (a client's close is seen at once).
        let r21 = machine.readRequested(requestStreaming: false, upstreamReady: false)
        #expect(r21)
    }

    @Test func halfCloseDuringAnExchangeClosesAfterItsResponse() {
        var machine = Machine()
        _ = machine.received(Self.head())
        _ = machine.received(Self.end)
        let r22 = machine.inputClosed()
        #expect(r22 == .closeAfterResponse)
        #expect(machine.closesAfterResponse)
        machine.exchangeEnded(keepAlive: true)
        #expect(machine.state == .closing)
    }

    @Test func halfCloseWhenIdleCloses() {
        var machine = Machine()
        let r23 = machine.inputClosed()
        #expect(r23 == .close)
        #expect(machine.state == .closed)
    }

    @Test func halfCloseBehindPipelinedRequestsWaitsForThem() {
        var machine = Machine()
        _ = machine.received(Self.head("/a"))
        _ = machine.received(Self.head("/b"))
        let r24 = machine.inputClosed()
        #expect(r24 == .none)
        machine.exchangeEnded(keepAlive: true)
        guard case .part(let b)? = machine.nextHeld() else { Issue.record("no held head"); return }
        _ = machine.replay(b)
        guard case .inputClosed? = machine.nextHeld() else { Issue.record("no held half-close"); return }
        // "/b" is still answered, then the connection closes.
        let r25 = machine.inputClosed(replaying: true)
        #expect(r25 == .closeAfterResponse)
    }

    @Test func quiesce() {
        // Between requests: one more request may come, and it is the last.
        var idle = Machine()
        let r26 = idle.quiesce(headUnderway: false)
        #expect(r26 == .closeIfQuiet)
        #expect(idle.state == .idle)
        guard case .startExchange = idle.received(Self.head("/last")) else {
            Issue.record("the request after a quiesce is served")
            return
        }
        #expect(idle.state == .exchange(closeAfter: true))
        #expect(idle.closesAfterResponse)
        idle.exchangeEnded(keepAlive: true)
        #expect(idle.state == .closing)

        // Part of a head already in: no quiet window, the head deadline bounds it.
        var reading = Machine()
        let r26b = reading.quiesce(headUnderway: true)
        #expect(r26b == Machine.CloseAction.none)
        _ = reading.received(Self.head("/slow"))
        #expect(reading.state == .exchange(closeAfter: true))

        // Between requests, the client half-closes: nothing more comes.
        var quietThenClosed = Machine()
        _ = quietThenClosed.quiesce(headUnderway: false)
        #expect(quietThenClosed.inputClosed() == .close)

        var busy = Machine()
        _ = busy.received(Self.head("/a"))
        _ = busy.received(Self.head("/b"))
        let r27 = busy.quiesce(headUnderway: false)
        #expect(r27 == .closeAfterResponse)
        #expect(!busy.hasHeld)
        busy.exchangeEnded(keepAlive: true)
        #expect(busy.state == .closing)

        var lingering = Machine()
        lingering.lingerStarted()
        let r28 = lingering.quiesce(headUnderway: false)
        #expect(r28 == .close)
    }

    @Test func parseErrors() {
        let error = HTTPParserError.invalidHeaderToken
        var idle = Machine()
        let r29 = idle.parseError(error, answers: true)
        #expect(r29 == .answer)
        #expect(idle.state == .closing)

        var unanswerable = Machine()
        let r30 = unanswerable.parseError(error, answers: false)
        #expect(r30 == .close)

        var busy = Machine()
        _ = busy.received(Self.head())
        let r31 = busy.parseError(error, answers: true)
        #expect(r31 == .refuseExchange)

        var pipelined = Machine()
        _ = pipelined.received(Self.head("/a"))
        _ = pipelined.received(Self.head("/b"))
        let r32 = pipelined.parseError(error, answers: true)
        #expect(r32 == .held)

        var afterClose = Machine()
        _ = afterClose.received(Self.head())
        afterClose.exchangeEnded(keepAlive: false)
        let r33 = afterClose.parseError(error, answers: true)
        #expect(r33 == .none)
    }

    @Test func lingeringDropsBytesUpToTheLimit() {
        var machine = Machine()
        _ = machine.received(Self.head())
        machine.exchangeEnded(keepAlive: false)
        machine.lingerStarted()
        #expect(machine.isLingering)
        let r34 = machine.readRequested(requestStreaming: false, upstreamReady: false)
        #expect(r34)
        let chunk = ClientRequestPart.body(ByteBuffer(repeating: 0, count: Machine.lingerLimit.bytes / 2))
        let r35 = machine.received(chunk)
        #expect(Self.isNone(r35))
        let r36 = machine.droppedAfterParseError(100)
        #expect(!r36)
        guard case .close = machine.received(chunk) else {
            Issue.record("past the limit the connection closes")
            return
        }
    }

    @Test func bodyAfterAnEarlyKeepAliveAnswerIsDropped() {
        var machine = Machine()
        _ = machine.received(Self.head())
        machine.exchangeEnded(keepAlive: true)
        let r37 = machine.received(Self.end)
        #expect(Self.isNone(r37))
        let r38 = machine.received(Self.head("/next"))
        #expect(Self.started(r38) == "/next")
    }

    @Test func closedReportsAnExchangeInProgress() {
        var busy = Machine()
        _ = busy.received(Self.head())
        let r39 = busy.closed()
        #expect(r39)
        var idle = Machine()
        let r40 = idle.closed()
        #expect(!r40)
    }
}
