import NIOCore
import NIOEmbedded
import Testing

@testable import LatchProxy

/// ``ClientDeadlines`` on an `EmbeddedEventLoop`: events in, the expiry a firing finds out, with time
/// advanced instead of slept.
@Suite("ClientDeadlines")
struct ClientDeadlinesTests {
    /// A connection's deadlines and the firings they ask for.
    final class Connection: NIOScheduledCallbackHandler {
        let loop = EmbeddedEventLoop()
        var deadlines: ClientDeadlines

        init(stream: Bool = false) {
            deadlines = ClientDeadlines(requestHead: .seconds(10), idle: .seconds(60), stream: stream)
        }
        var expiries: [ClientDeadlines.Expiry] = []
        var holdingReads = false

        func handleScheduledCallback(eventLoop: some EventLoop) {
            let expiry = deadlines.fired(on: loop, self, holdingReads: holdingReads)
            if expiry != .none { expiries.append(expiry) }
        }

        func advance(_ amount: TimeAmount) {
            loop.advanceTime(by: amount)
        }
    }

    @Test("a head that does not arrive within request_head of the accept expires, however slowly it trickles")
    func headDeadline() {
        let c = Connection()
        c.deadlines.activated(on: c.loop, c)
        for _ in 0..<9 {
            c.advance(.seconds(1))
            c.deadlines.bytesArrived(on: c.loop, c)
        }
        #expect(c.expiries.isEmpty)
        c.advance(.seconds(1))
        #expect(c.expiries == [.head])
    }

    @Test("a body silent for idle expires; bytes or held reads move the deadline")
    func bodyDeadline() {
        let c = Connection()
        c.deadlines.activated(on: c.loop, c)
        c.deadlines.requestHeadReceived(bodyFollows: true, on: c.loop, c)
        c.advance(.seconds(50))
        c.deadlines.bytesArrived(on: c.loop, c)
        c.advance(.seconds(60))
        #expect(c.expiries.isEmpty, "bytes came within the interval")
        c.holdingReads = true
        c.advance(.seconds(60))
        #expect(c.expiries.isEmpty, "Latch held the reads: the silence was its own")
        c.holdingReads = false
        c.advance(.seconds(60))
        #expect(c.expiries == [.body])
    }

    @Test("no deadline while the response is awaited; keep-alive idle after it, then the next head's")
    func responseAndKeepAlive() {
        let c = Connection()
        c.deadlines.activated(on: c.loop, c)
        c.deadlines.requestHeadReceived(bodyFollows: true, on: c.loop, c)
        c.deadlines.requestEnded()
        c.advance(.seconds(600))
        #expect(c.expiries.isEmpty, "a slow node is the upstream watchdog's business")
        c.deadlines.exchangeFinished(on: c.loop, c)
        c.advance(.seconds(30))
        c.deadlines.bytesArrived(on: c.loop, c)
        c.advance(.seconds(11))
        #expect(c.expiries == [.head], "the next head's own deadline, from its first byte")
        let idle = Connection()
        idle.deadlines.activated(on: idle.loop, idle)
        idle.deadlines.requestHeadReceived(bodyFollows: true, on: idle.loop, idle)
        idle.deadlines.requestEnded()
        idle.deadlines.exchangeFinished(on: idle.loop, idle)
        idle.advance(.seconds(61))
        #expect(idle.expiries == [.idle])
    }

    @Test("an HTTP/2 stream has only the body's deadline: no head deadline, no idle after its response")
    func streamDeadlines() {
        let get = Connection(stream: true)
        get.deadlines.activated(on: get.loop, get)
        get.deadlines.bytesArrived(on: get.loop, get)
        get.deadlines.requestHeadReceived(bodyFollows: false, on: get.loop, get)
        get.deadlines.requestEnded()
        get.advance(.seconds(600))
        get.deadlines.exchangeFinished(on: get.loop, get)
        get.advance(.seconds(600))
        #expect(get.expiries.isEmpty, "the stream ends with its response; the connection keeps the idle deadline")

        let upload = Connection(stream: true)
        upload.deadlines.activated(on: upload.loop, upload)
        upload.deadlines.requestHeadReceived(bodyFollows: true, on: upload.loop, upload)
        upload.advance(.seconds(61))
        #expect(upload.expiries == [.body], "a silent upload is still bounded")
    }

    @Test("a stopped connection's timer never fires")
    func stopped() {
        let c = Connection()
        c.deadlines.activated(on: c.loop, c)
        c.deadlines.stop()
        c.advance(.seconds(100))
        #expect(c.expiries.isEmpty)
    }
}
