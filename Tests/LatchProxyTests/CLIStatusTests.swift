import Foundation
import LatchCore
import Testing

/// `latch status` and `latch state` as an operator runs them, against real `latch run` processes: one
/// reached through its lb.yaml, and two of a fleet reached through `--admin` URLs.
@Suite("latch status and latch state", .timeLimit(.minutes(1)))
struct CLIStatusTests {
    /// A running Latch whose admin listener is on a port it chose (`127.0.0.1:0`), and an lb.yaml that
    /// names that port, for the commands to read: the one `latch run` got cannot name it.
    final class Instance {
        let process: LatchProcess
        let directory: String
        let port: Int
        /// The lb.yaml `latch status --config` reads.
        let config: String
        let tokenFile: String
        var url: String { "http://127.0.0.1:\(port)" }

        init(token: String = "right-token") async throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("latch-status-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
            tokenFile = directory + "/admin.token"
            try "\(token)\n".write(toFile: tokenFile, atomically: true, encoding: .utf8)
            let run = directory + "/run.yaml"
            try Self.config(adminPort: 0, tokenFile: tokenFile).write(toFile: run, atomically: true, encoding: .utf8)
            process = try LatchProcess(config: run)
            port = try #require(await process.adminPort(), "\(process.text)")
            config = directory + "/lb.yaml"
            try Self.config(adminPort: port, tokenFile: tokenFile).write(toFile: config, atomically: true, encoding: .utf8)
        }

        static func config(adminPort: Int, tokenFile: String) -> String {
            """
            listen:
              - address: 127.0.0.1:0
            admin:
              address: 127.0.0.1:\(adminPort)
              token_file: \(tokenFile)
            control_socket: false
            clusters:
              - name: shop
                nodes:
                  - { name: tomcat1, address: 127.0.0.1:9 }
                  - { name: tomcat2, address: 127.0.0.1:9, replicas: [tomcat1] }
            """
        }

