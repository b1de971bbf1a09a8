/// Refuses mapping keys that are not plain text — an explicit `? key`, an alias (`*a: x`) or a
/// collection (`[a, b]: x`) — before Yams composes the file.
///
/// lb.yaml never needs them, and they are the one way a small file can stall the loader: Yams hashes
/// every key to find duplicates, and an alias key standing for a "billion laughs" tree (nine levels of
/// ten-fold aliases, 521 bytes, found by `Scripts/fuzz`) is a billion nodes to hash. Aliases as values
/// stay allowed (`health: *checks`): they are walked, not hashed, and the walk stops at the first
/// value of the wrong shape.
///
/// A line-by-line scan, not a YAML parser: it only has to find key positions (line start, after
/// `- `, after `{` or `,` in a flow mapping) outside quotes and comments, and never rejects a key
/// that a plain scalar starts.
enum ComplexKeyCheck {
    struct Found: Equatable {
        var line: Int
        var column: Int
        var what: String
    }

    /// Lines and columns are counted as libyaml counts them, so this error points where Yams' own
    /// would: a line ends at LF, CR, CRLF, NEL, LS or PS (YAML 1.1 §4.2), and a column is a count of
    /// characters, not bytes (found by `Scripts/fuzz`: a key after multi-byte characters was reported
    /// at a byte column past the end of its line).
    static func firstComplexKey(in yaml: String) -> Found? {
        var lineNumber = 0
        // Flow collections may span lines: their depth carries over.
        var flowDepth = 0
        for line in lines(of: yaml) {
            lineNumber += 1
            let bytes = Array(Substring(line).utf8)
            if let (offset, what) = scan(bytes, flowDepth: &flowDepth) {
                return Found(line: lineNumber, column: characterColumn(bytes, offset: offset), what: what)
            }
        }
        return nil
    }

    /// The lines of `yaml` split at every line break libyaml knows; CRLF is one break.
    static func lines(of yaml: String) -> [Substring.UnicodeScalarView] {
        let scalars = Substring(yaml).unicodeScalars
        var lines: [Substring.UnicodeScalarView] = []
        var start = scalars.startIndex
        var i = start
        while i < scalars.endIndex {
            switch scalars[i] {
            case "\n", "\u{85}", "\u{2028}", "\u{2029}":
                lines.append(scalars[start..<i])
                i = scalars.index(after: i)
                start = i
            case "\r":
                lines.append(scalars[start..<i])
                i = scalars.index(after: i)
                if i < scalars.endIndex, scalars[i] == "\n" { i = scalars.index(after: i) }
                start = i
            default:
                i = scalars.index(after: i)
            }
        }
        lines.append(scalars[start..<scalars.endIndex])
        return lines
    }

    /// The 1-based character column of the byte at `offset`: UTF-8 continuation bytes start no character.
    private static func characterColumn(_ bytes: [UInt8], offset: Int) -> Int {
        bytes[..<offset].reduce(1) { $1 & 0xC0 == 0x80 ? $0 : $0 + 1 }
    }

    /// The 0-based byte offset and kind of the first complex key on one line. Inside a flow
    /// collection a key may also start after `[` (a single-pair mapping in a sequence, `[*a: 1]`), and
    /// libyaml takes any `:` after it as the value indicator, blank or not (`[*a:1]` found by
    /// `Scripts/fuzz`).
    private static func scan(_ bytes: [UInt8], flowDepth: inout Int) -> (Int, String)? {
        var i = 0
        var atKey = true
        while i < bytes.count {
            let byte = bytes[i]
            switch byte {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"):
                i += 1
                continue
            case UInt8(ascii: "#") where i == 0 || isSpace(bytes[i - 1]):
                return nil  // a comment runs to the end of the line
            case UInt8(ascii: "\""), UInt8(ascii: "'"):
                i = skipQuoted(bytes, from: i)
                atKey = false
                continue
            default:
                break
            }
            if atKey {
                if byte == UInt8(ascii: "?"), i + 1 == bytes.count || isSpace(bytes[i + 1]) {
                    return (i, "an explicit key (\"? \")")
                }
                // In a flow collection libyaml takes `?` as the key indicator with or without a blank
                // after it: `[a, ?*b]` holds a mapping whose key is the alias (found by `Scripts/fuzz`).
                if byte == UInt8(ascii: "?"), flowDepth > 0 {
                    return (i, "an explicit key (\"?\")")
                }
                if byte == UInt8(ascii: "-"), i + 1 == bytes.count || isSpace(bytes[i + 1]) {
                    i += 1  // a sequence entry: a key may follow
                    continue
                }
                if byte == UInt8(ascii: "*") {
                    // libyaml's anchor names: letters, digits, `-` and `_` (so `*a:` is the alias `a` and a colon).
                    var end = i + 1
                    while end < bytes.count, isAnchorCharacter(bytes[end]) { end += 1 }
                    if becomesKey(bytes, after: end, inFlow: flowDepth > 0) { return (i, "an alias used as a key") }
                }
                if byte == UInt8(ascii: "["), let close = matchingBracket(bytes, from: i),
                    becomesKey(bytes, after: close + 1, inFlow: flowDepth > 0)
                {
                    return (i, "a sequence used as a key")
                }
                if byte == UInt8(ascii: "{"), let close = matchingBracket(bytes, from: i),
                    becomesKey(bytes, after: close + 1, inFlow: flowDepth > 0)
                {
                    return (i, "a mapping used as a key")
                }
            }
            switch byte {
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                flowDepth += 1
                atKey = true
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                flowDepth = max(0, flowDepth - 1)
                atKey = false
            case UInt8(ascii: ","):
                atKey = flowDepth > 0
            default:
                atKey = false
            }
            i += 1
        }
        return nil
    }

