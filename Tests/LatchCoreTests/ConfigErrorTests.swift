import Testing
@testable import LatchCore

/// One broken `lb.yaml` per class of mistake, each with the exact message an operator would see.
/// The wording is part of the interface: `latch check` prints these verbatim.
struct ConfigErrorTests {
    struct Broken: Sendable, CustomTestStringConvertible {
        var name: String
        var yaml: String
        var expected: String
        var testDescription: String { name }
    }

    /// The smallest valid head of a file, so cases only differ where they break.
    static let head = """
        listen:
          - address: 0.0.0.0:8080
        clusters:
          - name: shop

        """

    static let oneNode = "      - { name: tomcat1, address: 10.0.0.11:8080 }\n"

    static let cases: [Broken] = [
        // Whole-file problems.
        Broken(name: "empty file", yaml: "",
               expected: "lb.yaml: the file is empty; it needs at least `listen` and `clusters`"),
        Broken(name: "only comments", yaml: "# listen: nothing yet\n",
               expected: "lb.yaml: the file is empty; it needs at least `listen` and `clusters`"),
        Broken(name: "top level is a list", yaml: "- listen\n- clusters\n",
               expected: "lb.yaml:1:1: expected a mapping with `listen` and `clusters` at the top level, found a list"),
        Broken(name: "top level is a string", yaml: "hello\n",
               expected: "lb.yaml:1:1: expected a mapping with `listen` and `clusters` at the top level, "
                   + "found a string (\"hello\")"),

        // YAML syntax.
        Broken(name: "unclosed flow list", yaml: "listen: [ { address: 0.0.0.0:8080 }\nclusters: []\n",
               expected: "lb.yaml:2:1: invalid YAML: did not find expected ',' or ']' "
                   + "(while parsing a flow sequence that started at line 1, column 9)"),
        Broken(name: "bad indentation", yaml: "listen:\n  - address: 0.0.0.0:8080\n clusters: []\n",
               expected: "lb.yaml:3:2: invalid YAML: did not find expected key "
                   + "(while parsing a block mapping that started at line 1, column 1)"),
        Broken(name: "tab indentation", yaml: "listen:\n\t- address: 0.0.0.0:8080\n",
               expected: "lb.yaml:2:1: invalid YAML: found character that cannot start any token "
                   + "(while scanning for the next token that started at line 2, column 1); "
                   + "YAML does not allow tabs for indentation, use spaces"),
        Broken(name: "unquoted wildcard host", yaml: head + "    match: { host: *.example.com }\n    nodes:\n" + oneNode,
               expected: "lb.yaml:5:21: invalid YAML: did not find expected alphabetic or numeric character "
                   + "(while scanning an alias that started at line 5, column 20); "
                   + "a value starting with `*` must be quoted, e.g. host: \"*.example.com\""),
        Broken(name: "two documents", yaml: "listen: []\n---\nclusters: []\n",
               expected: "lb.yaml:2:1: invalid YAML: a second document starts here; Latch reads one document per file"),
        Broken(name: "control character", yaml: "listen:\n  - address: 0.0.0.0:80\u{7}\n",
               expected: "lb.yaml:2:24: invalid YAML: control characters are not allowed"),

        // Duplicate keys: reported at the repeat, with the first occurrence's position.
        Broken(name: "duplicate top-level key", yaml: head + "    nodes:\n" + oneNode + "listen: []\n",
               expected: "lb.yaml:7:1: listen: duplicate key `listen`; it is already set at line 1, column 1"),
        Broken(name: "duplicate nested key",
               yaml: head + "    balance: round_robin\n    nodes:\n" + oneNode + "    balance: random_two\n",
               expected: "lb.yaml:8:5: clusters[0].balance: duplicate key `balance`; it is already set at line 5, column 5"),
        Broken(name: "duplicate key in a flow mapping",
               yaml: head + "    nodes:\n      - { name: tomcat1, address: 10.0.0.11:8080, name: tomcat2 }\n",
               expected: "lb.yaml:6:51: clusters[0].nodes[0].name: duplicate key `name`; "
                   + "it is already set at line 6, column 11"),
        Broken(name: "duplicate key, once quoted", yaml: "listen: []\n\"clusters\": []\nclusters: []\n",
               expected: "lb.yaml:3:1: clusters: duplicate key `clusters`; it is already set at line 2, column 1"),
        Broken(name: "several duplicate keys",
               yaml: "timeouts: { idle: 1s, idle: 2s, connect: 1s, connect: 3s, idle: 4s }\n",
               expected: "lb.yaml:1:46: timeouts.connect: duplicate key `connect`; it is already set at line 1, column 33"),

        // Unknown keys.
        Broken(name: "unknown key with suggestion", yaml: head + "    balanse: round_robin\n    nodes:\n" + oneNode,
               expected: "lb.yaml:5:5: clusters[0].balanse: unknown key `balanse`; did you mean `balance`?"),
        Broken(name: "swapped letters get a suggestion", yaml: head + "    nodes:\n      - { nmae: tomcat1 }\n",
               expected: "lb.yaml:6:11: clusters[0].nodes[0].nmae: unknown key `nmae`; did you mean `name`?"),
        Broken(name: "unknown key without suggestion", yaml: head + "    nodes:\n" + oneNode + "logging: debug\n",
               expected: "lb.yaml:7:1: logging: unknown key `logging`; "
                   + "expected one of: listen, clusters, timeouts, pool, forwarding, threads, limits, admin, state_file, "
                   + "shutdown_grace, access_log, control_socket"),

        // Wrong types.
        Broken(name: "mapping instead of list", yaml: "listen:\n  - address: 0.0.0.0:8080\nclusters:\n  shop:\n    nodes: []\n",
               expected: "lb.yaml:4:3: clusters: expected a list, found a mapping"),
        Broken(name: "string instead of mapping", yaml: "listen:\n  - 0.0.0.0:8080\nclusters: []\n",
               expected: "lb.yaml:2:5: listen[0]: expected a mapping, found a string (\"0.0.0.0:8080\")"),
        Broken(name: "list instead of string", yaml: "listen:\n  - address: [0.0.0.0, 8080]\nclusters: []\n",
               expected: "lb.yaml:2:14: listen[0].address: expected a string, found a list"),
        Broken(name: "string instead of integer",
               yaml: head + "    nodes:\n      - { name: tomcat1, address: 10.0.0.11:8080, weight: heavy }\n",
               expected: "lb.yaml:6:59: clusters[0].nodes[0].weight: expected an integer, found a string (\"heavy\")"),
        Broken(name: "empty value instead of string", yaml: head + "    session: { cookie: }\n    nodes:\n" + oneNode,
               expected: "lb.yaml:5:24: clusters[0].session.cookie: expected a string, found an empty value"),

        // Missing and empty.
        Broken(name: "missing listen", yaml: "clusters:\n  - name: shop\n    nodes:\n" + oneNode,
               expected: "lb.yaml:1:1: missing required key `listen`"),
        Broken(name: "missing clusters", yaml: "listen:\n  - address: 0.0.0.0:8080\n",
               expected: "lb.yaml:1:1: missing required key `clusters`"),
        Broken(name: "missing node address", yaml: head + "    nodes:\n      - name: tomcat1\n",
               expected: "lb.yaml:6:9: clusters[0].nodes[0]: missing required key `address`"),
        Broken(name: "empty listen", yaml: "listen: []\nclusters: []\n",
               expected: "lb.yaml:1:9: listen: no listeners; add at least one, e.g. `- address: 0.0.0.0:8080`"),
        Broken(name: "empty clusters", yaml: "listen:\n  - address: 0.0.0.0:8080\nclusters: []\n",
               expected: "lb.yaml:3:11: clusters: no clusters; add at least one with a `name` and `nodes`"),
        Broken(name: "cluster without nodes", yaml: head + "    nodes: []\n",
               expected: "lb.yaml:5:12: clusters[0].nodes: cluster \"shop\" has no nodes; "
                   + "add at least one with a `name` and an `address`"),

        // Names and references.
        Broken(name: "duplicate cluster name", yaml: head + "    nodes:\n" + oneNode + "  - name: shop\n    nodes:\n" + oneNode,
               expected: "lb.yaml:7:11: clusters[1].name: duplicate cluster name \"shop\" (already used by clusters[0] at line 4)"),
        Broken(name: "duplicate node name",
               yaml: head + "    nodes:\n" + oneNode + "      - { name: tomcat1, address: 10.0.0.12:8080 }\n",
               expected: "lb.yaml:7:17: clusters[0].nodes[1].name: duplicate node name \"tomcat1\" in cluster \"shop\" "
                   + "(already used by clusters[0].nodes[0] at line 6)"),
        Broken(name: "unknown replica",
               yaml: head + "    nodes:\n"
                   + "      - { name: tomcat1, address: 10.0.0.11:8080, replicas: [tomcat2] }\n"
                   + "      - { name: tomcat2, address: 10.0.0.12:8080, replicas: [tomcat9] }\n",
               expected: "lb.yaml:7:62: clusters[0].nodes[1].replicas[0]: unknown node \"tomcat9\" in cluster \"shop\" "
                   + "(nodes: tomcat1, tomcat2)"),
        Broken(name: "node is its own replica",
               yaml: head + "    nodes:\n"
                   + "      - { name: tomcat1, address: 10.0.0.11:8080, replicas: [tomcat2, tomcat1] }\n"
                   + "      - { name: tomcat2, address: 10.0.0.12:8080 }\n",
               expected: "lb.yaml:6:71: clusters[0].nodes[0].replicas[1]: node \"tomcat1\" cannot be its own replica"),
        Broken(name: "replica listed twice",
               yaml: head + "    nodes:\n      - name: tomcat1\n        address: 10.0.0.11:8080\n"
                   + "        replicas:\n          - tomcat2\n          - tomcat2\n"
                   + "      - { name: tomcat2, address: 10.0.0.12:8080 }\n",
               expected: "lb.yaml:10:13: clusters[0].nodes[0].replicas[1]: node \"tomcat2\" is listed twice "
                   + "in the replicas of \"tomcat1\""),
        Broken(name: "empty node name", yaml: head + "    nodes:\n      - { name: \"\", address: 10.0.0.11:8080 }\n",
               expected: "lb.yaml:6:17: clusters[0].nodes[0].name: node name must not be empty; it is the route in session ids"),
        Broken(name: "node name with a character routes cannot carry",
               yaml: head + "    nodes:\n      - { name: \"tomcat;1\", address: 10.0.0.11:8080 }\n",
               expected: "lb.yaml:6:17: clusters[0].nodes[0].name: node name \"tomcat;1\" contains \";\", which cannot "
                   + "appear in a session id route; use letters, digits, \"-\", \".\", \"_\" and \"~\""),

        // Values.
        Broken(name: "address without port", yaml: "listen:\n  - address: 0.0.0.0\nclusters: []\n",
               expected: "lb.yaml:2:14: listen[0].address: invalid address \"0.0.0.0\": "
                   + "missing port; expected host:port, e.g. 10.0.0.11:8080"),
        Broken(name: "port out of range", yaml: "listen:\n  - address: 0.0.0.0:70000\nclusters: []\n",
               expected: "lb.yaml:2:14: listen[0].address: invalid address \"0.0.0.0:70000\": port 70000 is out of range 0...65535"),
        Broken(name: "unbracketed IPv6", yaml: "listen:\n  - address: \"::1:8080\"\nclusters: []\n",
               expected: "lb.yaml:2:14: listen[0].address: invalid address \"::1:8080\": "
                   + "an IPv6 address must be in brackets, e.g. [::1]:8080"),
        Broken(name: "node on port 0", yaml: head + "    nodes:\n      - { name: tomcat1, address: 10.0.0.11:0 }\n",
               expected: "lb.yaml:6:35: clusters[0].nodes[0].address: invalid address \"10.0.0.11:0\": "
                   + "port 0 only makes sense for a listener; a node needs its real port"),
        Broken(name: "same listener twice", yaml: "listen:\n  - address: 0.0.0.0:8080\n  - address: 0.0.0.0:8080\n",
               expected: "lb.yaml:3:14: listen[1].address: address 0.0.0.0:8080 is already used by listen[0]"),
        Broken(name: "duration without unit", yaml: head + "    nodes:\n" + oneNode + "timeouts:\n  connect: 2\n",
               expected: "lb.yaml:8:12: timeouts.connect: invalid duration \"2\"; expected a number with a unit "
                   + "(h, m, s or ms), e.g. 500ms, 2s, 1.5s, 1m30s or 1h"),
        Broken(name: "zero duration", yaml: head + "    nodes:\n" + oneNode + "pool: { idle_timeout: 0s }\n",
               expected: "lb.yaml:7:23: pool.idle_timeout: duration must be greater than 0, found \"0s\""),
        Broken(name: "bad balance with suggestion", yaml: head + "    balance: round-robin\n    nodes:\n" + oneNode,
               expected: "lb.yaml:5:14: clusters[0].balance: unknown balance algorithm \"round-robin\"; "
                   + "did you mean \"round_robin\"? (allowed: round_robin, least_connections, random_two)"),
        Broken(name: "bad forwarding mode", yaml: head + "    nodes:\n" + oneNode + "forwarding: { x_forwarded_for: trust }\n",
               expected: "lb.yaml:7:32: forwarding.x_forwarded_for: unknown x_forwarded_for mode \"trust\" "
                   + "(allowed: replace, append)"),
        Broken(name: "weight 0",
               yaml: head + "    nodes:\n      - { name: tomcat1, address: 10.0.0.11:8080, weight: 0 }\n",
               expected: "lb.yaml:6:59: clusters[0].nodes[0].weight: weight 0 is out of range 1...1000"),
        Broken(name: "weight 1001",
               yaml: head + "    nodes:\n      - { name: tomcat1, address: 10.0.0.11:8080, weight: 1001 }\n",
               expected: "lb.yaml:6:59: clusters[0].nodes[0].weight: weight 1001 is out of range 1...1000"),
        Broken(name: "integer too large", yaml: head + "    nodes:\n" + oneNode + "threads: 99999999999999999999\n",
               expected: "lb.yaml:7:10: threads: integer 99999999999999999999 is too large"),
        Broken(name: "threads 0", yaml: head + "    nodes:\n" + oneNode + "threads: 0\n",
               expected: "lb.yaml:7:10: threads: must be at least 1, found 0; leave it out for one thread per core"),
        Broken(name: "negative max_idle_per_node", yaml: head + "    nodes:\n" + oneNode + "pool:\n  max_idle_per_node: -1\n",
               expected: "lb.yaml:8:22: pool.max_idle_per_node: must be 0 or more, found -1; 0 disables pooling"),
        Broken(name: "path_prefix without slash", yaml: head + "    match: { path_prefix: shop }\n    nodes:\n" + oneNode,
               expected: "lb.yaml:5:27: clusters[0].match.path_prefix: must start with \"/\", found \"shop\""),
        Broken(name: "misplaced wildcard", yaml: head + "    match: { host: \"shop.*.com\" }\n    nodes:\n" + oneNode,
               expected: "lb.yaml:5:20: clusters[0].match.host: \"shop.*.com\": a wildcard is only allowed "
                   + "as a leading \"*.\", e.g. \"*.example.com\""),
        Broken(name: "empty separator", yaml: head + "    session: { separator: \"\" }\n    nodes:\n" + oneNode,
               expected: "lb.yaml:5:27: clusters[0].session.separator: must not be empty; Tomcat uses \".\", WebLogic \"!\""),
        Broken(name: "cookie name with a space", yaml: head + "    session: { cookie: \"MY SESSION\" }\n    nodes:\n" + oneNode,
               expected: "lb.yaml:5:24: clusters[0].session.cookie: \"MY SESSION\" contains \" \", "
                   + "which a cookie name cannot contain"),
    ]