        deinit {
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    /// A file next to the instance's, e.g. another token.
    static func file(_ text: String, in instance: Instance) throws -> String {
        let path = instance.directory + "/\(UUID().uuidString)"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// The nodes of `latch status --json` for one Latch: name → the node's object.
    static func nodes(_ arguments: [String]) throws -> [String: [String: Any]] {
        let outcome = try CLITests.latch(["status", "--json"] + arguments)
        #expect(outcome.status == .exited(0), "\(outcome.stderr)")
        let document = try #require(try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any], "\(outcome.stdout)")
        return Self.nodes(in: document)
    }

    static func nodes(in document: [String: Any]) -> [String: [String: Any]] {
        let clusters = document["clusters"] as? [[String: Any]] ?? []
        let nodes = clusters.flatMap { $0["nodes"] as? [[String: Any]] ?? [] }
        return Dictionary(nodes.map { ($0["name"] as? String ?? "?", $0) }) { first, _ in first }
    }

    @Test("latch status prints a running Latch's clusters and nodes as an aligned table, and its JSON with --json")
    func statusOfOne() async throws {
        let latch = try await Instance()
        let outcome = try CLITests.latch(["status", "--config", latch.config])
        #expect(outcome.status == .exited(0), "\(outcome.stderr)")
        #expect(outcome.stderr.isEmpty, "\(outcome.stderr)")
        let lines = outcome.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines.first?.hasPrefix("\(latch.url) (latch \(LatchVersion.current)") == true, "\(outcome.stdout)")
        #expect(lines.contains("cluster shop"), "\(outcome.stdout)")
        let title = try #require(lines.first { $0.hasPrefix("NODE") }, "\(outcome.stdout)")
        #expect(title.split(separator: " ") == ["NODE", "STATE", "HEALTH", "USABLE", "SESSIONS", "ACTIVE", "REQ/S", "ERRORS", "SINCE"])
        let row = try #require(lines.first { $0.hasPrefix("tomcat1 ") }, "\(outcome.stdout)")
        #expect(row.split(separator: " ").prefix(6) == ["tomcat1", "active", "unchecked", "yes", "0", "0"], "\(row)")
        // Aligned: text starts under its title, a number ends under its title.
        for (cell, column) in [("active", "STATE"), ("unchecked", "HEALTH"), ("yes", "USABLE")] {
            #expect(row.offset(of: " \(cell) ") == title.offset(of: " \(column) "), "\(title)\n\(row)")
        }
        for column in ["SESSIONS", "ACTIVE", "ERRORS"] {
            let end = try #require(title.offset(of: column)) + column.count
            #expect(Array(row)[end - 2...end] == [" ", "0", " "], "\(column):\n\(title)\n\(row)")
        }
        #expect(lines.contains { $0.hasPrefix("tomcat2 ") }, "\(outcome.stdout)")

        let nodes = try Self.nodes(["--config", latch.config])
        #expect(Set(nodes.keys) == ["tomcat1", "tomcat2"])
        #expect(nodes["tomcat1"]?["effective_state"] as? String == "active")
    }

    @Test("latch state changes a node through lb.yaml's admin address and token, and says in words why it cannot")
    func stateThroughConfig() async throws {
        let latch = try await Instance()
        let changed = try CLITests.latch(["state", "shop/tomcat1", "draining", "--config", latch.config])
        #expect(changed.status == .exited(0), "\(changed.stderr)")
        #expect(changed.stdout == "\(latch.url): shop/tomcat1 active → draining\n")
        #expect(try Self.nodes(["--config", latch.config])["tomcat1"]?["state"] as? String == "draining")
        let again = try CLITests.latch(["state", "shop/tomcat1", "draining", latch.config])
        #expect(again.stdout == "\(latch.url): shop/tomcat1 already draining\n", "\(again.stderr)")

        let wrong = try Self.file("wrong-token\n", in: latch)
        let refused = try CLITests.latch(["state", "shop/tomcat1", "active", "--config", latch.config, "--token-file", wrong])
        #expect(refused.status == .exited(1))
        #expect(refused.stderr == "error: \(latch.url): the running Latch refused the request (401 Unauthorized): \(wrong) does not hold the running Latch's token\n")
        #expect(refused.stdout.isEmpty)

        let unknown = try CLITests.latch(["state", "shop/tomcat9", "active", "--config", latch.config])
        #expect(unknown.status == .exited(1))
        #expect(unknown.stderr == "error: \(latch.url): no node \"tomcat9\" in cluster \"shop\"\n")

        // Refused before anything is sent: the node stays draining.
        let word = try CLITests.latch(["state", "shop/tomcat1", "up", "--config", latch.config])
        #expect(word.status == .exited(64))
        #expect(word.stderr.contains("unknown state 'up': use active, draining or maintenance"), "\(word.stderr)")
        let form = try CLITests.latch(["state", "tomcat1", "active", "--config", latch.config])
        #expect(form.status == .exited(64))
        #expect(form.stderr.contains("'tomcat1' does not name a node: write its cluster and name as CLUSTER/NODE"), "\(form.stderr)")
        let empty = try Self.file("\n", in: latch)
        let noToken = try CLITests.latch(["state", "shop/tomcat1", "active", "--config", latch.config, "--token-file", empty])
        #expect(noToken.status == .exited(2))
        #expect(noToken.stderr == "error: the token file \(empty) is empty\n")
        #expect(try Self.nodes(["--config", latch.config])["tomcat1"]?["state"] as? String == "draining")

        await latch.process.stop()
        let gone = try CLITests.latch(["status", "--config", latch.config])
        #expect(gone.status == .exited(1))
        #expect(gone.stderr == "error: \(latch.url): no Latch is listening at 127.0.0.1:\(latch.port), the admin address \(latch.config) names (connection refused); is it running, with this file?\n")
    }

    @Test("--config with --admin, another scheme than http://, a URL without a port or a file without admin are refused by name")
    func refusedBeforeSending() throws {
        let noAdmin = try CLITests.minimalConfig()
        defer { try? FileManager.default.removeItem(atPath: noAdmin) }
        let cases: [([String], Int32, String)] = [
            (["status", "--config", "lb.yaml", "--admin", "http://127.0.0.1:9090"], 64, "give the configuration file ('lb.yaml') or --admin, not both"),
            (["status", "--admin", "https://127.0.0.1:9090"], 64, "--admin https://127.0.0.1:9090: only http:// URLs; the admin listener has no TLS"),
            (["state", "shop/tomcat1", "active", "--admin", "http://127.0.0.1"], 64, "--admin http://127.0.0.1: give the port too, e.g. http://127.0.0.1:9090"),
            (["status", "--admin", "127.0.0.1:9090/api"], 64, "--admin 127.0.0.1:9090/api: give the admin listener as http://HOST:PORT, without a path"),
            (["status", "--config", noAdmin], 1, "has no `admin:` block; add one, or give --admin URL"),
            (["state", "shop/tomcat1", "active", "--admin", "127.0.0.1:9090", "--token-file", "/nonexistent/token"], 2,
             "error: cannot read the token file /nonexistent/token: No such file or directory"),
        ]
        for (arguments, status, message) in cases {
            let outcome = try CLITests.latch(arguments)
            #expect(outcome.status == .exited(status), "\(arguments): \(outcome.stderr)")
            #expect(outcome.stderr.contains(message), "\(arguments): \(outcome.stderr)")
        }
    }

    @Test("a fleet: latch state changes the node on every Latch given, reports each in order, and exits 1 if one fails")
    func fleet() async throws {
        async let startingFirst = Instance(token: "fleet-token")
        async let startingSecond = Instance(token: "fleet-token")
        let (first, second) = try await (startingFirst, startingSecond)
        let both = ["--admin", first.url, "--admin", "127.0.0.1:\(second.port)"]

        let drained = try CLITests.latch(["state", "shop/tomcat1", "draining", "--token-file", first.tokenFile] + both)
        #expect(drained.status == .exited(0), "\(drained.stderr)")
        #expect(drained.stdout == "\(first.url): shop/tomcat1 active → draining\n\(second.url): shop/tomcat1 active → draining\n")

        let table = try CLITests.latch(["status"] + both)
        #expect(table.status == .exited(0), "\(table.stderr)")
        let headings = table.stdout.split(separator: "\n").filter { $0.hasPrefix("http://") }
        #expect(headings.map { $0.prefix { $0 != " " } } == [first.url[...], second.url[...]], "\(table.stdout)")
        #expect(table.stdout.split(separator: "\n").filter { $0.hasPrefix("tomcat1 ") && $0.contains(" draining ") }.count == 2, "\(table.stdout)")

        let json = try CLITests.latch(["status", "--json"] + both)
        let array = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]], "\(json.stdout)")
        #expect(array.map { $0["admin"] as? String } == [first.url, second.url])
        #expect(array.map { Self.nodes(in: $0["status"] as? [String: Any] ?? [:])["tomcat1"]?["state"] as? String } == ["draining", "draining"])

