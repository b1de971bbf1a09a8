import Testing

@testable import LatchCore

/// ``MonotonicInstant``: the runtime's clock, plain nanoseconds, saturating instead of trapping.
struct MonotonicInstantTests {
    @Test func arithmeticIsInNanoseconds() {
        let start = MonotonicInstant(nanoseconds: 1_000)
        #expect(start.advanced(by: .milliseconds(2)).nanoseconds == 2_001_000)
        #expect(start.advanced(by: .nanoseconds(-500)).nanoseconds == 500)
        #expect(start.duration(to: MonotonicInstant(nanoseconds: 4_000)) == .nanoseconds(3_000))
        #expect(MonotonicInstant(nanoseconds: 4_000).duration(to: start) == .nanoseconds(-3_000))
        #expect(start < MonotonicInstant(nanoseconds: 1_001) && !(start < start))
    }

    /// "Never" spelled as a huge duration stays in the far future instead of trapping.
    @Test func farDurationsSaturate() {
        let start = MonotonicInstant(nanoseconds: 5)
        #expect(start.advanced(by: .seconds(Int64.max)).nanoseconds == .max)
        #expect(MonotonicInstant(nanoseconds: -5).advanced(by: .seconds(Int64.min)).nanoseconds == .min)
        #expect(MonotonicInstant(nanoseconds: .min).duration(to: MonotonicInstant(nanoseconds: .max)) == .nanoseconds(Int64.max))
        #expect((Duration.seconds(3) + .nanoseconds(7)).wholeNanoseconds == 3_000_000_007)
    }

    @Test func nowMovesForward() {
        let first = MonotonicInstant.now
        let second = MonotonicInstant.now
        #expect(first <= second)
        #expect(first.nanoseconds > 0)
    }
}
