import Testing

@testable import LatchCore

struct PassiveEjectionTests {
    /// A fixed origin; every instant is an explicit offset from it, so nothing sleeps.
    static let t0 = ContinuousClock.Instant.now
    static func at(_ seconds: Double) -> ContinuousClock.Instant { t0.advanced(by: .milliseconds(Int64(seconds * 1000))) }

    @Test func refusedEjectsAtOnce() {
        var passive = PassiveEjection<ContinuousClock.Instant>(config: PassiveHealthConfig(), activelyChecked: false)
        let r1 = passive.record(.refused, at: Self.at(0))
        #expect(r1)
        #expect(passive.isEjected(at: Self.at(9.9)))
        #expect(!passive.isEjected(at: Self.at(10)), "without active checks eject_for ends the ejection")
    }

    @Test func countedFailuresEjectWithinTheWindow() {
        var passive = PassiveEjection<ContinuousClock.Instant>(config: PassiveHealthConfig(failures: 3, window: .seconds(10)), activelyChecked: false)
        let r2 = passive.record(.counted, at: Self.at(0))
        #expect(!r2)
        let r3 = passive.record(.counted, at: Self.at(5))
        #expect(!r3)
        let r4 = passive.record(.counted, at: Self.at(10.5))
        #expect(!r4, "the first failure left the window")
        let r5 = passive.record(.counted, at: Self.at(11))
        #expect(r5)
        #expect(passive.isEjected(at: Self.at(20.9)))
        #expect(!passive.isEjected(at: Self.at(21)))
        // On probation afterwards: counting starts afresh.
        let r6 = passive.record(.counted, at: Self.at(22))
        #expect(!r6)
    }

    @Test func activeChecksReadmitOnlyAfterEjectFor() {
        var passive = PassiveEjection<ContinuousClock.Instant>(config: PassiveHealthConfig(ejectFor: .seconds(10)), activelyChecked: true)
        _ = passive.record(.refused, at: Self.at(0))
        passive.activeCheckPassed(at: Self.at(5))
        #expect(passive.isEjected(at: Self.at(5)), "a pass inside eject_for does not re-admit")
        #expect(passive.isEjected(at: Self.at(30)), "with active checks, time alone does not re-admit")
        passive.activeCheckPassed(at: Self.at(30))
        #expect(!passive.isEjected(at: Self.at(30)))
    }

    @Test func zeroFailuresDisablesPassiveDetection() {
        var passive = PassiveEjection<ContinuousClock.Instant>(config: PassiveHealthConfig(failures: 0), activelyChecked: false)
        let r7 = passive.record(.refused, at: Self.at(0))
        #expect(!r7)
        #expect(!passive.isEjected(at: Self.at(0)))
    }

    @Test func failuresWhileEjectedDoNotExtendIt() {
        var passive = PassiveEjection<ContinuousClock.Instant>(config: PassiveHealthConfig(), activelyChecked: false)
        _ = passive.record(.refused, at: Self.at(0))
        let r8 = passive.record(.refused, at: Self.at(9))
        #expect(!r8)
        #expect(!passive.isEjected(at: Self.at(10)))
    }
}