    private static func isSpace(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\r")
    }

    private static func isAnchorCharacter(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
    }

    private static func isFlowIndicator(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: ",") || byte == UInt8(ascii: "[") || byte == UInt8(ascii: "]")
            || byte == UInt8(ascii: "{") || byte == UInt8(ascii: "}")
    }

    /// Whether a `:` later on this line makes the node ending at `start` a key. libyaml keeps a node
    /// at a key position as its level's possible simple key until the line ends, a `,` or the level's
    /// closing bracket drops it, or a `:` makes it the key — with other nodes between: `[*a b: x]` is a
    /// mapping whose key is `*a`, composed (and its key hashed) before the error about `b` (found by
    /// `Scripts/fuzz` as a billion-laughs alias key). In a flow collection a `:` starting a token is
    /// always a value indicator; elsewhere, and inside a plain scalar, only one followed by a blank or
    /// the line's end (or, in a flow collection, a flow indicator) is.
    private static func becomesKey(_ bytes: [UInt8], after start: Int, inFlow: Bool) -> Bool {
        var i = start
        var tokenStart = true
        while i < bytes.count {
            let byte = bytes[i]
            if isSpace(byte) {
                i += 1
                tokenStart = true
                continue
            }
            if byte == UInt8(ascii: ":") {
                guard i + 1 < bytes.count else { return true }
                let next = bytes[i + 1]
                if isSpace(next) || (inFlow && (tokenStart || isFlowIndicator(next))) { return true }
            } else if byte == UInt8(ascii: "#"), tokenStart {
                return false  // a comment runs to the end of the line
            } else if inFlow, byte == UInt8(ascii: ",") || byte == UInt8(ascii: "]") || byte == UInt8(ascii: "}") {
                return false
            } else if inFlow || tokenStart, byte == UInt8(ascii: "[") || byte == UInt8(ascii: "{") {
                // A nested collection is a level of its own; one left open past the line ends the key's chance.
                guard let close = matchingBracket(bytes, from: i) else { return false }
                i = close + 1
                tokenStart = false
                continue
            } else if tokenStart, byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'") {
                i = skipQuoted(bytes, from: i)
                tokenStart = false
                continue
            }
            tokenStart = false
            i += 1
        }
        return false
    }

    /// The index just past a quoted scalar starting at `start` ('' escapes in single quotes, \ in double).
    private static func skipQuoted(_ bytes: [UInt8], from start: Int) -> Int {
        let quote = bytes[start]
        var i = start + 1
        while i < bytes.count {
            if quote == UInt8(ascii: "\""), bytes[i] == UInt8(ascii: "\\") {
                i += 2
                continue
            }
            if bytes[i] == quote {
                if quote == UInt8(ascii: "'"), i + 1 < bytes.count, bytes[i + 1] == quote {
                    i += 2
                    continue
                }
                return i + 1
            }
            i += 1
        }
        return bytes.count
    }

    /// The index of the bracket closing the one at `start`, on this line, outside quotes.
    private static func matchingBracket(_ bytes: [UInt8], from start: Int) -> Int? {
        var depth = 0
        var i = start
        while i < bytes.count {
            switch bytes[i] {
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                depth += 1
            case UInt8(ascii: "]"), UInt8(ascii: "}"):
                depth -= 1
                if depth == 0 { return i }
            case UInt8(ascii: "\""), UInt8(ascii: "'"):
                i = skipQuoted(bytes, from: i)
                continue
            default:
                break
            }
            i += 1
        }
        return nil
    }
}
