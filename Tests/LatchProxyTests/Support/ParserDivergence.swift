import Foundation

/// Where Latch's HTTP/1 parsers and llhttp rightly read the same bytes differently (RFC-based choices
/// the parser tests pin with rows of their own): a mutation that lands there is not compared.
enum ParserDivergence {
    /// Whitespace at the end of a value is not part of it for Latch (RFC 9112 §5); llhttp keeps it.
    static func trailingWhitespace(_ text: String) -> Bool {
        text.contains(" \r\n") || text.contains("\t\r\n")
    }

    /// Chunk extensions follow RFC 9112 §7.1.1 for Latch; llhttp takes some malformed ones.
    static func chunkExtension(_ text: String) -> Bool {
        guard let headEnd = text.range(of: "\r\n\r\n") else { return false }
        return text[headEnd.upperBound...].contains(";")
    }

    /// An empty element in a `Transfer-Encoding` list is none for Latch (RFC 9110 §5.6.1).
    static func emptyTransferCoding(_ lines: [String]) -> Bool {
        lines.filter { $0.lowercased().hasPrefix("transfer-encoding:") }.contains { line in
            line.dropFirst(18).split(separator: ",", omittingEmptySubsequences: false).contains {
                $0.trimmingCharacters(in: .whitespaces).isEmpty
            }
        }
    }
}

/// A small seeded generator, so a failing mutation is found again on every run.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
