/// Byte sizes as written in `lb.yaml`: `65536` (bytes), `512B`, `64KiB`, `1MiB`, `1GiB`.
///
/// Only the binary units, spelt as IEC spells them: `KB` is 1000 bytes to some readers and 1024 to
/// others, so it is rejected (with the unit it most likely meant) rather than guessed. Whole numbers
/// only, the unit case-sensitive and right after the digits; signs and spaces are rejected, as in
/// durations.
enum ByteSizeParser {
    /// The accepted forms, for error messages.
    static let acceptedForms = "expected a number of bytes, or a whole number with a unit (B, KiB, MiB or GiB), "
        + "e.g. 65536, 64KiB or 1MiB"

    /// Largest first, so `format` picks the largest unit that divides exactly.
    static let units: [(suffix: String, bytes: Int)] = [
        ("GiB", 1024 * 1024 * 1024),
        ("MiB", 1024 * 1024),
        ("KiB", 1024),
        ("B", 1),
    ]

    /// Why a text is not a size.
    enum Problem: Error, Equatable {
        /// Not digits followed by letters at all: `1.5MiB`, `-1KiB`, `64 KiB`, `lots`.
        case form
        /// Digits followed by letters that are not a unit: `64KB`, `1TiB`.
        case unknownUnit(String)
        /// More bytes than an `Int` holds.
        case tooLarge
    }

    static func parse(_ text: String) -> Int? {
        try? parseExplaining(text).get()
    }

    /// Like `parse`, but says what is wrong.
    static func parseExplaining(_ text: String) -> Result<Int, Problem> {
        let digits = text.unicodeScalars.prefix { $0 >= "0" && $0 <= "9" }
        let suffix = String(text.unicodeScalars.dropFirst(digits.count))
        guard !digits.isEmpty,
              suffix.unicodeScalars.allSatisfy({ ("a"..."z").contains($0) || ("A"..."Z").contains($0) })
        else { return .failure(.form) }
        let multiplier: Int
        if suffix.isEmpty {
            multiplier = 1
        } else if let unit = units.first(where: { $0.suffix == suffix }) {
            multiplier = unit.bytes
        } else {
            return .failure(.unknownUnit(suffix))
        }
        guard let count = Int(String(digits)) else { return .failure(.tooLarge) }
        let (bytes, overflow) = count.multipliedReportingOverflow(by: multiplier)
        return overflow ? .failure(.tooLarge) : .success(bytes)
    }

    /// The unit a mistaken suffix most likely meant: the one with the same first letter, ignoring
    /// case (`KB` and `k` mean KiB, `MB` MiB, `GB` GiB, `bytes` B); `nil` for anything else (`TiB`).
    static func suggestion(for suffix: String) -> String? {
        guard let first = suffix.first?.lowercased() else { return nil }
        return units.first { $0.suffix.first?.lowercased() == first }?.suffix
    }

    /// The shortest text `parse` reads back as `bytes`: `64KiB`, `1MiB`, `1000B`, `0B`.
    static func format(_ bytes: Int) -> String {
        let unit = units.first { bytes != 0 && bytes % $0.bytes == 0 } ?? units[units.count - 1]
        return "\(bytes / unit.bytes)\(unit.suffix)"
    }
}
