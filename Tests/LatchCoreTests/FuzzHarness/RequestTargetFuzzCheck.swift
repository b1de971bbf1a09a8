import LatchCore

/// `RequestTarget.path(of:)` and `splitAbsoluteForm(_:)` cut the target where the bytes say, and lose
/// nothing: scheme + authority + origin-form gives the target back.
public enum RequestTargetFuzzCheck {
    /// Found by this fuzzer and fixed: both functions once searched `Character`s, so a `/`, `?` or `#`
    /// that a non-ASCII scalar joins into one grapheme (`/` + U+0301) was not seen.
    public static func violations(_ target: String) -> [String] {
        var problems: [String] = []
        let path = Array(RequestTarget.path(of: target).utf8)
        if path.contains(UInt8(ascii: "?")) || path.contains(UInt8(ascii: "#")) {
            problems.append("path(of:) \(String(decoding: path, as: UTF8.self).debugDescription) holds a query or fragment")
        }
        guard let (authority, origin) = RequestTarget.splitAbsoluteForm(target) else {
            if target.utf8.starts(with: "http://".utf8) || target.utf8.starts(with: "https://".utf8) {
                problems.append("absolute-form target not split")
            }
            return problems
        }
        let originBytes = Array(origin.utf8)
        if originBytes.first != UInt8(ascii: "/") { problems.append("origin-form \(origin.debugDescription) lacks its /") }
        if authority.utf8.contains(where: { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "#") }) {
            problems.append("authority \(authority.debugDescription) runs into the path")
        }
        let bytes = Array(target.utf8)
        let schemeLength = bytes.count > 4 && (bytes[4] == UInt8(ascii: "s") || bytes[4] == UInt8(ascii: "S")) ? 8 : 7
        let rest = Array(bytes.dropFirst(schemeLength))
        let rebuilt = Array(authority.utf8) + originBytes
        if rebuilt != rest && Array(authority.utf8) + originBytes.dropFirst() != rest {
            problems.append("split \(target.debugDescription) into \(authority.debugDescription) and \(origin.debugDescription)")
        }
        return problems
    }
}
