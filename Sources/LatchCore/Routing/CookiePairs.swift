/// The `;`-separated pairs of one `Cookie` line (RFC 6265 §4.2.1), read as bytes: shared by the route
/// extractor and the owner cookie, which then read each pair by their own rules.
enum CookiePairs {
    /// Calls `body` with each pair's start (leading blanks skipped) and end (its `;` or the line's end),
    /// until `body` returns true.
    @inline(__always)
    static func scan(_ bytes: UnsafeBufferPointer<UInt8>, _ body: (_ nameStart: Int, _ pairEnd: Int) -> Bool) {
        let end = bytes.count
        var pairStart = 0
        while pairStart < end {
            var pairEnd = pairStart
            while pairEnd < end, bytes[pairEnd] != UInt8(ascii: ";") { pairEnd += 1 }
            var nameStart = pairStart
            while nameStart < pairEnd, isBlank(bytes[nameStart]) { nameStart += 1 }
            if body(nameStart, pairEnd) { return }
            pairStart = pairEnd + 1
        }
    }

    /// A space or a tab, which clients put around pairs and values.
    @inline(__always)
    static func isBlank(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t")
    }
}
