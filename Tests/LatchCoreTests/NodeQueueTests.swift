import Testing
@testable import LatchCore

struct NodeQueueTests {
    @Test(arguments: [
        // (limit, maxQueue, active, already waiting, expected)
        (0, 0, 1_000_000, 0, "admitted"),  // no limit
        (2, 5, 0, 0, "admitted"),
        (2, 5, 1, 0, "admitted"),
        (2, 5, 2, 0, "queued"),
        (2, 5, 3, 0, "queued"),  // a reload lowered the limit under the requests in flight
        (2, 1, 2, 1, "full"),
        (2, 0, 2, 0, "full"),  // no queue: refuse at once
        (2, 5, 1, 1, "queued"),  // a slot is free but someone waits: no overtaking
    ])
    func admission(limit: Int, maxQueue: Int, active: Int, waiting: Int, expected: String) {
        var queue = NodeQueue<String>(limit: limit, maxQueue: maxQueue)
        for i in 0..<waiting { _ = queue.admit(active: limit, waiter: "w\(i)") }
        let verdict: String
        switch queue.admit(active: active, waiter: "new") {
        case .admitted: verdict = "admitted"
        case .queued: verdict = "queued"
        case .full: verdict = "full"
        }
        #expect(verdict == expected)
    }

    @Test func slotsGoToWaitersInOrderAndCancelledOnesAreSkipped() {
        var queue = NodeQueue<String>(limit: 1, maxQueue: 10)
        let first = queue.admit(active: 0, waiter: "a")
        #expect(first == .admitted)
        guard case .queued(let b) = queue.admit(active: 1, waiter: "b"),
            case .queued(let c) = queue.admit(active: 1, waiter: "c"),
            case .queued(let d) = queue.admit(active: 1, waiter: "d")
        else {
            Issue.record("expected three queued requests")
            return
        }
        #expect(Set([b, c, d]).count == 3)
        let cancelled = queue.cancel(ticket: c)
        let cancelledTwice = queue.cancel(ticket: c)
        #expect(cancelled && !cancelledTwice)
        #expect(queue.count == 2)
        let grantB = queue.release()?.waiter
        #expect(grantB == "b")
        let cancelGranted = queue.cancel(ticket: b)
        #expect(!cancelGranted, "b already got its slot")
        let grantD = queue.release()?.waiter
        let none = queue.release()
        #expect(grantD == "d" && none == nil)
        #expect(queue.count == 0)
        let last = queue.admit(active: 0, waiter: "e")
        #expect(last == .admitted)
    }

    @Test func aLongRunStaysFIFOAndCompact() {
        var queue = NodeQueue<Int>(limit: 1, maxQueue: 1000)
        var served: [Int] = []
        var next = 0
        for round in 0..<5000 {
            if case .queued = queue.admit(active: 1, waiter: next) { next += 1 }
            if round % 3 != 0, let granted = queue.release() { served.append(granted.waiter) }
        }
        while let granted = queue.release() { served.append(granted.waiter) }
        #expect(served == Array(0..<next))
    }
}
