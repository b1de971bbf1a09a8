/// A session cookie a node sets in a response: the id it issued, or the deletion of the client's one.
///
/// Drain counts a node's sessions from the ids requests carry, and also from the ids responses issue:
/// a session created on its first response (`reason=new`) has not come back yet, but it lives on that
/// node already, and draining the node must wait for it. The same holds when the application changes
/// the id (Tomcat does at login, `changeSessionIdOnAuthentication`). A cookie the application deletes
/// (`Max-Age=0`, or an `Expires` in the past: how a logout clears `JSESSIONID`) ends the session at once.
public struct IssuedSession: Sendable, Equatable {
    /// The cookie's value as sent, surrounding double quotes stripped; may be empty for a deletion.
    public var id: Substring
    /// The cookie expires at once: the client drops it (RFC 6265 §5.3 step 3, §5.2.1, §5.2.2).
    public var deleted: Bool

    public init(id: Substring, deleted: Bool) {
        self.id = id
        self.deleted = deleted
    }

    /// Reads one `Set-Cookie` field value (RFC 6265 §5.2): `nil` unless its cookie is named `name`
    /// (byte for byte, as cookie names are compared everywhere in Latch).
    /// - Parameter now: seconds since 1970 (UTC), to tell an `Expires` in the past.
    public static func parse(_ field: String, cookie name: String, now: Int64) -> IssuedSession? {
        var field = field
        field.makeContiguousUTF8()
        let utf8 = field.utf8
        let found = field.withUTF8 { bytes -> (Range<Int>, Bool)? in
            parse(bytes, cookie: name, now: now)
        }
        guard let (range, deleted) = found else { return nil }
        let lower = utf8.index(utf8.startIndex, offsetBy: range.lowerBound)
        let upper = utf8.index(lower, offsetBy: range.count)
        return IssuedSession(id: Substring(utf8[lower..<upper]), deleted: deleted)
    }

    private static func parse(_ bytes: UnsafeBufferPointer<UInt8>, cookie name: String, now: Int64) -> (Range<Int>, Bool)? {
        let end = bytes.count
        var pairEnd = 0
        while pairEnd < end, bytes[pairEnd] != UInt8(ascii: ";") { pairEnd += 1 }
        guard let equals = bytes[0..<pairEnd].firstIndex(of: UInt8(ascii: "=")) else { return nil }
        let (nameStart, nameEnd) = trimmed(bytes, 0, equals)
        guard nameEnd - nameStart == name.utf8.count,
            name.utf8.elementsEqual(bytes[nameStart..<nameEnd])
        else { return nil }
        var (valueStart, valueEnd) = trimmed(bytes, equals + 1, pairEnd)
        if valueEnd - valueStart >= 2, bytes[valueStart] == UInt8(ascii: "\""), bytes[valueEnd - 1] == UInt8(ascii: "\"") {
            valueStart += 1
            valueEnd -= 1
        }
        // §5.3 step 3: Max-Age wins over Expires; the last of each counts (§5.3 step 5 reads the last).
        var maxAge: Int64?
        var expires: Int64?
        var attributeStart = pairEnd + 1
        while attributeStart < end {
            var attributeEnd = attributeStart
            while attributeEnd < end, bytes[attributeEnd] != UInt8(ascii: ";") { attributeEnd += 1 }
            let equals = bytes[attributeStart..<attributeEnd].firstIndex(of: UInt8(ascii: "=")) ?? attributeEnd
            let (keyStart, keyEnd) = trimmed(bytes, attributeStart, equals)
            let (argStart, argEnd) = trimmed(bytes, min(equals + 1, attributeEnd), attributeEnd)
            let argument = UnsafeBufferPointer(rebasing: bytes[argStart..<argEnd])
            if equalsIgnoringCase(bytes[keyStart..<keyEnd], "max-age") {
                maxAge = deltaSeconds(argument) ?? maxAge
            } else if equalsIgnoringCase(bytes[keyStart..<keyEnd], "expires") {
                expires = CookieDate.parse(argument) ?? expires
            }
            attributeStart = attributeEnd + 1
        }
        let deleted: Bool
        if let maxAge {
            deleted = maxAge <= 0
        } else if let expires {
            deleted = expires <= now
        } else {
            deleted = false
        }
        return (valueStart..<valueEnd, deleted)
    }

