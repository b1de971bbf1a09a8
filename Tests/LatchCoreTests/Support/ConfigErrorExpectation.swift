import Testing
@testable import LatchCore

/// Each `(yaml, expected)` pair: loading `yaml` (as `lb.yaml`) fails with exactly `expected`.
func expectConfigErrors(_ cases: [(yaml: String, expected: String)], sourceLocation: SourceLocation = #_sourceLocation) {
    for (yaml, expected) in cases {
        do {
            _ = try ConfigLoader.parse(yaml: yaml, file: "lb.yaml")
            Issue.record("accepted, expected: \(expected)", sourceLocation: sourceLocation)
        } catch {
            #expect("\(error)" == expected, sourceLocation: sourceLocation)
        }
    }
}
