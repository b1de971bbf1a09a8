import Testing

@testable import LatchCore

struct HealthHysteresisTests {
    /// Feeds results ("+" pass, "-" fail) and returns the state after each, with transitions marked.
    private static func run(_ results: String, rise: Int = 2, fall: Int = 3, initiallyUp: Bool = false) -> String {
        var health = HealthHysteresis(rise: rise, fall: fall, initiallyUp: initiallyUp)
        var trace = ""
        for result in results {
            let transition = health.record(passed: result == "+")
            switch transition {
            case .wentUp?: trace += "U"
            case .wentDown?: trace += "D"
            case nil: trace += health.isUp ? "u" : "d"
            }
        }
        return trace
    }

    @Test(arguments: [
        // initial down: the first pass brings it up at once; later it needs `rise` passes.
        ("+", false, "U"),
        ("-+", false, "dd"),
        ("-++", false, "ddU"),
        ("+---", false, "UuuD"),
        ("+--+--", false, "Uuuuuu"),  // failures must be in a row
        ("+---+-++", false, "UuuDdddU"),
        // initial up: behaves like any up node.
        ("---", true, "uuD"),
        ("--+---", true, "uuuuuD"),
        ("---++", true, "uuDdU"),
        ("---+-++", true, "uuDdddU"),
    ])
    func streaks(results: String, initiallyUp: Bool, expected: String) {
        #expect(Self.run(results, initiallyUp: initiallyUp) == expected, "\(results)")
    }

    @Test func riseAndFallOfOne() {
        #expect(Self.run("+-+-", rise: 1, fall: 1, initiallyUp: true) == "uDUD")
    }

    @Test func undecidedUntilTheFirstResult() {
        var health = HealthHysteresis(HealthCheckConfig())
        #expect(health.isUndecided && !health.isUp)
        _ = health.record(passed: false)
        #expect(!health.isUndecided && !health.isUp)
        #expect(health.record(passed: true) == nil, "after a failure the node needs `rise` passes")
        #expect(health.record(passed: true) == .wentUp)
    }
}
