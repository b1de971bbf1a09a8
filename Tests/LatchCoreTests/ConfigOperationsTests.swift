import Foundation
import Testing
@testable import LatchCore

/// `admin`, `state_file`, `shutdown_grace` and `access_log`, a cluster's `drain` and a node's `state`.
struct ConfigOperationsTests {
    static let head = ConfigErrorTests.head
    static let oneNode = ConfigErrorTests.oneNode

    /// A one-cluster, one-node file followed by `lines` at the top level (which start on line 7).
    static func file(top lines: String) -> String {
        head + "    nodes:\n" + oneNode + lines
    }

    /// A one-cluster file with `lines` (already indented) in the cluster, from line 5, and one plain node.
    static func file(cluster lines: String) -> String {
        head + lines + "    nodes:\n" + oneNode
    }

    /// A one-cluster file whose only node, on line 6, has `fields` after its name and address.
    static func file(node fields: String) -> String {
        head + "    nodes:\n" + "      - { name: tomcat1, address: 10.0.0.11:8080, \(fields) }\n"
    }

    static func parse(_ yaml: String) throws -> LatchConfig {
        try ConfigLoader.parse(yaml: yaml, file: "lb.yaml")
    }

    // MARK: Temporary files

    /// A new, empty directory under the system's temporary directory; the caller removes it.
    static func temporaryDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory
            .appendingPathComponent("latch-operations-test-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        return path
    }

    /// Writes `contents` to `name` in `directory` and returns the file's path.
    static func write(_ contents: Data, _ name: String, in directory: String) throws -> String {
        let path = directory + "/" + name
        try contents.write(to: URL(fileURLWithPath: path))
        return path
    }

    static func write(_ contents: String, _ name: String, in directory: String) throws -> String {
        try write(Data(contents.utf8), name, in: directory)
    }

    // MARK: Defaults

    @Test func everyNewDefaultIsApplied() throws {
        let config = try Self.parse(Self.file(top: ""))
        #expect(config.admin == nil)
        #expect(config.stateFile == nil)
        // Spelled out, so a change of default in the model is a deliberate, visible one.
        #expect(config.shutdownGrace == .seconds(30))
        #expect(config.accessLog.format == .logfmt)
        #expect(config.accessLog.path == nil)
        let cluster = config.clusters[0]
        #expect(cluster.drain.sessionIdle == .seconds(30 * 60))
        #expect(cluster.drain.maintenanceWhenEmpty == true)
        #expect(cluster.drain.deadline == nil)
        #expect(cluster.nodes[0].state == .active)
    }

    @Test(arguments: ["admin:\n", "admin: {}\n", "admin: ~\n", "admin: null\n"])
    func anEmptyAdminBlockTurnsTheListenerOnWithTheDefaults(_ lines: String) throws {
        let admin = try #require(try Self.parse(Self.file(top: lines)).admin)
        #expect(admin.address == HostPort(host: "127.0.0.1", port: 9090))
        #expect(admin.tokenFile == nil)
    }

    @Test func otherEmptyBlocksMeanDefaults() throws {
        // What an operator gets after commenting out every line of the example's blocks.
        let config = try Self.parse(Self.head + "    drain:\n    nodes:\n" + Self.oneNode + "access_log:\n")
        #expect(config.accessLog == AccessLogConfig())
        #expect(config.clusters[0].drain == DrainConfig())
        #expect(try Self.parse(Self.file(cluster: "    drain: {}\n")).clusters[0].drain == DrainConfig())
        #expect(try Self.parse(Self.file(top: "access_log: {}\n")).accessLog == AccessLogConfig())
    }

    // MARK: Every key, default and set

    static let adminRows: [(String, AdminConfig)] = [
        ("address: 127.0.0.1:9090", AdminConfig()),
        ("address: 0.0.0.0:9100", AdminConfig(address: HostPort(host: "0.0.0.0", port: 9100))),
        ("address: \"[::1]:9090\"", AdminConfig(address: HostPort(host: "::1", port: 9090))),
        ("address: admin.internal:9090", AdminConfig(address: HostPort(host: "admin.internal", port: 9090))),
        ("address: localhost:0", AdminConfig(address: HostPort(host: "localhost", port: 0))),
        ("token_file: null", AdminConfig()),
        ("token_file: ~", AdminConfig()),
        ("token_file:", AdminConfig()),
        ("history: 6h", AdminConfig(historySpan: .seconds(6 * 3600))),
        ("history_interval: 1m", AdminConfig(historyInterval: .seconds(60))),
        ("history_interval: 1s", AdminConfig(historyInterval: .seconds(1))),
    ]

