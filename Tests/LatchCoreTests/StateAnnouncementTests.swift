import Testing

@testable import LatchCore

/// `health.state_header`: what a check response's header says, and how it combines with the operator's state.
struct StateAnnouncementTests {
    struct Row: Sendable, CustomTestStringConvertible {
        var values: [String]
        var expected: StateAnnouncement
        var testDescription: String { values.debugDescription }
    }

    static let rows: [Row] = [
        Row(values: [], expected: .state(.active)),
        Row(values: ["active"], expected: .state(.active)),
        Row(values: ["draining"], expected: .state(.draining)),
        Row(values: ["maintenance"], expected: .state(.maintenance)),
        Row(values: ["DRAINING"], expected: .state(.draining)),
        Row(values: ["Maintenance"], expected: .state(.maintenance)),
        Row(values: [" \tdraining \t"], expected: .state(.draining)),
        Row(values: ["draining", "DRAINING"], expected: .state(.draining)),
        Row(values: ["drain"], expected: .unrecognised("drain")),
        Row(values: ["maint"], expected: .unrecognised("maint")),
        Row(values: [""], expected: .unrecognised("")),
        Row(values: ["draining, maintenance"], expected: .unrecognised("draining, maintenance")),
        Row(values: ["draining", "active"], expected: .unrecognised("draining, active")),
        // Only ASCII letters fold: the dotted capital I is not an I.
        Row(values: ["ACT\u{0130}VE"], expected: .unrecognised("ACT\u{0130}VE")),
        Row(values: [String(repeating: "x", count: 100)], expected: .unrecognised(String(repeating: "x", count: 64))),
    ]

    @Test(arguments: rows)
    func reads(row: Row) {
        #expect(StateAnnouncement.read(row.values) == row.expected)
    }

    @Test func theMoreRestrictiveStateWins() {
        let order: [NodeState] = [.active, .draining, .maintenance]
        for (i, a) in order.enumerated() {
            for (j, b) in order.enumerated() {
                #expect(NodeState.mostRestrictive(a, b) == order[max(i, j)], "\(a) with \(b)")
            }
        }
    }
}
