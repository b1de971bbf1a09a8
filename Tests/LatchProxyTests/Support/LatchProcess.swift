import Foundation
import LatchCore

/// A real `latch run` process whose standard error (its log) goes to a file the test reads; terminated,
/// if still running, and reaped when the test lets go of it.
final class LatchProcess {
    let process: ChildProcess
    let log: String

    init(config: String, takeOver: Bool = false) throws {
        log = FileManager.default.temporaryDirectory.appendingPathComponent("latch-run-\(UUID().uuidString).log").path
        process = try Spawn.start(
            CLITests.latchBinary.path, ["run", "--config", config] + (takeOver ? ["--take-over"] : []),
            standardOutput: .null, standardError: .file(log))
    }

    var text: String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }

    func waitFor(_ needle: String, within limit: Duration = .seconds(20)) async -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now + limit
        while clock.now < deadline {
            if text.contains(needle) { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return false
    }

    /// The port it listens on, once it runs and its control socket listens (the two lines come in
    /// either order).
    func port() async -> Int? {
        guard await waitFor("control socket listening"), await waitFor("latch running") else { return nil }
        return TakeOverLiveTests.port(inLog: text)
    }

    /// The port its admin listener got (lb.yaml gives `127.0.0.1:0`), from its `admin listening` line.
    func adminPort() async -> Int? {
        guard await waitFor("admin listening") else { return nil }
        guard let line = text.split(separator: "\n").first(where: { $0.contains("admin listening") }),
            let range = line.range(of: "address=127.0.0.1:")
        else { return nil }
        return Int(line[range.upperBound...].prefix { $0.isNumber })
    }

    /// Sends SIGTERM and waits for the process to end.
    func stop() async {
        process.terminate()
        _ = await waitForExit()
    }

    /// How it ended, or `nil` if it still runs after `limit`.
    func waitForExit(within limit: Duration = .seconds(30)) async -> ChildProcess.Termination? {
        let clock = ContinuousClock()
        let deadline = clock.now + limit
        while clock.now < deadline {
            if let termination = process.termination { return termination }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return nil
    }

    deinit {
        process.terminate()
        process.waitInBackground()
        try? FileManager.default.removeItem(atPath: log)
    }
}