    @Test(arguments: adminRows)
    func adminKeyIsRead(_ line: String, _ expected: AdminConfig) throws {
        #expect(try Self.parse(Self.file(top: "admin:\n  \(line)\n")).admin == expected)
    }

    @Test(arguments: [
        ("shutdown_grace: 30s", Duration.seconds(30)),
        ("shutdown_grace: 1m30s", .seconds(90)),
        ("shutdown_grace: 500ms", .milliseconds(500)),
        ("shutdown_grace: 1h", .seconds(3600)),
    ])
    func shutdownGraceIsRead(_ line: String, _ expected: Duration) throws {
        #expect(try Self.parse(Self.file(top: line + "\n")).shutdownGrace == expected)
    }

    @Test(arguments: ["state_file: null", "state_file: ~", "state_file:"])
    func stateFileNullKeepsNoState(_ line: String) throws {
        #expect(try Self.parse(Self.file(top: line + "\n")).stateFile == nil)
    }

    static let accessLogRows: [(String, AccessLogConfig)] = [
        ("format: logfmt", AccessLogConfig()),
        ("format: json", AccessLogConfig(format: .json)),
        ("format: combined", AccessLogConfig(format: .combined)),
        ("path: null", AccessLogConfig()),
        ("path: ~", AccessLogConfig()),
        ("path: /dev/stdout", AccessLogConfig(path: "/dev/stdout")),
    ]

    @Test(arguments: accessLogRows)
    func accessLogKeyIsRead(_ line: String, _ expected: AccessLogConfig) throws {
        #expect(try Self.parse(Self.file(top: "access_log:\n  \(line)\n")).accessLog == expected)
    }

    static let drainRows: [(String, DrainConfig)] = [
        ("session_idle: 30m", DrainConfig()),
        ("session_idle: 20m", DrainConfig(sessionIdle: .seconds(20 * 60))),
        ("session_idle: 1h30m", DrainConfig(sessionIdle: .seconds(90 * 60))),
        ("maintenance_when_empty: true", DrainConfig()),
        ("maintenance_when_empty: false", DrainConfig(maintenanceWhenEmpty: false)),
        ("maintenance_when_empty: no", DrainConfig(maintenanceWhenEmpty: false)),  // YAML's own booleans
        ("deadline: null", DrainConfig()),
        ("deadline: ~", DrainConfig()),
        ("deadline: 2h", DrainConfig(deadline: .seconds(2 * 3600))),
        ("deadline: 90s", DrainConfig(deadline: .seconds(90))),
    ]

    @Test(arguments: drainRows)
    func drainKeyIsRead(_ line: String, _ expected: DrainConfig) throws {
        #expect(try Self.parse(Self.file(cluster: "    drain:\n      \(line)\n")).clusters[0].drain == expected)
    }

    @Test(arguments: [("active", NodeState.active), ("draining", .draining), ("maintenance", .maintenance)])
    func nodeStateIsRead(_ word: String, _ expected: NodeState) throws {
        // In a flow mapping, as the example writes nodes, and in a block mapping.
        #expect(try Self.parse(Self.file(node: "state: \(word)")).clusters[0].nodes[0].state == expected)
        let block = Self.head + "    nodes:\n      - name: tomcat1\n        address: 10.0.0.11:8080\n"
            + "        state: \(word)\n"
        #expect(try Self.parse(block).clusters[0].nodes[0].state == expected)
    }

    @Test func statesAreReadPerNode() throws {
        let yaml = """
            listen: [{ address: "0.0.0.0:8080" }]
            clusters:
              - name: shop
                nodes:
                  - { name: t1, address: 10.0.0.11:8080, state: draining }
                  - { name: t2, address: 10.0.0.12:8080 }
                  - { name: t3, address: 10.0.0.13:8080, state: maintenance, replicas: [t2] }
            """
        #expect(try Self.parse(yaml).clusters[0].nodes.map(\.state) == [.draining, .active, .maintenance])
    }

