import Foundation
import Testing
@testable import LatchCore

/// Keys that are not plain text are refused before Yams composes the file (a billion-laughs alias
/// key would stall it); everything lb.yaml legitimately contains passes.
struct ComplexKeyCheckTests {
    @Test(arguments: [
        ("? x\n: y\n", 1, 1, "an explicit key"),
        ("a: 1\n  ? *b\n", 2, 3, "an explicit key"),
        ("*a: x\n", 1, 1, "an alias used as a key"),
        ("top:\n  *a : x\n", 2, 3, "an alias used as a key"),
        ("- *a: x\n", 1, 3, "an alias used as a key"),
        ("m: { k: v, *a: x }\n", 1, 12, "an alias used as a key"),
        ("[a, *b]: x\n", 1, 1, "a sequence used as a key"),
        ("top: {{inner: *a}: x}\n", 1, 7, "a mapping used as a key"),
        ("- ? [a]\n", 1, 3, "an explicit key"),
        // Columns count characters, as libyaml's do: "é" is two bytes and one column.
        ("m: { é: v, *a: x }\n", 1, 12, "an alias used as a key"),
        ("\u{FFFD}\u{FFFD}: [ {k: v, *a: x} ]\n", 1, 14, "an alias used as a key"),
        // Lines break where libyaml breaks them: CR, CRLF (once), NEL, LS, PS.
        ("a: 1\r*b: x\n", 2, 1, "an alias used as a key"),
        ("a: 1\r\n\r\n*b: x\n", 3, 1, "an alias used as a key"),
        ("a: 1\u{85}b: 2\u{2028}c: 3\u{2029}  *d: x\n", 4, 3, "an alias used as a key"),
        // In a flow sequence a key may start after `[` or `,`, and any `:` after it is a key's colon
        // (libyaml), blank or not: found by Scripts/fuzz as a billion-laughs alias key.
        ("l: [*l8, *l8:1\n", 1, 10, "an alias used as a key"),
        ("l: [*a: x]\n", 1, 5, "an alias used as a key"),
        ("l: [\n  *a:1]\n", 2, 3, "an alias used as a key"),
        ("l: [ [a]:1 ]\n", 1, 6, "a sequence used as a key"),
        // A node at a key position stays libyaml's possible key until the line ends, a `,` or a closing
        // bracket: a later `:` makes it the key even with other nodes between (found by Scripts/fuzz).
        ("l: [*a, *a   b: *c\n", 1, 9, "an alias used as a key"),
        ("m: {*a \"q\" : x}\n", 1, 5, "an alias used as a key"),
        ("l: [*a [b] c: x]\n", 1, 5, "an alias used as a key"),
        ("l: [ [a] b: 1 ]\n", 1, 6, "a sequence used as a key"),
        ("l: [ {a: b} c:, d]\n", 1, 6, "a mapping used as a key"),
        ("- *a b: x\n", 1, 3, "an alias used as a key"),
        // Outside a flow collection `,`, `]` and a quote inside a word are plain text, not ends.
        ("- *a b,c: x\n", 1, 3, "an alias used as a key"),
        ("- *a b]c: x\n", 1, 3, "an alias used as a key"),
        ("- *a b\"c: x\n", 1, 3, "an alias used as a key"),
        // In a flow collection `?` is the key indicator without a blank after it too (libyaml):
        // found by Scripts/fuzz as a billion-laughs alias key.
        ("ll4: &l4 [*l3, *l3, ?*l3]\n", 1, 21, "an explicit key"),
        ("l: [?a]\n", 1, 5, "an explicit key"),
        ("m: {?*a : x}\n", 1, 5, "an explicit key"),
        ("l: [\n?*a]\n", 2, 1, "an explicit key"),
    ])
    func refused(_ yaml: String, _ line: Int, _ column: Int, _ what: String) {
        let found = ComplexKeyCheck.firstComplexKey(in: yaml)
        #expect(found?.line == line && found?.column == column, "found \(String(describing: found))")
        #expect(found?.what.hasPrefix(what) == true)
    }

    @Test(arguments: [
        "health: &checks { path: /health }\nother: *checks\n",
        "match: { host: \"*.example.com\" }\n",
        "host: '*.example.com'\n",
        "# ? not a key: *a: x\n",
        "path: /a?b  # a comment with [x]: y\n",
        "nodes:\n  - { name: a, address: 10.0.0.1:80, replicas: [b, c] }\n",
        "expect_status: 200-399\n",
        "- [a, b]\n",
        "via: \"a ? b\"\n",
        "key: \"quoted \\\" [x]: y\"\n",
        "key: 'it''s *a: x'\n",
        "list: [*a, *b]\n",
        "list: [*a,\n  *b]\nnext: *c\n",
        "urls: [http://a:80/x, 'b:c']\n",
        "list: [*a, b: c]\n",
        "list: [*a [b: c]]\n",
        "- *a # b: c\n",
        "- *a b:c\n",
        "list: [*a, [b,\n  c: d]]\n",
    ])
    func accepted(_ yaml: String) {
        #expect(ComplexKeyCheck.firstComplexKey(in: yaml) == nil)
    }

    @Test func theExampleFileHasNone() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../lb.yaml")
        #expect(ComplexKeyCheck.firstComplexKey(in: try String(contentsOf: url, encoding: .utf8)) == nil)
    }

    @Test func theLoaderSaysWhereAndWhy() {
        let yaml = "listen:\n  - address: 0.0.0.0:8080\n? *a\n: x\n"
        #expect(throws: ConfigError.self) { try ConfigLoader.parse(yaml: yaml, file: "lb.yaml") }
        do {
            _ = try ConfigLoader.parse(yaml: yaml, file: "lb.yaml")
        } catch {
            #expect(error.description == "lb.yaml:3:1: an explicit key (\"? \") is not allowed in lb.yaml; write every key as plain text")
        }
    }
}