    @Test(arguments: cases)
    func reportsExactly(_ broken: Broken) {
        #expect(Self.failure(broken.yaml)?.description == broken.expected)
    }

    @Test func errorCarriesItsPartsSeparately() throws {
        let error = try #require(Self.failure(Self.head + "    balanse: round_robin\n    nodes:\n" + Self.oneNode))
        #expect(error.file == "lb.yaml")
        #expect(error.line == 5)
        #expect(error.column == 5)
        #expect(error.keyPath == "clusters[0].balanse")
        #expect(error.message == "unknown key `balanse`; did you mean `balance`?")
    }

    @Test func descriptionLeavesOutWhatIsUnknown() {
        #expect(ConfigError(file: "lb.yaml", message: "m").description == "lb.yaml: m")
        #expect(ConfigError(file: "lb.yaml", keyPath: "a.b", message: "m").description == "lb.yaml: a.b: m")
        #expect(ConfigError(file: "lb.yaml", line: 3, message: "m").description == "lb.yaml:3: m")
        #expect(ConfigError(file: "lb.yaml", line: 3, column: 4, keyPath: "x", message: "m").description
            == "lb.yaml:3:4: x: m")
    }

    @Test func nodeNamesMayContainTheSeparator() throws {
        // The route is everything after the *first* separator, so "eu.tomcat1" routes fine.
        let config = try ConfigLoader.parse(
            yaml: Self.head + "    nodes:\n      - { name: eu.tomcat1~a_b-2, address: 10.0.0.11:8080 }\n", file: "lb.yaml")
        #expect(config.clusters[0].nodes[0].name == "eu.tomcat1~a_b-2")
    }

    static func failure(_ yaml: String) -> ConfigError? {
        do {
            _ = try ConfigLoader.parse(yaml: yaml, file: "lb.yaml")
            return nil
        } catch {
            return error
        }
    }
}
