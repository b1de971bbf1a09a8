import LatchCore
import NIOConcurrencyHelpers
import Testing

@testable import LatchProxy

/// ``ClusterRuntime``'s admission and release without I/O: the in-flight count outside the lock, the
/// queue's hand-over, and what a reload carries over.
@Suite("Cluster runtime: admission, release, hand-over")
struct ClusterRuntimeTests {
    static func cluster(maxConnections: Int = 0, previous: ClusterRuntime? = nil, sessionIdle: Duration = .seconds(1800)) -> ClusterRuntime {
        var config = ClusterConfig(
            name: "shop",
            nodes: [
                NodeConfig(name: "tomcat1", address: HostPort(host: "127.0.0.1", port: 1), maxConnections: maxConnections),
                NodeConfig(name: "tomcat2", address: HostPort(host: "127.0.0.1", port: 2), maxConnections: maxConnections),
            ]
        )
        config.limits.maxQueue = 10
        config.drain.sessionIdle = sessionIdle
        return ClusterRuntime(index: 0, config: config, metrics: LatchMetrics(), shards: 2, carryingOver: previous)
    }

    static let sticky = RouteLookup.known(node: 0, source: .cookie)

    /// Grants handed out, as (node, ticket).
    final class Grants: Sendable {
        let box = NIOLockedValueBox<[(Int, UInt64)]>([])
        var all: [(Int, UInt64)] { box.withLockedValue { $0 } }
        var grant: @Sendable (Int, UInt64) -> Void { { node, ticket in self.box.withLockedValue { $0.append((node, ticket)) } } }
    }

    /// Places two sticky requests on a node with `max_connections: 1`: the waiter's ticket.
    static func oneInFlightOneWaiting(_ cluster: ClusterRuntime, _ grants: Grants) -> UInt64? {
        guard case .admitted = cluster.place(sticky, grant: grants.grant),
            case .queued(_, let ticket) = cluster.place(sticky, grant: grants.grant)
        else {
            Issue.record("one admitted, one queued")
            return nil
        }
        return ticket
    }

    @Test func withoutALimitTheEndTakesNoLockAndCounts() {
        let cluster = Self.cluster()
        let grants = Grants()
        guard case .admitted(let decision) = cluster.place(Self.sticky, grant: grants.grant) else {
            Issue.record("admitted")
            return
        }
        #expect(decision.reason == .sticky)
        #expect(cluster.activeRequests() == [1, 0])
        cluster.exchangeEnded(node: 0, releasingSlot: true, reason: .sticky, nodeFailed: false, sighting: true, sessionHash: SessionHash.hash("A".utf8), shard: 1)
        #expect(cluster.activeRequests() == [0, 0])
        #expect(cluster.stats().nodes[0].requests == [.sticky: 1])
        #expect(cluster.sessionReport()[0].count == 1)
        #expect(cluster.sessionReport()[0].lastSeen != nil)
        #expect(grants.all.isEmpty)
    }

    @Test func aFreedSlotGoesToTheOldestWaiter() {
        let cluster = Self.cluster(maxConnections: 1)
        let grants = Grants()
        guard case .admitted = cluster.place(Self.sticky, grant: grants.grant),
            case .queued(_, let first) = cluster.place(Self.sticky, grant: grants.grant),
            case .queued(_, let second) = cluster.place(Self.sticky, grant: grants.grant)
        else {
            Issue.record("one admitted, two queued")
            return
        }
        #expect(cluster.queuedRequests() == [2, 0])
        cluster.exchangeEnded(node: 0, releasingSlot: true, reason: .sticky, nodeFailed: false, sighting: false, sessionHash: nil, shard: 0)
        // Handed over, not released: still one in flight, and the first in line has it.
        #expect(grants.all.map(\.1) == [first])
        #expect(cluster.activeRequests() == [1, 0])
        #expect(cluster.queuedRequests() == [1, 0])
        // The second leaves the line before its turn; the next release frees the slot for good.
        #expect(cluster.cancelQueued(node: 0, ticket: second, timedOut: true))
        #expect(cluster.tallies[0].waiting.load(ordering: .relaxed) == 0)
        cluster.finished(node: 0)
        #expect(cluster.activeRequests() == [0, 0])
        #expect(grants.all.count == 1)
        #expect(cluster.stats().nodes[0].queueTimeouts == 1)
    }

    @Test func aReloadKeepsTheTalliesOfKeptNodes() {
        let old = Self.cluster()
        guard case .admitted = old.place(Self.sticky, grant: { _, _ in }) else {
            Issue.record("admitted")
            return
        }
        old.exchangeEnded(node: 0, releasingSlot: false, reason: .sticky, nodeFailed: true, sighting: true, sessionHash: SessionHash.hash("A".utf8), shard: 0)
        let new = Self.cluster(previous: old)
        #expect(new.tallies[0] === old.tallies[0])
        #expect(new.sessions[0] === old.sessions[0])
        #expect(new.activeRequests() == [1, 0], "the exchange in flight counts in the new configuration")
        // It ends in the old one: the new one sees the count come down.
        old.finished(node: 0)
        #expect(new.activeRequests() == [0, 0])
        #expect(new.stats().nodes[0].failures == 1)
        #expect(new.sessionReport()[0].count == 1)
        // Another session_idle: the session counts start over.
        let other = Self.cluster(previous: new, sessionIdle: .seconds(60))
        #expect(other.sessions[0] !== new.sessions[0])
        #expect(other.sessionReport()[0].count == 0)
    }

    @Test func aRaisedLimitLetsWaitersQueuedBeforeTheReloadIn() {
        let old = Self.cluster(maxConnections: 1)
        let grants = Grants()
        guard let waiter = Self.oneInFlightOneWaiting(old, grants) else { return }
        let new = Self.cluster(maxConnections: 4, previous: old)
        #expect(grants.all.map(\.1) == [waiter])
        #expect(new.activeRequests() == [2, 0])
        #expect(new.queuedRequests() == [0, 0])
    }

    @Test func oneLineAcrossAReload() {
        let old = Self.cluster(maxConnections: 1)
        let grants = Grants()
        guard let first = Self.oneInFlightOneWaiting(old, grants) else { return }
        let new = Self.cluster(maxConnections: 1, previous: old)
        // The new configuration's request waits behind the one queued under the old.
        guard case .queued(_, let second) = new.place(Self.sticky, grant: grants.grant) else {
            Issue.record("queued behind the earlier waiter")
            return
        }
        #expect(new.queuedRequests() == [2, 0])
        old.finished(node: 0)
        #expect(grants.all.map(\.1) == [first])
        new.finished(node: 0)
        #expect(grants.all.map(\.1) == [first, second])
        new.finished(node: 0)
        #expect(new.activeRequests() == [0, 0])
        #expect(new.queuedRequests() == [0, 0])
    }
}
