import Foundation
import Testing
@testable import LatchCore

/// Replays every fuzz input kept in the repository through the same checks the libFuzzer targets
/// run (`FuzzHarness/`, compiled into both): the seed corpora and whatever `Scripts/fuzz` saved in
/// `Fuzz/crashers/`. So a crash found once stays a failing test until it is fixed, without libFuzzer.
struct FuzzCorpusTests {
    /// Found by `#filePath`, as `ConfigLoaderTests` finds `lb.yaml`, so `Package.swift` needs no resources.
    static let testsDirectory = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath().deletingLastPathComponent()
    static let routeCorpus = testsDirectory.appendingPathComponent("Corpus/route-extractor")
    static let configCorpus = testsDirectory.appendingPathComponent("Corpus/config-loader")
    static let proxyHeaderCorpus = testsDirectory.appendingPathComponent("Corpus/proxy-header")
    static let crashers = testsDirectory.appendingPathComponent("../../Fuzz/crashers").standardizedFileURL

    static func files(in directory: URL, prefix: String = "") -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { $0.hasPrefix(prefix) && !$0.hasPrefix(".") && !$0.hasSuffix(".md") }.sorted()
    }

    static func bytes(_ directory: URL, _ name: String) throws -> [UInt8] {
        Array(try Data(contentsOf: directory.appendingPathComponent(name)))
    }

    @Test func corporaArePresent() {
        #expect(Self.files(in: Self.routeCorpus).count >= 30)
        #expect(Self.files(in: Self.configCorpus).count >= 30)
        #expect(Self.files(in: Self.proxyHeaderCorpus).count >= 10)
    }

    @Test(arguments: files(in: proxyHeaderCorpus))
    func proxyHeaderCorpusFile(_ name: String) throws {
        let problems = ProxyHeaderFuzzHarness.violations(bytes: try Self.bytes(Self.proxyHeaderCorpus, name))
        #expect(problems.isEmpty, "\(problems)")
    }

    @Test(arguments: files(in: routeCorpus))
    func routeCorpusFile(_ name: String) throws {
        let problems = RouteFuzzHarness.violations(RouteFuzzInput(bytes: try Self.bytes(Self.routeCorpus, name)))
        #expect(problems.isEmpty, "\(problems)")
    }

    /// Strict: the fuzz target's skip of alias-heavy input guards against a known hang, and no seed hangs.
    @Test(arguments: files(in: configCorpus))
    func configCorpusFile(_ name: String) throws {
        let problems = ConfigFuzzHarness.violations(bytes: try Self.bytes(Self.configCorpus, name))
        #expect(problems.isEmpty, "\(problems)")
    }

    /// `Scripts/fuzz` names artifacts `<corpus>-crash-…`, `-timeout-…`, `-oom-…`. Only crashes and
    /// broken checks are replayed: a hang would hang the suite (run those with the fuzz binary).
    @Test func savedCrashers() throws {
        for name in Self.files(in: Self.crashers, prefix: "route-extractor-crash-") {
            let problems = RouteFuzzHarness.violations(RouteFuzzInput(bytes: try Self.bytes(Self.crashers, name)))
            #expect(problems.isEmpty, "\(name): \(problems)")
        }
        for name in Self.files(in: Self.crashers, prefix: "config-loader-crash-") {
            let problems = ConfigFuzzHarness.violations(bytes: try Self.bytes(Self.crashers, name))
            #expect(problems.isEmpty, "\(name): \(problems)")
        }
        for name in Self.files(in: Self.crashers, prefix: "proxy-header-crash-") {
            let problems = ProxyHeaderFuzzHarness.violations(bytes: try Self.bytes(Self.crashers, name))
            #expect(problems.isEmpty, "\(name): \(problems)")
        }
    }

    /// Found by the fuzzer: `RequestTarget` once searched `Character`s, so `http://h/\u{301}x` kept
    /// `/\u{301}x` in the authority (forwarded as the Host) and `/app?\u{301}` kept the `?` in the path.
    @Test(arguments: ["combining-mark-after-slash", "combining-mark-after-question-mark"])
    func requestTargetCutsBytesNotCharacters(_ name: String) throws {
        let input = RouteFuzzInput(bytes: try Self.bytes(Self.routeCorpus, name))
        let problems = RequestTargetFuzzCheck.violations(input.target)
        #expect(problems.isEmpty, "\(problems)")
    }
}
