import Testing

@testable import LatchCore

/// `slow_start`: when a node ramps up, and the share of its weight it has on the way.
struct SlowStartTests {
    typealias Ramp = SlowStart<ContinuousClock.Instant>
    static let t0 = ContinuousClock.Instant.now
    static func at(_ offset: Duration) -> ContinuousClock.Instant { t0.advanced(by: offset) }

    /// A node that went down at 0 and came back at 1 s, with a 10 s slow start.
    static func returned() -> Ramp {
        var ramp = Ramp(duration: .seconds(10), fromStart: true)
        ramp.observe(usable: true, at: at(.zero))
        ramp.observe(usable: false, at: at(.milliseconds(500)))
        ramp.observe(usable: true, at: at(.seconds(1)))
        return ramp
    }

    @Test(arguments: [
        (Duration.seconds(1), 100), (.seconds(2), 190), (.seconds(6), 550), (.milliseconds(10_999), 999),
        (.seconds(11), 1000), (.seconds(60), 1000),
    ])
    func theShareRisesLinearlyFromATenth(offset: Duration, perMille: Int) {
        #expect(Self.returned().share(at: Self.at(offset)) == perMille)
    }

    @Test func rampingIsShownWhileItLasts() {
        let ramp = Self.returned()
        #expect(ramp.since == Self.at(.seconds(1)))
        #expect(ramp.isRamping(at: Self.at(.seconds(5))))
        #expect(!ramp.isRamping(at: Self.at(.seconds(11))))
    }

    @Test func notAtLatchsOwnStart() {
        // First seen usable, or first seen down and then up by its first verdict: no ramp.
        var seenUp = Ramp(duration: .seconds(10), fromStart: true)
        seenUp.observe(usable: true, at: Self.at(.zero))
        seenUp.observe(usable: true, at: Self.at(.seconds(1)))
        #expect(seenUp.share(at: Self.at(.seconds(1))) == Balancer.fullShare)
        #expect(seenUp.since == nil)
    }

    @Test func aNodeAddedByAReloadRampsOnceUsable() {
        var added = Ramp(duration: .seconds(10), fromStart: false)
        added.observe(usable: false, at: Self.at(.zero))
        #expect(added.since == nil)
        added.observe(usable: true, at: Self.at(.seconds(2)))
        #expect(added.since == Self.at(.seconds(2)))
        #expect(added.share(at: Self.at(.seconds(2))) == SlowStart<ContinuousClock.Instant>.initialShare)
    }

    @Test func offMeansTheWholeWeight() {
        var off = Ramp(duration: nil, fromStart: false)
        off.observe(usable: true, at: Self.at(.zero))
        #expect(off.share(at: Self.at(.zero)) == Balancer.fullShare)
        #expect(!off.isRamping(at: Self.at(.zero)))
    }

    @Test func aNodeGoingDownAgainRestartsItsRampWhenItReturns() {
        var ramp = Self.returned()
        ramp.observe(usable: false, at: Self.at(.seconds(3)))
        ramp.observe(usable: true, at: Self.at(.seconds(4)))
        #expect(ramp.share(at: Self.at(.seconds(4))) == 100)
    }

    /// The balancer's side: with shares 1000 and 100 (a node just back), smooth weighted round robin
    /// gives the returning node 1 pick in 11, and the whole weight once it is over.
    @Test func balancedPicksFollowTheShare() {
        var balancer = Balancer(algorithm: .roundRobin, weights: [1, 1])
        var random = SplitMix64(seed: 1)
        var picks = [0, 0]
        for _ in 0..<110 {
            let node = balancer.pick(eligible: { _ in true }, active: { _ in 0 }, share: { $0 == 1 ? 100 : 1000 }, using: &random)!
            picks[node] += 1
        }
        #expect(picks == [100, 10])
        for algorithm in [BalanceAlgorithm.leastConnections, .randomTwo] {
            var other = Balancer(algorithm: algorithm, weights: [1, 1])
            var counts = [0, 0]
            for _ in 0..<2_200 {
                counts[other.pick(eligible: { _ in true }, active: { _ in 0 }, share: { $0 == 1 ? 100 : 1000 }, using: &random)!] += 1
            }
            #expect(counts[1] < 400, "\(algorithm): \(counts)")
        }
    }

    @Test func stickyAndFailoverIgnoreTheShare() {
        var balancer = Balancer(algorithm: .roundRobin, weights: [1, 1])
        var random = SplitMix64(seed: 1)
        let sticky = NodeChooser.choose(
            .known(node: 1, source: .cookie), balancer: &balancer, active: { _ in 0 }, share: { _ in 1 }, using: &random)
        #expect(sticky == NodeDecision(node: 1, reason: .sticky))
        let failover = NodeChooser.choose(
            .known(node: 0, source: .cookie), usable: { $0 == 1 }, replicas: { _ in [1] },
            balancer: &balancer, active: { _ in 0 }, share: { _ in 1 }, using: &random)
        #expect(failover == NodeDecision(node: 1, reason: .failoverReplica))
    }
}