    @Test func everyNewKeyAtOnce() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let token = try Self.write("  s3cret\n", "admin.token", in: directory)
        let yaml = """
            listen: [{ address: "0.0.0.0:8080" }]
            clusters:
              - name: shop
                drain:
                  session_idle: 20m
                  maintenance_when_empty: false
                  deadline: 2h
                nodes:
                  - { name: app1, address: 10.0.0.11:8080, state: draining }
            admin:
              address: 10.0.0.1:9090
              token_file: "\(token)"
            state_file: "\(directory)/state.json"
            shutdown_grace: 1m
            access_log:
              format: json
              path: "\(directory)/access.log"
            """
        let config = try Self.parse(yaml)
        #expect(config == LatchConfig(
            listeners: [ListenerConfig(address: HostPort(host: "0.0.0.0", port: 8080))],
            clusters: [ClusterConfig(
                name: "shop",
                nodes: [NodeConfig(name: "app1", address: HostPort(host: "10.0.0.11", port: 8080), state: .draining)],
                drain: DrainConfig(sessionIdle: .seconds(20 * 60), maintenanceWhenEmpty: false,
                                   deadline: .seconds(2 * 3600))
            )],
            admin: AdminConfig(address: HostPort(host: "10.0.0.1", port: 9090), tokenFile: token),
            stateFile: directory + "/state.json",
            shutdownGrace: .seconds(60),
            accessLog: AccessLogConfig(format: .json, path: directory + "/access.log")
        ))
    }

    // MARK: Files named by the configuration

    @Test(arguments: ["s3cret", "  s3cret\n", "\ts3cret\r\n\n"])
    func tokenFileIsCheckedButOnlyItsPathKept(_ contents: String) throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let token = try Self.write(contents, "admin.token", in: directory)
        let admin = try Self.parse(Self.file(top: "admin: { token_file: \"\(token)\" }\n")).admin
        #expect(admin == AdminConfig(tokenFile: token))
    }

    @Test func stateFileMayExistOrNot() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let fresh = directory + "/state.json"
        #expect(try Self.parse(Self.file(top: "state_file: \"\(fresh)\"\n")).stateFile == fresh)
        let kept = try Self.write("{}", "kept.json", in: directory)
        #expect(try Self.parse(Self.file(top: "state_file: \"\(kept)\"\n")).stateFile == kept)
        // A bare name is in the working directory, which exists.
        #expect(try Self.parse(Self.file(top: "state_file: latch-state.json\n")).stateFile == "latch-state.json")
    }

    @Test func accessLogPathInAnExistingDirectory() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/access.log"
        let config = try Self.parse(Self.file(top: "access_log: { format: combined, path: \"\(path)\" }\n"))
        #expect(config.accessLog == AccessLogConfig(format: .combined, path: path))
    }

    /// `admin: { token_file: "<path>" }` on line 7; the value starts in column 22.
    static func tokenFailure(_ path: String) -> String? {
        ConfigErrorTests.failure(file(top: "admin: { token_file: \"\(path)\" }\n"))?.description
    }

    @Test func tokenFileMissing() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/admin.token"
        #expect(Self.tokenFailure(path) == "lb.yaml:7:22: admin.token_file: cannot read token file \"\(path)\": "
            + "No such file or directory")
    }

    @Test func tokenFileIsADirectory() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(Self.tokenFailure(directory) == "lb.yaml:7:22: admin.token_file: cannot read token file "
            + "\"\(directory)\": Is a directory")
    }

    @Test(arguments: ["", "\n", "  \t\r\n  \n"])
    func tokenFileEmpty(_ contents: String) throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = try Self.write(contents, "admin.token", in: directory)
        #expect(Self.tokenFailure(path) == "lb.yaml:7:22: admin.token_file: token file \"\(path)\" is empty; "
            + "write the admin token into it")
    }

    @Test func tokenFileNotText() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = try Self.write(Data([0x73, 0xFF, 0xFE, 0x0A]), "admin.token", in: directory)
        #expect(Self.tokenFailure(path) == "lb.yaml:7:22: admin.token_file: token file \"\(path)\" is not valid "
            + "UTF-8 text")
    }

    @Test func stateFileDirectoryMissing() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/missing/state.json"
        let error = ConfigErrorTests.failure(Self.file(top: "state_file: \"\(path)\"\n"))
        #expect(error == ConfigError(file: "lb.yaml", line: 7, column: 13, keyPath: "state_file",
                                     message: "cannot use directory \"\(directory)/missing\" for the state file: "
                                         + "No such file or directory"))
    }

    @Test func stateFileDirectoryIsAFile() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = try Self.write("x", "plain", in: directory)
        #expect(ConfigErrorTests.failure(Self.file(top: "state_file: \"\(file)/state.json\"\n"))?.description
            == "lb.yaml:7:13: state_file: cannot use directory \"\(file)\" for the state file: Not a directory")
    }

    @Test func stateFileNamesADirectory() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(ConfigErrorTests.failure(Self.file(top: "state_file: \"\(directory)\"\n"))?.description
            == "lb.yaml:7:13: state_file: \"\(directory)\" names a directory; "
                + "give a file name, e.g. \"\(directory)/state.json\"")
        // With a trailing slash it is a directory even if it does not exist yet.
        let missing = directory + "/latch/"
        #expect(ConfigErrorTests.failure(Self.file(top: "state_file: \"\(missing)\"\n"))?.description
            == "lb.yaml:7:13: state_file: \"\(missing)\" names a directory; "
                + "give a file name, e.g. \"\(directory)/latch/state.json\"")
    }

    @Test func accessLogDirectoryMissing() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/missing/access.log"
        #expect(ConfigErrorTests.failure(Self.file(top: "access_log:\n  path: \"\(path)\"\n"))?.description
            == "lb.yaml:8:9: access_log.path: cannot use directory \"\(directory)/missing\" for the access log: "
                + "No such file or directory")
    }

    @Test func accessLogPathNamesADirectory() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(ConfigErrorTests.failure(Self.file(top: "access_log:\n  path: \"\(directory)\"\n"))?.description
            == "lb.yaml:8:9: access_log.path: \"\(directory)\" names a directory; "
                + "give a file name, e.g. \"\(directory)/access.log\"")
    }

    // MARK: The admin address and the listeners

    @Test func adminMayShareAPortWithAListenerOnAnotherHost() throws {
        let admin = try Self.parse(Self.file(top: "admin: { address: 127.0.0.1:8080 }\n")).admin
        #expect(admin?.address == HostPort(host: "127.0.0.1", port: 8080))
    }

    @Test func portZeroIsNeverAClash() throws {
        // Two port-0 sockets get two different ephemeral ports.
        let yaml = "listen: [{ address: \"localhost:0\" }]\nclusters:\n  - name: shop\n    nodes:\n" + Self.oneNode
            + "admin: { address: localhost:0 }\n"
        #expect(try Self.parse(yaml).admin?.address == HostPort(host: "localhost", port: 0))
    }

    // MARK: Errors

    struct Broken: Sendable, CustomTestStringConvertible {
        var name: String
        var yaml: String
        var expected: String
        var testDescription: String { name }
    }

    /// Two listeners, the second on the default admin address; top-level lines start on line 8.
    static let adminListenerHead = """
        listen:
          - address: 0.0.0.0:8080
          - address: 127.0.0.1:9090
        clusters:
          - name: shop
            nodes:

        """ + oneNode

    static let errors: [Broken] = [
        // admin.
        Broken(name: "admin address is a listener's", yaml: file(top: "admin: { address: 0.0.0.0:8080 }\n"),
               expected: "lb.yaml:7:19: admin.address: address 0.0.0.0:8080 is already used by listen[0]"),
        Broken(name: "default admin address is a listener's", yaml: adminListenerHead + "admin: {}\n",
               expected: "lb.yaml:8:8: admin: the default admin address 127.0.0.1:9090 is already used by listen[1]; "
                   + "set `address` to another one"),
        Broken(name: "default admin address of an empty block is a listener's",
               yaml: adminListenerHead + "admin: { token_file: null }\n",
               expected: "lb.yaml:8:8: admin: the default admin address 127.0.0.1:9090 is already used by listen[1]; "
                   + "set `address` to another one"),
        Broken(name: "admin address without port", yaml: file(top: "admin: { address: 9090 }\n"),
               expected: "lb.yaml:7:19: admin.address: invalid address \"9090\": "
                   + "missing port; expected host:port, e.g. 10.0.0.11:8080"),
        Broken(name: "admin address empty", yaml: file(top: "admin: { address: }\n"),
               expected: "lb.yaml:7:19: admin.address: expected a string, found an empty value"),
        Broken(name: "admin: false", yaml: file(top: "admin: false\n"),
               expected: "lb.yaml:7:8: admin: expected a mapping of admin keys, found a boolean (false); "
                   + "leave `admin` out for no admin listener"),
        Broken(name: "admin as an address", yaml: file(top: "admin: 127.0.0.1:9090\n"),
               expected: "lb.yaml:7:8: admin: expected a mapping of admin keys, found a string (\"127.0.0.1:9090\"); "
                   + "leave `admin` out for no admin listener"),
        Broken(name: "empty token_file", yaml: file(top: "admin: { token_file: \"\" }\n"),
               expected: "lb.yaml:7:22: admin.token_file: must not be empty; leave `token_file` out for no token"),
        Broken(name: "token_file as a list", yaml: file(top: "admin: { token_file: [a, b] }\n"),
               expected: "lb.yaml:7:22: admin.token_file: expected a string, found a list"),

        // state_file, shutdown_grace, access_log.
        Broken(name: "empty state_file", yaml: file(top: "state_file: \"\"\n"),
               expected: "lb.yaml:7:13: state_file: must not be empty; leave `state_file` out to keep no state"),
        Broken(name: "zero shutdown_grace", yaml: file(top: "shutdown_grace: 0s\n"),
               expected: "lb.yaml:7:17: shutdown_grace: duration must be greater than 0, found \"0s\""),
        Broken(name: "shutdown_grace without unit", yaml: file(top: "shutdown_grace: 30\n"),
               expected: "lb.yaml:7:17: shutdown_grace: invalid duration \"30\"; expected a number with a unit "
                   + "(h, m, s or ms), e.g. 500ms, 2s, 1.5s, 1m30s or 1h"),
        Broken(name: "empty shutdown_grace", yaml: file(top: "shutdown_grace:\n"),
               expected: "lb.yaml:7:16: shutdown_grace: expected a string, found an empty value"),
        Broken(name: "unknown access log format", yaml: file(top: "access_log: { format: text }\n"),
               expected: "lb.yaml:7:23: access_log.format: unknown access log format \"text\" "
                   + "(allowed: logfmt, json, combined)"),
        Broken(name: "access log format in upper case", yaml: file(top: "access_log: { format: JSON }\n"),
               expected: "lb.yaml:7:23: access_log.format: unknown access log format \"JSON\"; "
                   + "did you mean \"json\"? (allowed: logfmt, json, combined)"),
        Broken(name: "empty access log path", yaml: file(top: "access_log: { path: \"\" }\n"),
               expected: "lb.yaml:7:21: access_log.path: must not be empty; leave `path` out to log to standard output"),
        Broken(name: "access_log as a path", yaml: file(top: "access_log: /var/log/latch/access.log\n"),
               expected: "lb.yaml:7:13: access_log: expected a mapping, found a string (\"/var/log/latch/access.log\")"),

        // drain.
        Broken(name: "zero session_idle", yaml: file(cluster: "    drain: { session_idle: 0s }\n"),
               expected: "lb.yaml:5:28: clusters[0].drain.session_idle: duration must be greater than 0, found \"0s\""),
        Broken(name: "maintenance_when_empty as a quoted string",
               yaml: file(cluster: "    drain: { maintenance_when_empty: \"true\" }\n"),
               expected: "lb.yaml:5:38: clusters[0].drain.maintenance_when_empty: expected true or false, "
                   + "found a string (\"true\")"),
        Broken(name: "zero deadline", yaml: file(cluster: "    drain: { deadline: 0s }\n"),
               expected: "lb.yaml:5:24: clusters[0].drain.deadline: duration must be greater than 0, found \"0s\""),
        Broken(name: "deadline without unit", yaml: file(cluster: "    drain: { deadline: 2 }\n"),
               expected: "lb.yaml:5:24: clusters[0].drain.deadline: invalid duration \"2\"; expected a number with a "
                   + "unit (h, m, s or ms), e.g. 500ms, 2s, 1.5s, 1m30s or 1h"),
        Broken(name: "drain: true", yaml: file(cluster: "    drain: true\n"),
               expected: "lb.yaml:5:12: clusters[0].drain: expected a mapping, found a boolean (true)"),

        // A node's state.
        Broken(name: "misspelt node state", yaml: file(node: "state: maintainance"),
               expected: "lb.yaml:6:58: clusters[0].nodes[0].state: unknown node state \"maintainance\"; "
                   + "did you mean \"maintenance\"? (allowed: active, draining, maintenance)"),
        Broken(name: "node state as a verb", yaml: file(node: "state: drain"),
               expected: "lb.yaml:6:58: clusters[0].nodes[0].state: unknown node state \"drain\" "
                   + "(allowed: active, draining, maintenance)"),
        Broken(name: "node state as a boolean", yaml: file(node: "state: false"),
               expected: "lb.yaml:6:58: clusters[0].nodes[0].state: unknown node state \"false\" "
                   + "(allowed: active, draining, maintenance)"),
        Broken(name: "null node state", yaml: file(node: "state: ~"),
               expected: "lb.yaml:6:58: clusters[0].nodes[0].state: expected a string, found an empty value"),

        // Unknown keys in every new block.
        Broken(name: "misspelt admin key", yaml: file(top: "admin: { adress: 127.0.0.1:9090 }\n"),
               expected: "lb.yaml:7:10: admin.adress: unknown key `adress`; did you mean `address`?"),
        Broken(name: "unknown admin key", yaml: file(top: "admin:\n  token: s3cret\n"),
               expected: "lb.yaml:8:3: admin.token: unknown key `token`; expected one of: address, token_file, hosts, history, history_interval"),
        Broken(name: "history_interval below a second", yaml: file(top: "admin: { history_interval: 500ms }\n"),
               expected: "lb.yaml:7:28: admin.history_interval: must be between 1s and 5m, found 500ms"),
        Broken(name: "history_interval not a duration", yaml: file(top: "admin: { history_interval: 10 }\n"),
               expected: "lb.yaml:7:28: admin.history_interval: invalid duration \"10\"; "
                   + "expected a number with a unit (h, m, s or ms), e.g. 500ms, 2s, 1.5s, 1m30s or 1h"),
        Broken(name: "history shorter than its interval", yaml: file(top: "admin: { history_interval: 1m, history: 30s }\n"),
               expected: "lb.yaml:7:41: admin.history: is shorter than history_interval (1m); it keeps at least one point"),
        Broken(name: "history of too many points", yaml: file(top: "admin: { history_interval: 1s, history: 3h }\n"),
               expected: "lb.yaml:7:41: admin.history: would keep more than 8640 points per node at history_interval 1s; "
                   + "shorten it or lengthen history_interval"),
        Broken(name: "misspelt access_log key", yaml: file(top: "access_log: { fromat: json }\n"),
               expected: "lb.yaml:7:15: access_log.fromat: unknown key `fromat`; did you mean `format`?"),
        Broken(name: "unknown access_log key", yaml: file(top: "access_log: { file: /tmp/a.log }\n"),
               expected: "lb.yaml:7:15: access_log.file: unknown key `file`; expected one of: format, path"),
        Broken(name: "misspelt drain key", yaml: file(cluster: "    drain: { deadlin: 2h }\n"),
               expected: "lb.yaml:5:14: clusters[0].drain.deadlin: unknown key `deadlin`; did you mean `deadline`?"),
        Broken(name: "unknown drain key", yaml: file(cluster: "    drain: { idle: 30m }\n"),
               expected: "lb.yaml:5:14: clusters[0].drain.idle: unknown key `idle`; "
                   + "expected one of: session_idle, maintenance_when_empty, deadline"),
        Broken(name: "misspelt cluster key", yaml: file(cluster: "    drian: {}\n"),
               expected: "lb.yaml:5:5: clusters[0].drian: unknown key `drian`; did you mean `drain`?"),
        Broken(name: "misspelt node key", yaml: file(node: "stat: draining"),
               expected: "lb.yaml:6:51: clusters[0].nodes[0].stat: unknown key `stat`; did you mean `state`?"),
        Broken(name: "unknown node key", yaml: file(node: "status: draining"),
               expected: "lb.yaml:6:51: clusters[0].nodes[0].status: unknown key `status`; "
                   + "expected one of: name, address, weight, replicas, health, state, max_connections, slow_start"),
        Broken(name: "misspelt shutdown_grace", yaml: file(top: "shutdown_grase: 30s\n"),
               expected: "lb.yaml:7:1: shutdown_grase: unknown key `shutdown_grase`; did you mean `shutdown_grace`?"),
        Broken(name: "misspelt state_file", yaml: file(top: "statefile: /var/lib/latch/state.json\n"),
               expected: "lb.yaml:7:1: statefile: unknown key `statefile`; did you mean `state_file`?"),
        Broken(name: "misspelt access_log", yaml: file(top: "accesslog: { format: json }\n"),
               expected: "lb.yaml:7:1: accesslog: unknown key `accesslog`; did you mean `access_log`?"),
    ]

    @Test(arguments: errors)
    func reportsExactly(_ broken: Broken) {
        #expect(ConfigErrorTests.failure(broken.yaml)?.description == broken.expected)
    }

    @Test func errorCarriesItsPartsSeparately() throws {
        let error = try #require(ConfigErrorTests.failure(Self.file(top: "admin: { address: 0.0.0.0:8080 }\n")))
        #expect(error == ConfigError(file: "lb.yaml", line: 7, column: 19, keyPath: "admin.address",
                                     message: "address 0.0.0.0:8080 is already used by listen[0]"))
    }

    // MARK: Every node in maintenance

    static let allInMaintenance = """
        listen: [{ address: "0.0.0.0:8080" }]
        clusters:
          - name: shop
            nodes:
              - { name: tomcat1, address: 10.0.0.11:8080, replicas: [tomcat2], state: maintenance }
              - { name: tomcat2, address: 10.0.0.12:8080, state: maintenance }
        """

    @Test func aClusterWithEveryNodeInMaintenanceLoads() throws {
        // How a whole cluster is taken out for an upgrade: no error, and the summary says it, no warning.
        let config = try Self.parse(Self.allInMaintenance)
        #expect(config.clusters[0].nodes.allSatisfy { $0.state == .maintenance })
        let summary = ConfigSummary.render(config)
        #expect(summary.contains("    tomcat1  10.0.0.11:8080  weight 1  replicas tomcat2  state maintenance"))
        #expect(summary.contains("    tomcat2  10.0.0.12:8080  weight 1  no replicas  state maintenance"))
        #expect(!summary.lowercased().contains("warning"))
    }

    // MARK: Summary

    static let listener = ListenerConfig(address: HostPort(host: "0.0.0.0", port: 8080))

    static func node(_ name: String, _ port: Int, state: NodeState = .active,
                     health: HealthCheckConfig? = nil) -> NodeConfig {
        NodeConfig(name: name, address: HostPort(host: "127.0.0.1", port: port), health: health, state: state)
    }

    /// The summary's lines from `Threads:` to the first cluster.
    static func topLines(of config: LatchConfig) -> [String] {
        let lines = ConfigSummary.render(config).split(separator: "\n", omittingEmptySubsequences: false)
        return lines.drop { !$0.hasPrefix("Threads:") }.dropFirst().prefix { !$0.isEmpty }.map(String.init)
    }

    @Test func summaryOfTheDefaults() {
        let config = LatchConfig(listeners: [Self.listener], clusters: [ClusterConfig(name: "shop", nodes: [
            Self.node("tomcat1", 8081),
        ])])
        #expect(Self.topLines(of: config) == [
            "Admin:      off",
            "State file: none (runtime state changes are lost on restart)",
            "Shutdown:   in-flight exchanges get up to 30s to finish",
            "Access log: logfmt to standard output",
        ])
        let lines = ConfigSummary.render(config).split(separator: "\n").map(String.init)
        #expect(lines.contains("  drain:    session idle 30m, maintenance when empty, no deadline"))
        #expect(lines.contains("    tomcat1  127.0.0.1:8081  weight 1  no replicas"))
    }

    @Test func summaryOfEverySetting() {
        let config = LatchConfig(
            listeners: [Self.listener],
            clusters: [ClusterConfig(
                name: "shop",
                nodes: [
                    Self.node("tomcat1", 8081, state: .draining),
                    Self.node("tomcat2", 8082, state: .maintenance, health: HealthCheckConfig()),
                    Self.node("tomcat3", 8083),
                ],
                drain: DrainConfig(sessionIdle: .seconds(20 * 60), maintenanceWhenEmpty: false,
                                   deadline: .seconds(90 * 60))
            )],
            admin: AdminConfig(tokenFile: "/etc/latch/admin.token"),
            stateFile: "/var/lib/latch/state.json",
            shutdownGrace: .milliseconds(2500),
            accessLog: AccessLogConfig(format: .json, path: "/var/log/latch/access.log")
        )
        #expect(Self.topLines(of: config) == [
            "Admin:      127.0.0.1:9090 (token from /etc/latch/admin.token, history 1h every 10s)",
            "State file: /var/lib/latch/state.json",
            "Shutdown:   in-flight exchanges get up to 2s500ms to finish",
            "Access log: json to /var/log/latch/access.log",
        ])
        let lines = ConfigSummary.render(config).split(separator: "\n").map(String.init)
        #expect(Array(lines.drop { !$0.hasPrefix("  drain:") }) == [
            "  drain:    session idle 20m, stays draining when empty, deadline 1h30m",
            "  limits:   200 requests in flight per node, up to 100 more wait 5s",
            "  nodes:",
            "    tomcat1  127.0.0.1:8081  weight 1  no replicas  state draining",
            "    tomcat2  127.0.0.1:8082  weight 1  no replicas  state maintenance  health: http GET /health every 2s "
                + "±10% (timeout 1s, rise 2, fall 3, expect 200-399, initial down)",
            "    tomcat3  127.0.0.1:8083  weight 1  no replicas",
        ])
    }

    @Test func summaryOfAnAdminListenerWithoutToken() {
        var config = LatchConfig(listeners: [Self.listener], clusters: [ClusterConfig(name: "shop", nodes: [
            Self.node("tomcat1", 8081),
        ])])
        config.admin = AdminConfig(address: HostPort(host: "::1", port: 9191))
        config.accessLog.format = .combined
        #expect(Self.topLines(of: config).first == "Admin:      [::1]:9191 (no token, history 1h every 10s)")
        #expect(Self.topLines(of: config).last == "Access log: combined to standard output")
    }

    // MARK: The example file

    static var examplePath: String { ConfigFailoverTests.examplePath }

    @Test func exampleFileShowsTheOperationsDefaults() throws {
        let config = try ConfigLoader.load(path: Self.examplePath)
        // An admin listener on its default address and without a token; everything else as by default.
        #expect(config.admin == AdminConfig())
        #expect(config.stateFile == nil)
        #expect(config.shutdownGrace == .seconds(30))
        #expect(config.accessLog == AccessLogConfig())
        #expect(config.clusters[0].drain == DrainConfig())
        #expect(config.clusters[0].nodes.allSatisfy { $0.state == .active })
        let summary = ConfigSummary.render(config)
        #expect(summary.contains("Admin:      127.0.0.1:9090 (no token, history 1h every 10s)"))
        #expect(summary.contains("  drain:    session idle 30m, maintenance when empty, no deadline"))
    }

    @Test func exampleCommentedKeysLoadWhenUncommented() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let token = try Self.write("s3cret\n", "admin.token", in: directory)
        var yaml = try String(contentsOfFile: Self.examplePath, encoding: .utf8)
        // The example's own paths need not exist here; each is swapped for one in the temporary directory.
        let edits = [
            ("  # token_file: /etc/latch/admin.token", "  token_file: \(token)"),
            ("# state_file: /var/lib/latch/state.json", "state_file: \(directory)/state.json"),
            ("  # path: /var/log/latch/access.log", "  path: \(directory)/access.log"),
            ("      # deadline: 2h", "      deadline: 2h"),
            ("replicas: [tomcat2] }", "replicas: [tomcat2], state: draining }"),
        ]
        for (commented, uncommented) in edits {
            #expect(yaml.contains(commented))
            yaml = yaml.replacingOccurrences(of: commented, with: uncommented)
        }
        #expect(yaml.contains("`state: draining`"))
        let config = try ConfigLoader.parse(yaml: yaml, file: "lb.yaml")
        #expect(config.admin == AdminConfig(tokenFile: token))
        #expect(config.stateFile == directory + "/state.json")
        #expect(config.accessLog == AccessLogConfig(path: directory + "/access.log"))
        #expect(config.clusters[0].drain == DrainConfig(deadline: .seconds(2 * 3600)))
        #expect(config.clusters[0].nodes.map(\.state) == [.draining, .active, .active])
    }

    @Test func adminHostsAreNamesOnly() throws {
        let admin = try Self.parse(Self.file(top: "admin: { hosts: [lb1.internal, Admin.Example] }\n")).admin
        #expect(admin?.hosts == ["lb1.internal", "Admin.Example"])
        #expect(throws: ConfigError.self) { try Self.parse(Self.file(top: "admin: { hosts: [\"lb1:9090\"] }\n")) }
        do {
            _ = try Self.parse(Self.file(top: "admin: { hosts: [\"http://lb1\"] }\n"))
        } catch {
            #expect("\(error)".hasSuffix("admin.hosts[0]: \"http://lb1\" is not a host name; list names only, without scheme or port"))
        }
    }
}
