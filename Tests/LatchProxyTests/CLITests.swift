import Foundation
import LatchCore
import NIOCore
import NIOPosix
import Testing

/// The `latch` binary itself, as an operator runs it.
@Suite("latch command line", .timeLimit(.minutes(1)))
struct CLITests {
    /// The `latch` built beside this test bundle.
    static var latchBinary: URL {
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("latch")
        if FileManager.default.isExecutableFile(atPath: beside.path) { return beside }
        let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return packageRoot.appendingPathComponent(".build/debug/latch")
    }

    static var exampleConfig: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("lb.yaml").path
    }

    typealias Outcome = Spawn.Outcome

    /// `latch` with `arguments` run to its end; `environment` is added to this process's.
    static func latch(_ arguments: [String], environment: [String: String] = [:], input: String = "") throws -> Outcome {
        try Spawn.run(latchBinary.path, arguments, environment: withEnvironment(environment), input: input)
    }

    /// This process's environment with `added` set in it; `nil` (inherit it as it is) if nothing is added.
    static func withEnvironment(_ added: [String: String]) -> [String: String]? {
        added.isEmpty ? nil : ProcessInfo.processInfo.environment.merging(added) { $1 }
    }

    /// A file `latch run` can start on: a listener on a free port and one node that is never reached.
    static func minimalConfig() throws -> String {
        try temporaryFile(
            """
            listen:
              - address: 127.0.0.1:0
            clusters:
              - name: shop
                nodes:
                  - { name: tomcat1, address: 127.0.0.1:9 }
            """
        )
    }

    static func temporaryFile(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("latch-cli-\(UUID().uuidString).yaml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("latch --version prints the name and the version, and exits 0")
    func version() throws {
        let outcome = try Self.latch(["--version"])
        #expect(outcome.status == .exited(0), "\(outcome.stderr)")
        #expect(outcome.stdout == "latch \(LatchVersion.current)\n")
        #expect(LatchVersion.current.split(separator: ".").count == 3, "semantic versioning: major.minor.patch")
    }

    @Test("latch run names its version when it is running, and says when stopping begins and ends on SIGTERM")
    func runLogsVersion() async throws {
        let path = try Self.minimalConfig()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let process = try Spawn.start(Self.latchBinary.path, ["run", "--config", path], standardOutput: .null, standardError: .pipe)
        defer {
            process.terminate()
            process.wait()
        }
        let err = try #require(process.standardError)
        var log = ""
        let deadline = Date().addingTimeInterval(20)
        while !log.contains("latch running"), Date() < deadline {
            let chunk = err.read()
            if chunk.isEmpty { break }
            log += String(decoding: chunk, as: UTF8.self)
        }
        let running = try #require(log.split(separator: "\n").first { $0.contains("latch running") }, "\(log)")
        #expect(running.contains("version=\(LatchVersion.current)"), "\(running)")
        process.terminate()
        #expect(process.wait() == .exited(0))
        // Stopping is said when it begins (with what is in flight and the grace) and when it ends.
        log += String(decoding: err.readToEnd(), as: UTF8.self)
        let stopping = try #require(log.split(separator: "\n").first { $0.contains("stopping:") }, "\(log)")
        #expect(stopping.contains("exchanges_in_flight=0") && stopping.contains("grace=30.0 seconds"), "\(stopping)")
        #expect(log.split(separator: "\n").contains { $0.contains("stopped") && $0.contains("connections_cut_at_grace=0") }, "\(log)")
    }

    @Test("a LOG_LEVEL that names no level is refused by name, not taken as info")
    func badLogLevel() throws {
        let outcome = try Self.latch(["run", "--config", Self.exampleConfig], environment: ["LOG_LEVEL": "bogus"])
        #expect(outcome.status == .exited(2))
        #expect(outcome.stderr.contains("LOG_LEVEL=bogus is not a log level; use one of trace, debug, info, notice, warning, error, critical"), "\(outcome.stderr)")
    }

    @Test("a configuration file given twice is refused, not one of them silently checked")
    func twoConfigurationFiles() throws {
        let outcome = try Self.latch(["check", Self.exampleConfig, "-c", "/nonexistent.yaml"])
        #expect(outcome.status != .exited(0))
        #expect(outcome.stderr.contains("the configuration file is given twice ('\(Self.exampleConfig)' and --config '/nonexistent.yaml'): give one"), "\(outcome.stderr)")
        #expect(try Self.latch(["check", "-c", Self.exampleConfig]).status == .exited(0))
    }

    @Test("latch demo refuses a port beyond 65535 instead of wrapping it around", arguments: ["--port", "--admin-port", "--tls-port"])
    func demoPortOutOfRange(option: String) throws {
        let outcome = try Self.latch(["demo", option, "70000"])
        #expect(outcome.status != .exited(0))
        #expect(outcome.stderr.contains("\(option) 70000 is not a port: ports are 0 to 65535"), "\(outcome.stderr)")
    }

    @Test("latch demo exits non-zero when the balancer cannot listen")
    func demoCannotListen() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let holder = try await ServerBootstrap(group: group).bind(host: "127.0.0.1", port: 0).get()
        let port = holder.localAddress!.port!
        let outcome = try Self.latch(["demo", "--port", "\(port)", "--admin-port", "0"])
        #expect(outcome.status != .exited(0))
        #expect(outcome.stderr.contains("error:"), "\(outcome.stderr)")
        try await holder.close()
        try await group.shutdownGracefully()
    }

    /// A port nothing listens on now.
    static func adminConfig(adminPort: Int, tokenFile: String) throws -> String {
        try temporaryFile(
            """
            listen:
              - address: 127.0.0.1:0
            admin:
              address: 127.0.0.1:\(adminPort)
              token_file: \(tokenFile)
            clusters:
              - name: shop
                nodes:
                  - { name: tomcat1, address: 127.0.0.1:9 }
            """
        )
    }

    @Test("latch reload says in words that no Latch listens, that the token is wrong, or that it reloaded")
    func reloadInWords() async throws {
        // A port held without listening: refused, and no other test's socket can be given it.
        let unused = try PortReservation()
        let right = try Self.temporaryFile("right-token\n")
        let wrong = try Self.temporaryFile("wrong-token\n")
        let nowhere = try Self.adminConfig(adminPort: unused.port, tokenFile: right)
        // The running Latch's admin listener takes a port of its own (0), read from its log.
        let running = try Self.adminConfig(adminPort: 0, tokenFile: right)
        defer { for path in [right, wrong, nowhere, running] { try? FileManager.default.removeItem(atPath: path) } }

        let nobody = try Self.latch(["reload", "--config", nowhere])
        #expect(nobody.status == .exited(1))
        #expect(nobody.stderr.contains("error: no Latch is listening at 127.0.0.1:\(unused.port), the admin address \(nowhere) names (connection refused)"), "\(nobody.stderr)")
        #expect(!nobody.stderr.contains("SingleConnectionFailure"))

        let latch = try LatchProcess(config: running)
        defer { latch.process.terminate() }
        let adminPort = try #require(await latch.adminPort(), "\(latch.text)")
        // What an operator's lb.yaml names once the port is known: the same file otherwise.
        let client = try Self.adminConfig(adminPort: adminPort, tokenFile: right)
        let mistaken = try Self.adminConfig(adminPort: adminPort, tokenFile: wrong)
        defer { for path in [client, mistaken] { try? FileManager.default.removeItem(atPath: path) } }

        let reloaded = try Self.latch(["reload", "--config", client])
        #expect(reloaded.status == .exited(0), "\(reloaded.stderr)")
        #expect(reloaded.stdout == "reloaded: configuration reloaded from \(running)\n", "\(reloaded.stdout)")

        let refused = try Self.latch(["reload", "--config", mistaken])
        #expect(refused.status == .exited(1))
        #expect(refused.stderr == "error: the running Latch refused the request (401 Unauthorized): \(wrong) does not hold the running Latch's token\n", "\(refused.stderr)")
        #expect(!refused.stdout.contains("{"), "no raw JSON")
        await latch.stop()
    }

    @Test("latch check reads standard input for - and /dev/stdin, and names it <stdin> in errors", arguments: ["-", "/dev/stdin"])
    func checkStandardInput(path: String) throws {
        func check(_ text: String) throws -> Outcome {
            try Self.latch(["check", path], input: text)
        }
        let good = try check(try String(contentsOfFile: Self.exampleConfig, encoding: .utf8))
        #expect(good.status == .exited(0), "\(good.stderr)")
        #expect(good.stdout.hasSuffix("<stdin>: OK\n"), "\(good.stdout)")
        let broken = try check("listen: [ { address: 127.0.0.1:8080 } ]\nclusters: []\n")
        #expect(broken.status == .exited(2))
        #expect(broken.stderr.hasPrefix("error: <stdin>:"), "\(broken.stderr)")
    }

    @Test("latch check passes on the example lb.yaml and prints the summary")
    func checkExample() throws {
        let outcome = try Self.latch(["check", "--config", Self.exampleConfig])
        #expect(outcome.status == .exited(0), "\(outcome.stderr)")
        #expect(outcome.stdout.contains("Cluster \"shop\""))
        #expect(outcome.stdout.contains("tomcat1"))
        #expect(outcome.stdout.contains("replicas tomcat2"))
        #expect(outcome.stdout.hasSuffix("OK\n"))
        let positional = try Self.latch(["check", Self.exampleConfig])
        #expect(positional.status == .exited(0), "latch check lb.yaml works too")
        #expect(positional.stdout == outcome.stdout)
    }

    @Test("latch check on a broken file exits 2 with file, line, column and key, and no Swift dump")
    func checkBroken() throws {
        let path = try Self.temporaryFile(
            """
            listen:
              - address: 0.0.0.0:8080
            clusters:
              - name: shop
                nodes:
                  - { name: tomcat1, address: 10.0.0.11:8080, replicas: [tomcat9] }
            """
        )
        defer { try? FileManager.default.removeItem(atPath: path) }
        let outcome = try Self.latch(["check", "--config", path])
        #expect(outcome.status == .exited(2))
        #expect(outcome.stderr.hasPrefix("error: \(path):6:"))
        #expect(outcome.stderr.contains("clusters[0].nodes[0].replicas[0]: unknown node \"tomcat9\""))
        #expect(!outcome.stderr.contains("DecodingError") && !outcome.stderr.contains("Fatal"))
    }

    @Test("latch check lists every error in the file, one per line, and how many")
    func checkEveryError() throws {
        let path = try Self.temporaryFile(
            """
            listen:
              - address: 0.0.0.0:8080
            threads: 0
            clusters:
              - name: shop
                balance: fastest
                nodes:
                  - { name: tomcat1, address: 10.0.0.11:8080, replicas: [tomcat9] }
            """
        )
        defer { try? FileManager.default.removeItem(atPath: path) }
        let outcome = try Self.latch(["check", path])
        #expect(outcome.status == .exited(2))
        let lines = outcome.stderr.split(separator: "\n")
        #expect(lines.count == 4, "\(outcome.stderr)")
        #expect(lines.first?.hasPrefix("error: \(path):6:14: clusters[0].balance: unknown balance algorithm") == true, "\(outcome.stderr)")
        #expect(lines.contains { $0.hasPrefix("error: \(path):8:") && $0.contains("unknown node \"tomcat9\"") }, "\(outcome.stderr)")
        #expect(lines.contains { $0.hasPrefix("error: \(path):3:10: threads: must be at least 1") }, "\(outcome.stderr)")
        #expect(lines.last == "3 errors in \(path)")
    }

    @Test("latch check on a missing file names the file and the reason")
    func checkMissing() throws {
        let outcome = try Self.latch(["check", "--config", "/nonexistent/lb.yaml"])
        #expect(outcome.status == .exited(2))
        #expect(outcome.stderr.contains("/nonexistent/lb.yaml"))
    }

    @Test("latch route explains a sticky decision and a new session")
    func route() throws {
        let sticky = try Self.latch([
            "route", "--config", Self.exampleConfig, "--cookie", "JSESSIONID=ABC.tomcat2", "--path", "/cart",
        ])
        #expect(sticky.status == .exited(0))
        #expect(sticky.stdout.contains("node:    tomcat2 127.0.0.1:8082"))
        #expect(sticky.stdout.contains("reason:  sticky"))
        let fresh = try Self.latch(["route", "--config", Self.exampleConfig])
        #expect(fresh.stdout.contains("reason:  new"))
    }

    @Test("latch run reports a listener it cannot open and exits non-zero")
    func runCannotListen() async throws {
        // Hold a loopback port so Latch's bind fails.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let holder = try await ServerBootstrap(group: group).bind(host: "127.0.0.1", port: 0).get()
        let port = holder.localAddress!.port!
        let path = try Self.temporaryFile(
            """
            listen:
              - address: 127.0.0.1:\(port)
            clusters:
              - name: shop
                nodes:
                  - { name: tomcat1, address: 127.0.0.1:9 }
            """
        )
        defer { try? FileManager.default.removeItem(atPath: path) }
        let outcome = try Self.latch(["run", "--config", path])
        try await holder.close()
        try await group.shutdownGracefully()
        #expect(outcome.status != .exited(0))
        #expect(outcome.stderr.contains("cannot listen on 127.0.0.1:\(port): Address already in use"), "\(outcome.stderr)")
    }

    @Test("every command has --help")
    func help() throws {
        for command in [[], ["run"], ["check"], ["route"], ["reload"], ["status"], ["state"], ["demo"]] {
            let outcome = try Self.latch(command + ["--help"])
            #expect(outcome.status == .exited(0))
            #expect(outcome.stdout.contains("USAGE: latch"))
        }
    }

    @Test("latch reload checks the file first, and needs an admin listener to reach the running Latch")
    func reload() throws {
        let broken = try Self.temporaryFile("listen: [\n")
        defer { try? FileManager.default.removeItem(atPath: broken) }
        let rejected = try Self.latch(["reload", broken])
        #expect(rejected.status == .exited(2))
        #expect(rejected.stderr.hasPrefix("error: \(broken):"))
        let noAdmin = try Self.latch(["reload", Self.exampleConfigWithoutAdmin()])
        #expect(noAdmin.status == .exited(1))
        #expect(noAdmin.stderr.contains("has no `admin:` block"))
    }

    static func exampleConfigWithoutAdmin() throws -> String {
        try temporaryFile(
            """
            listen:
              - address: 127.0.0.1:8080
            clusters:
              - name: shop
                nodes:
                  - { name: tomcat1, address: 127.0.0.1:8081 }
            """
        )
    }
}