        await second.process.stop()
        let half = try CLITests.latch(["state", "shop/tomcat1", "active", "--token-file", first.tokenFile] + both)
        #expect(half.status == .exited(1))
        #expect(half.stdout == "\(first.url): shop/tomcat1 draining → active\n")
        #expect(half.stderr == "error: \(second.url): no Latch is listening at 127.0.0.1:\(second.port) (connection refused)\n")

        let partial = try CLITests.latch(["status"] + both)
        #expect(partial.status == .exited(1))
        #expect(partial.stdout.hasPrefix("\(first.url) (latch"), "\(partial.stdout)")
        #expect(partial.stderr == "error: \(second.url): no Latch is listening at 127.0.0.1:\(second.port) (connection refused)\n")
        let partialJSON = try CLITests.latch(["status", "--json"] + both)
        let entries = try #require(try JSONSerialization.jsonObject(with: Data(partialJSON.stdout.utf8)) as? [[String: Any]])
        #expect(entries.last?["error"] as? String == "no Latch is listening at 127.0.0.1:\(second.port) (connection refused)")
        #expect(partialJSON.status == .exited(1))
    }
}

extension String {
    /// Characters before the first `needle`.
    func offset(of needle: String) -> Int? {
        range(of: needle).map { distance(from: startIndex, to: $0.lowerBound) }
    }
}
