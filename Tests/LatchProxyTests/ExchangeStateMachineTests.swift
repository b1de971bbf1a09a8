import LatchCore
import NIOCore
import NIOHTTP1
import Testing

@testable import LatchProxy

/// ``ExchangeStateMachine`` driven one event at a time, without I/O.
@Suite("Exchange state machine")
struct ExchangeStateMachineTests {
    typealias Machine = ExchangeStateMachine

    static func body(_ text: String) -> HTTPClientRequestPart { .body(.byteBuffer(ByteBuffer(string: text))) }

    static func texts(_ parts: [HTTPClientRequestPart]) -> [String] {
        parts.map { part in
            switch part {
            case .head: "head"
            case .body(.byteBuffer(let buffer)): String(buffer: buffer)
            case .body: "file"
            case .end: "end"
            }
        }
    }

    static func ok() -> ClientResponseHead { ClientResponseHead(version: .http1_1, status: .ok) }

    /// Admitted, connected, a GET sent whole.
    static func connectedGET() -> Machine {
        var machine = Machine(clientKeepAlive: true, retryBodyLimit: 1024)
        let r1 = machine.placed(.admitted)
        #expect(r1)
        #expect(machine.holdsSlot)
        let r2 = machine.connected()
        #expect(r2.isEmpty)
        let r3 = machine.requestPart(.end(nil))
        #expect(r3)
        return machine
    }

    /// Admitted, connected, half of a body sent: the request has not ended.
    static func connectedMidUpload() -> Machine {
        var machine = Machine(clientKeepAlive: true, retryBodyLimit: 1024)
        _ = machine.placed(.admitted)
        _ = machine.connected()
        _ = machine.requestPart(body("half"))
        return machine
    }

    @Test func aRequestRelayedWhole() {
        var machine = Self.connectedGET()
        let r4 = machine.receivedHead(.ok, upstreamReusable: true, clientCanFrame: true, connectionCloses: false)
        #expect(r4)
        machine.headReady(Self.ok())
        #expect(!machine.responseStarted)
        let r5 = machine.takeHead()
        #expect(r5 != nil)
        let r6 = machine.takeHead()
        #expect(r6 == nil)
        #expect(machine.responseStarted)
        let r7 = machine.responseEnded()
        #expect(r7)
        let r8 = machine.settle()
        #expect(r8 == (releaseSlot: true, withdraw: nil))
        #expect(machine.isDone)
        #expect(machine.failure == nil)
    }

    @Test func partsWaitForTheConnectionInOrder() {
        var machine = Machine(clientKeepAlive: true, retryBodyLimit: 1024)
        _ = machine.placed(.admitted)
        let r9 = machine.requestPart(Self.body("a"))
        #expect(!r9)
        let r10 = machine.requestPart(Self.body("b"))
        #expect(!r10)
        let r11 = machine.connected()
        #expect(Self.texts(r11) == ["a", "b"])
        #expect(machine.wroteRequest)
        let r12 = machine.requestPart(.end(nil))
        #expect(r12)
        #expect(machine.requestEnded)
    }

    @Test func queuedThenGranted() {
        var machine = Machine(clientKeepAlive: true, retryBodyLimit: 1024)
        let r13 = machine.placed(.queued(ticket: 7))
        #expect(!r13)
        #expect(machine.queueTicket == 7)
        #expect(!machine.holdsSlot)
        // Another ticket's grant is not this exchange's: the slot goes back.
        let r14 = machine.granted(ticket: 8)
        #expect(!r14)
        let r15 = machine.granted(ticket: 7)
        #expect(r15)
        #expect(machine.holdsSlot)
        #expect(machine.queueTicket == nil)
    }

    @Test func queueTimeoutAnswers503AndWithdrawsNothingMore() {
        var machine = Machine(clientKeepAlive: true, retryBodyLimit: 1024)
        _ = machine.placed(.queued(ticket: 3))
        _ = machine.requestPart(.end(nil))
        machine.leftQueue()
        let r16 = machine.failed(.queueTimedOut, connectionCloses: false)
        #expect(r16 == .answer(.serviceUnavailable))
        #expect(machine.clientKeepAlive)
        let r17 = machine.settle()
        #expect(r17 == (releaseSlot: false, withdraw: nil))
        // A grant arriving after that finds the exchange gone.
        let r18 = machine.granted(ticket: 3)
        #expect(!r18)
    }

    @Test func aClientLeavingTheQueueWithdrawsItsTicket() {
        var machine = Machine(clientKeepAlive: true, retryBodyLimit: 1024)
        _ = machine.placed(.queued(ticket: 5))
        machine.abandoned(.clientClosed)
        let r19 = machine.settle()
        #expect(r19 == (releaseSlot: false, withdraw: 5))
    }

    @Test func failureBeforeTheHeadIsAnswered() {
        var machine = Self.connectedGET()
        let r20 = machine.failed(.connectRefused, connectionCloses: false)
        #expect(r20 == .answer(.badGateway))
        #expect(machine.responseStatus == .badGateway)
        #expect(machine.clientKeepAlive)
        var timedOut = Self.connectedGET()
        let r21 = timedOut.failed(.timeout, connectionCloses: false)
        #expect(r21 == .answer(.gatewayTimeout))
    }

