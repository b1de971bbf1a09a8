import Dispatch
import Foundation
import LatchCore
import Synchronization
import Testing

@testable import LatchProxy

/// ``NodeTally``'s admission against `max_connections`: the lock-free path for a node with room, the
/// line when it is full, and that no interleaving of admissions and releases on several threads ever
/// puts more than the limit in flight or leaves a request waiting for a free slot.
@Suite("NodeTally admission")
struct NodeTallyTests {
    static func waiter(_ granted: @escaping @Sendable (UInt64) -> Void = { _ in }) -> QueueWaiter {
        QueueWaiter(node: 0, grant: { _, ticket in granted(ticket) })
    }

    @Test("below the limit requests go ahead; at it they wait in line and get slots in order")
    func line() {
        let tally = NodeTally(limit: 2, maxQueue: 2, shards: 1)
        #expect(tally.admit(waiter: Self.waiter()).0 == .admitted)
        #expect(tally.admit(waiter: Self.waiter()).0 == .admitted)
        #expect(tally.admit(waiter: Self.waiter()).0 == .queued(ticket: 1))
        #expect(tally.admit(waiter: Self.waiter()).0 == .queued(ticket: 2))
        #expect(tally.admit(waiter: Self.waiter()).0 == .full)
        #expect(tally.active == 2 && tally.queued == 2)
        // A slot freed goes to the oldest waiter, still counted in flight.
        #expect(tally.release().map(\.ticket) == [1])
        #expect(tally.active == 2 && tally.queued == 1)
        // Someone waits: a new request queues behind, even though a release is about to free a slot.
        #expect(tally.admit(waiter: Self.waiter()).0 == .queued(ticket: 3))
        #expect(tally.release().map(\.ticket) == [2])
        #expect(tally.release().map(\.ticket) == [3])
        #expect(tally.release().isEmpty && tally.release().isEmpty)
        #expect(tally.active == 0 && tally.queued == 0)
        #expect(tally.admit(waiter: Self.waiter()).0 == .admitted)
    }

    @Test("a raised limit lets waiters in at once; no limit admits everything")
    func reconfigured() {
        let tally = NodeTally(limit: 1, maxQueue: 5, shards: 1)
        #expect(tally.admit(waiter: Self.waiter()).0 == .admitted)
        #expect(tally.admit(waiter: Self.waiter()).0 == .queued(ticket: 1))
        #expect(tally.admit(waiter: Self.waiter()).0 == .queued(ticket: 2))
        #expect(tally.reconfigure(limit: 2, maxQueue: 5).map(\.ticket) == [1])
        #expect(tally.reconfigure(limit: 0, maxQueue: 5).map(\.ticket) == [2])
        #expect(tally.active == 3)
        for _ in 0..<10 { #expect(tally.admit(waiter: Self.waiter()).0 == .admitted) }
    }

    @Test("four threads admitting and releasing never pass the limit, and every waiter gets a slot")
    func concurrent() {
        let limit = 2
        let tally = NodeTally(limit: limit, maxQueue: 1000, shards: 1)
        let seen = Seen()
        let done = DispatchGroup()
        for _ in 0..<4 {
            done.enter()
            Thread {
                defer { done.leave() }
                for _ in 0..<6000 {
                    let slot = DispatchSemaphore(value: 0)
                    let (admission, grants) = tally.admit(waiter: Self.waiter { _ in slot.signal() })
                    for grant in grants { grant.run() }
                    switch admission {
                    case .admitted: break
                    case .queued:
                        seen.waited.wrappingAdd(1, ordering: .relaxed)
                        guard slot.wait(timeout: .now() + 10) == .success else {
                            Issue.record("a waiter got no slot within 10 s")
                            return
                        }
                    case .full: Issue.record("a line of 1000 cannot fill with four threads")
                    }
                    seen.highest.max(tally.active, ordering: .relaxed)
                    // Hold the slot across a yield, so the other threads come to a full node.
                    sched_yield()
                    for grant in tally.release() { grant.run() }
                }
            }.start()
        }
        #expect(done.wait(timeout: .now() + 60) == .success)
        #expect(seen.highest.load(ordering: .relaxed) <= limit, "never more than the limit in flight")
        #expect(tally.active == 0 && tally.queued == 0)
        #expect(seen.waited.load(ordering: .relaxed) > 0, "requests did wait in line")
    }

    final class Seen: Sendable {
        /// The most requests in flight any thread saw after its admission.
        let highest = Synchronization.Atomic<Int>(0)
        let waited = Synchronization.Atomic<Int>(0)
    }
}