    /// §5.2.2: an optional `-` and digits; anything else leaves the attribute out. Saturates.
    private static func deltaSeconds(_ bytes: UnsafeBufferPointer<UInt8>) -> Int64? {
        guard let first = bytes.first else { return nil }
        let negative = first == UInt8(ascii: "-")
        let digits = bytes.dropFirst(negative ? 1 : 0)
        guard !digits.isEmpty, digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return nil }
        var value: Int64 = 0
        for digit in digits {
            value = value > Int64.max / 20 ? Int64.max / 2 : value * 10 + Int64(digit - UInt8(ascii: "0"))
        }
        return negative ? -value : value
    }

    /// `bytes[start..<end]` without leading and trailing spaces and tabs.
    private static func trimmed(_ bytes: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> (Int, Int) {
        var start = start
        var end = end
        while start < end, bytes[start] == UInt8(ascii: " ") || bytes[start] == UInt8(ascii: "\t") { start += 1 }
        while end > start, bytes[end - 1] == UInt8(ascii: " ") || bytes[end - 1] == UInt8(ascii: "\t") { end -= 1 }
        return (start, end)
    }

    private static func equalsIgnoringCase(_ bytes: Slice<UnsafeBufferPointer<UInt8>>, _ lowercase: String) -> Bool {
        bytes.count == lowercase.utf8.count
            && zip(bytes, lowercase.utf8).allSatisfy { ($0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0) == $1 }
    }
}

/// The cookie-date algorithm of RFC 6265 §5.1.1, which reads every date format browsers meet
/// (`Thu, 01 Jan 1970 00:00:00 GMT`, `Thursday, 01-Jan-70 00:00:10 GMT`, asctime, …).
enum CookieDate {
    static let months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]

    /// Seconds since 1970 (UTC), or `nil` when §5.1.1 fails to parse the date.
    static func parse(_ bytes: UnsafeBufferPointer<UInt8>) -> Int64? {
        var time: (Int, Int, Int)?
        var day: Int?
        var month: Int?
        var year: Int?
        var start = 0
        while start < bytes.count {
            while start < bytes.count, isDelimiter(bytes[start]) { start += 1 }
            var end = start
            while end < bytes.count, !isDelimiter(bytes[end]) { end += 1 }
            guard start < end else { break }
            let token = Array(bytes[start..<end])
            start = end
            if time == nil, let parsed = timeToken(token) {
                time = parsed
            } else if day == nil, let value = digitsToken(token, 1...2) {
                day = value
            } else if month == nil, token.count >= 3,
                let index = months.firstIndex(where: { $0.utf8.elementsEqual(token.prefix(3).map { $0 | 0x20 }) })
            {
                month = index + 1
            } else if year == nil, let value = digitsToken(token, 2...4) {
                year = value
            }
        }
        guard var year, let month, let day, let (hour, minute, second) = time else { return nil }
        if (70...99).contains(year) { year += 1900 } else if (0...69).contains(year) { year += 2000 }
        guard (1...31).contains(day), year >= 1601, hour <= 23, minute <= 59, second <= 59 else { return nil }
        return Int64(daysFromCivil(year: year, month: month, day: day)) * 86_400
            + Int64(hour * 3600 + minute * 60 + second)
    }

    /// %x09 / %x20-2F / %x3B-40 / %x5B-60 / %x7B-7E
    private static func isDelimiter(_ byte: UInt8) -> Bool {
        byte == 0x09 || (0x20...0x2F).contains(byte) || (0x3B...0x40).contains(byte)
            || (0x5B...0x60).contains(byte) || (0x7B...0x7E).contains(byte)
    }

    private static func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }

    /// `count` digits, then optionally a non-digit and anything: their value.
    private static func digitsToken(_ token: [UInt8], _ count: ClosedRange<Int>) -> Int? {
        let digits = token.prefix { isDigit($0) }
        guard count.contains(digits.count) else { return nil }
        return digits.reduce(0) { $0 * 10 + Int($1 - 0x30) }
    }

    /// `1*2DIGIT ":" 1*2DIGIT ":" 1*2DIGIT ( non-digit *OCTET )`
    private static func timeToken(_ token: [UInt8]) -> (Int, Int, Int)? {
        var fields: [Int] = []
        var i = 0
        for index in 0..<3 {
            let digits = token[i...].prefix { isDigit($0) }
            guard (1...2).contains(digits.count) else { return nil }
            fields.append(digits.reduce(0) { $0 * 10 + Int($1 - 0x30) })
            i += digits.count
            if index < 2 {
                guard i < token.count, token[i] == UInt8(ascii: ":") else { return nil }
                i += 1
            }
        }
        return (fields[0], fields[1], fields[2])
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}
