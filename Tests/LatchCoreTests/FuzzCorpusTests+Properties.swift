import Foundation
import Testing
@testable import LatchCore

/// Bounded, seeded stand-ins for a fuzzing run, so every `swift test` tries fresh hostile input too.
/// In `FuzzCorpusTests` so that `--filter FuzzCorpusTests` runs everything about hostile input.
extension FuzzCorpusTests {
    /// 20 000 generated requests, each through every route check. A failure prints the input's bytes
    /// (the fuzz layout) so it can be saved into the route corpus.
    @Test func generatedRequestsKeepTheInvariants() {
        var random = SplitMix64(seed: 0x1A7C_4F22)
        var failures = 0
        for _ in 0..<20_000 {
            let bytes = HostileRouteInputs.next(using: &random)
            let problems = RouteFuzzHarness.violations(RouteFuzzInput(bytes: bytes))
            if !problems.isEmpty, failures < 5 {
                failures += 1
                Issue.record("\(problems) for input bytes \(bytes)")
            }
        }
    }

    /// Megabyte cookies and targets, tens of thousands of pieces, through the extractor checks (the
    /// table would only run the same scans again). A quadratic scan of a megabyte takes hours, a
    /// linear one well under a second even in a debug build; the bound is far from both, so a busy
    /// machine cannot make it flake.
    @Test func hugeRequestsKeepTheInvariantsAndFinish() {
        let start = ContinuousClock.now
        for (label, input) in HostileRouteInputs.huge {
            let problems = RouteFuzzHarness.extractorViolations(input)
            #expect(problems.isEmpty, "\(label): \(problems.map { String($0.prefix(300)) })")
        }
        #expect(ContinuousClock.now - start < .seconds(60))
    }

    /// The example `lb.yaml` with random bytes changed, cut out or repeated: it loads, or the error
    /// points into the file.
    @Test func mutatedExampleConfigsFailWithLocatedErrors() throws {
        let example = Array(try Data(contentsOf: Self.configCorpus.appendingPathComponent("lb-example.yaml")))
        var random = SplitMix64(seed: 0x5EED_CAFE)
        let yamlBytes = Array(":-[]{}&*!|>'\"#%@`\t\n ,?".utf8) + [0xFF, 0xC2]
        for _ in 0..<150 {
            var bytes = example
            for _ in 0..<Int.random(in: 1...8, using: &random) {
                let at = Int.random(in: 0..<bytes.count, using: &random)
                switch Int.random(in: 0..<3, using: &random) {
                case 0: bytes[at] = yamlBytes.randomElement(using: &random)!
                case 1: bytes.removeSubrange(at..<min(bytes.count, at + Int.random(in: 1...200, using: &random)))
                default: bytes.insert(contentsOf: bytes[at..<min(bytes.count, at + 40)], at: at)
                }
                if bytes.isEmpty { bytes = example }
            }
            let problems = ConfigFuzzHarness.violations(bytes: bytes)
            #expect(problems.isEmpty, "\(problems) for \(String(decoding: bytes, as: UTF8.self).debugDescription)")
        }
    }
}
