/// Durations as written in `lb.yaml`: `500ms`, `2s`, `1.5s`, `1m30s`, `1h`.
///
/// A unit is always required: a bare `30` would be seconds to one reader and milliseconds to the
/// next. Units appear at most once each, largest first (`h`, `m`, `s`, `ms`), so `1m30s` reads one
/// way only; every part may have a decimal fraction. Signs and spaces are rejected.
public enum DurationParser {
    /// The accepted forms, for error messages.
    static let acceptedForms = "expected a number with a unit (h, m, s or ms), e.g. 500ms, 2s, 1.5s, 1m30s or 1h"

    private static let units: [(suffix: String, nanoseconds: Int64)] = [
        ("h", 3_600_000_000_000),
        ("m", 60_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
    ]

    /// Fraction digits beyond this are below a nanosecond for every unit and are ignored.
    private static let maxFractionDigits = 12

    public static func parse(_ text: String) -> Duration? {
        var bytes = text.utf8[...]
        var total: Int64 = 0
        var nextUnit = 0
        while !bytes.isEmpty {
            guard let whole = digits(&bytes) else { return nil }
            var fraction: Substring.UTF8View?
            if bytes.first == UInt8(ascii: ".") {
                bytes.removeFirst()
                guard let digits = digits(&bytes) else { return nil }
                fraction = digits
            }
            let suffix = bytes.prefix { $0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z") }
            bytes.removeFirst(suffix.count)
            guard let unitIndex = units.firstIndex(where: { $0.suffix.utf8.elementsEqual(suffix) }),
                  unitIndex >= nextUnit,
                  let part = nanoseconds(whole: whole, fraction: fraction, unit: units[unitIndex].nanoseconds)
            else { return nil }
            let (sum, overflow) = total.addingReportingOverflow(part)
            guard !overflow else { return nil }
            total = sum
            nextUnit = unitIndex + 1
        }
        return text.isEmpty ? nil : .nanoseconds(total)
    }

    /// Removes and returns a non-empty run of ASCII digits.
    private static func digits(_ bytes: inout Substring.UTF8View) -> Substring.UTF8View? {
        let run = bytes.prefix { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
        guard !run.isEmpty else { return nil }
        bytes.removeFirst(run.count)
        return run
    }

    /// `whole.fraction` units in nanoseconds, exactly (truncated below a nanosecond), or nil on overflow.
    private static func nanoseconds(whole: Substring.UTF8View, fraction: Substring.UTF8View?,
                                    unit: Int64) -> Int64? {
        var count: Int64 = 0
        for digit in whole {
            let (times10, overflow1) = count.multipliedReportingOverflow(by: 10)
            let (next, overflow2) = times10.addingReportingOverflow(Int64(digit - UInt8(ascii: "0")))
            guard !overflow1, !overflow2 else { return nil }
            count = next
        }
        let (wholePart, overflow) = count.multipliedReportingOverflow(by: unit)
        guard !overflow else { return nil }
        guard let fraction else { return wholePart }
        // fraction / 10^n of a unit: numerator and denominator both fit in Int64 for n <= 12, and
        // their product with the unit needs the full-width multiply.
        var numerator: Int64 = 0
        var denominator: Int64 = 1
        for digit in fraction.prefix(maxFractionDigits) {
            numerator = numerator * 10 + Int64(digit - UInt8(ascii: "0"))
            denominator *= 10
        }
        let product = unit.multipliedFullWidth(by: numerator)
        let fractionPart = denominator.dividingFullWidth(product).quotient
        let (sum, overflowSum) = wholePart.addingReportingOverflow(fractionPart)
        return overflowSum ? nil : sum
    }

    /// The shortest text `parse` reads back as `duration`: `2s`, `1m30s`, `1h`, `1s500ms`, `0.25ms`.
    static func format(_ duration: Duration) -> String {
        if duration < .zero { return "-" + format(.zero - duration) }
        let (seconds, attoseconds) = duration.components
        let hours = seconds / 3600
        let minutes = seconds % 3600 / 60
        let wholeSeconds = seconds % 60
        let milliseconds = attoseconds / 1_000_000_000_000_000
        let subMillisecondNanoseconds = attoseconds % 1_000_000_000_000_000 / 1_000_000_000
        var text = ""
        if hours > 0 { text += "\(hours)h" }
        if minutes > 0 { text += "\(minutes)m" }
        if wholeSeconds > 0 { text += "\(wholeSeconds)s" }
        if milliseconds > 0 || subMillisecondNanoseconds > 0 {
            text += "\(milliseconds)"
            if subMillisecondNanoseconds > 0 {
                var digits = String(subMillisecondNanoseconds)
                digits = String(repeating: "0", count: 6 - digits.count) + digits
                while digits.hasSuffix("0") { digits.removeLast() }
                text += "." + digits
            }
            text += "ms"
        }
        return text.isEmpty ? "0s" : text
    }
}