    @Test func failureAfterTheHeadWasSentCuts() {
        var machine = Self.connectedGET()
        _ = machine.receivedHead(.ok, upstreamReusable: true, clientCanFrame: true, connectionCloses: false)
        machine.headReady(Self.ok())
        _ = machine.takeHead()
        let r22 = machine.failed(.closedBeforeResponse, connectionCloses: false)
        #expect(r22 == .cut)
        // The log says where it broke: in the middle of the response.
        #expect(machine.failure == .closedMidResponse)
        #expect(machine.responseStatus == .ok)
    }

    @Test func aHeadNotYetWrittenIsReplacedByTheError() {
        var machine = Self.connectedGET()
        _ = machine.receivedHead(.ok, upstreamReusable: true, clientCanFrame: true, connectionCloses: false)
        machine.headReady(Self.ok())
        let r23 = machine.failed(.closedBeforeResponse, connectionCloses: false)
        #expect(r23 == .answer(.badGateway))
        let r24 = machine.takeHead()
        #expect(r24 == nil)
        // The client never saw that head: the exchange ends as one whose response did not start (the
        // session cookies it set are not counted).
        #expect(!machine.responseStarted)
    }

    @Test func aFailureWhileTheBodyStillComesClosesAfterTheAnswer() {
        var machine = Self.connectedMidUpload()
        let r25 = machine.failed(.clientRejected(.payloadTooLarge, "too large"), connectionCloses: false)
        #expect(r25 == .answer(.payloadTooLarge))
        #expect(!machine.clientKeepAlive)
    }

    @Test func anEarlyResponseEndsTheConnection() {
        // The node answers before the request body has arrived: the rest of that body would be read
        // as the next request, so the client connection closes after this response.
        var machine = Self.connectedMidUpload()
        let r26 = machine.receivedHead(.ok, upstreamReusable: true, clientCanFrame: true, connectionCloses: false)
        #expect(!r26)
        // Neither is the node's connection reused: it holds a partial request.
        let r27 = machine.responseEnded()
        #expect(!r27)
    }

    @Test func keepAliveNeedsEveryParty() {
        for (canFrame, closes, upstream) in [(false, false, true), (true, true, true)] {
            var machine = Self.connectedGET()
            let r28 = machine.receivedHead(.ok, upstreamReusable: upstream, clientCanFrame: canFrame, connectionCloses: closes)
            #expect(!r28)
        }
        var closeDelimited = Self.connectedGET()
        let r29 = closeDelimited.receivedHead(.ok, upstreamReusable: false, clientCanFrame: true, connectionCloses: false)
        #expect(r29)
        let r30 = closeDelimited.responseEnded()
        #expect(!r30)
    }

    @Test func retryOnAFreshConnectionSendsTheEndAgain() {
        var machine = Self.connectedGET()
        machine.retryOnFreshConnection()
        #expect(machine.phase == .connecting)
        #expect(machine.retriedOnFreshConnection)
        let r31 = machine.connected()
        #expect(Self.texts(r31) == ["end"])
        #expect(machine.holdsSlot)
    }

    @Test func retryElsewhereResendsTheKeptBody() {
        var machine = Machine(clientKeepAlive: true, retryBodyLimit: 1024)
        _ = machine.placed(.admitted)
        _ = machine.connected()
        _ = machine.requestPart(Self.body("a"))
        _ = machine.requestPart(.end(nil))
        let r32 = machine.leaveNode()
        #expect(r32)
        #expect(!machine.holdsSlot)
        #expect(!machine.wroteRequest)
        #expect(machine.phase == .placing)
        let r33 = machine.placed(.admitted)
        #expect(r33)
        let r34 = machine.connected()
        #expect(Self.texts(r34) == ["a", "end"])
    }

    @Test func aBodyOverTheRetryLimitIsNotKept() {
        var machine = Machine(clientKeepAlive: true, retryBodyLimit: 2)
        _ = machine.placed(.admitted)
        _ = machine.connected()
        _ = machine.requestPart(Self.body("abc"))
        let attempt = machine.attempt(
            failedWith: .closedBeforeResponse, reusedConnection: false, nodesTried: 0, elapsed: .zero, idempotent: true,
            hasNoBody: false)
        #expect(!attempt.bodyKept)
        #expect(attempt.wroteRequest)
        #expect(!attempt.responseHeadReceived)
    }

    @Test func retryAfterQueueingOnTheNextNode() {
        var machine = Self.connectedGET()
        _ = machine.leaveNode()
        let r35 = machine.placed(.queued(ticket: 9))
        #expect(!r35)
        let r36 = machine.granted(ticket: 9)
        #expect(r36)
        let r37 = machine.connected()
        #expect(Self.texts(r37) == ["end"])
    }

    @Test func switchingProtocolsEndsTheExchange() {
        var machine = Self.connectedGET()
        machine.switchedProtocols(.switchingProtocols)
        #expect(machine.responseStatus == .switchingProtocols)
        let r38 = machine.settle()
        #expect(r38 == (releaseSlot: true, withdraw: nil))
    }

    @Test func partsAfterTheEndAreNotBuffered() {
        var machine = Self.connectedGET()
        _ = machine.settle()
        let r39 = machine.requestPart(Self.body("late"))
        #expect(!r39)
    }
}
