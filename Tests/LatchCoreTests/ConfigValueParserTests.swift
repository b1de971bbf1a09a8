import Testing
@testable import LatchCore

struct DurationParserTests {
    @Test(arguments: [
        ("2s", Duration.seconds(2)),
        ("500ms", .milliseconds(500)),
        ("1m", .seconds(60)),
        ("1h", .seconds(3600)),
        ("1m30s", .seconds(90)),
        ("1.5s", .milliseconds(1500)),
        ("0.25ms", .microseconds(250)),
        ("1h2m3s4ms", .milliseconds(3_723_004)),
        ("1h90m", .seconds(9000)),
        ("0s", .zero),
        ("007s", .seconds(7)),
        ("1.000000001s", .nanoseconds(1_000_000_001)),
        ("1.0000000000009s", .seconds(1)),  // below a nanosecond: truncated
    ])
    func accepts(_ text: String, _ expected: Duration) {
        #expect(DurationParser.parse(text) == expected)
    }

    @Test(arguments: [
        "", "2", "-1s", "+1s", "s", "2x", "1.s", ".5s", "1 s", " 1s", "1s ", "1S", "1sec",
        "1s1m", "1s1s", "1ms1s", "1m30", "1,5s", "1e3ms", "1us", "1d",
        "9999999999999999999h", "3000000h",
    ])
    func rejects(_ text: String) {
        #expect(DurationParser.parse(text) == nil)
    }

    @Test(arguments: [
        (Duration.seconds(2), "2s"),
        (.milliseconds(500), "500ms"),
        (.seconds(90), "1m30s"),
        (.seconds(3600), "1h"),
        (.milliseconds(1500), "1s500ms"),
        (.microseconds(250), "0.25ms"),
        (.zero, "0s"),
    ])
    func formatsWhatItParses(_ duration: Duration, _ text: String) {
        #expect(DurationParser.format(duration) == text)
        #expect(DurationParser.parse(text) == duration)
    }
}

struct HostPortParserTests {
    @Test(arguments: [
        ("0.0.0.0:8080", HostPort(host: "0.0.0.0", port: 8080)),
        ("[::1]:8080", HostPort(host: "::1", port: 8080)),
        ("[::]:80", HostPort(host: "::", port: 80)),
        ("[fe80::1%eth0]:8080", HostPort(host: "fe80::1%eth0", port: 8080)),
        ("[::ffff:10.0.0.1]:443", HostPort(host: "::ffff:10.0.0.1", port: 443)),
        ("app1.internal:8080", HostPort(host: "app1.internal", port: 8080)),
        ("localhost:0", HostPort(host: "localhost", port: 0)),
        ("my_host-1:65535", HostPort(host: "my_host-1", port: 65535)),
    ])
    func accepts(_ text: String, _ expected: HostPort) {
        #expect(HostPortParser.parse(text) == expected)
        #expect(HostPortParser.parse(expected.description) == expected)
    }

    @Test(arguments: [
        ("", "empty address; expected host:port, e.g. 10.0.0.11:8080"),
        ("10.0.0.1", "missing port; expected host:port, e.g. 10.0.0.11:8080"),
        ("10.0.0.1:", "missing port after \":\""),
        ("10.0.0.1:http", "port \"http\" is not a number"),
        ("10.0.0.1:-1", "port \"-1\" is not a number"),
        ("10.0.0.1:65536", "port 65536 is out of range 0...65535"),
        ("10.0.0.1:0000080", "port 0000080 is out of range 0...65535"),
        (":8080", "empty host; expected host:port, e.g. 10.0.0.11:8080"),
        ("::1:8080", "an IPv6 address must be in brackets, e.g. [::1]:8080"),
        ("[::1]", "missing port; expected [address]:port, e.g. [::1]:8080"),
        ("[::1]8080", "expected \":\" and a port after \"]\""),
        ("[::1:8080", "missing \"]\" after the IPv6 address"),
        ("[]:80", "empty host between \"[\" and \"]\""),
        ("[example.com]:80", "\"example.com\" is not an IPv6 address"),
        ("10.0.0.1 :8080", "contains a space"),
        ("http://10.0.0.1:8080", "write host:port without a scheme such as http://"),
        ("host/path:80", "host \"host/path\" contains \"/\"; use an IP address or a name of letters, digits, \"-\", \".\" and \"_\""),
    ])
    func rejectsWithAReason(_ text: String, _ reason: String) {
        #expect(HostPortParser.parse(text) == nil)
        #expect(HostPortParser.parseExplaining(text) == .failure(HostPortParser.Problem(reason: reason)))
    }
}

struct SpellingTests {
    @Test(arguments: [
        ("balanse", "balance"),
        ("Balance", "balance"),
        ("balnce", "balance"),
        ("nmae", "name"),
        ("replica", "replicas"),
        ("listener", "listen"),
        ("timeout", "timeouts"),
        ("path-prefix", "path_prefix"),
        ("helth", "health"),
        ("pasive", "passive"),
        ("retrys", "retries"),
        ("failbak", "failback"),
        ("node-header", "node_header"),
    ])
    func suggests(_ typo: String, _ intended: String) {
        let keys = ConfigDecoder.topKeys + ClusterDecoder.clusterKeys + ClusterDecoder.nodeKeys
            + ClusterDecoder.matchKeys
        #expect(Spelling.suggestion(for: typo, among: keys) == intended)
    }

    @Test(arguments: ["foo", "logging", "version", "n"])
    func staysQuietWhenNothingIsClose(_ word: String) {
        #expect(Spelling.suggestion(for: word, among: ConfigDecoder.topKeys) == nil)
    }

    @Test func editDistance() {
        #expect(Spelling.editDistance("", "abc") == 3)
        #expect(Spelling.editDistance("kitten", "sitting") == 3)
        #expect(Spelling.editDistance("ab", "ba") == 1)
        #expect(Spelling.editDistance("same", "same") == 0)
    }
}
