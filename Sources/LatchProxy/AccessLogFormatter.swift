import Foundation
import LatchCore

/// Turns one `AccessLog.Entry` into one line of text (without its newline) in the configured format.
///
/// Pure and allocation-light: it runs once per request, so the strings are built by hand (no
/// `JSONEncoder`, no `DateFormatter`). Whatever came from the client — method, target, referer,
/// user agent, and the error text, which may quote it — is escaped so that a hostile request can neither
/// forge a second line nor smuggle terminal escapes (ESC, CSI) into the log.
enum AccessLogFormatter {
    /// The request headers the combined format shows and `AccessLog.Entry` does not carry.
    struct ClientHeaders: Sendable, Equatable {
        var referer: String?
        var userAgent: String?

        init(referer: String? = nil, userAgent: String? = nil) {
            self.referer = referer
            self.userAgent = userAgent
        }
    }

    /// Byte caps on the values a client controls (the logfmt ones are today's `AccessLog` caps).
    enum Limit {
        static let method = 32
        /// logfmt keeps today's cap.
        static let logfmtTarget = 1024
        static let target = 2048
        static let name = 128
        static let error = 256
        static let header = 1024
    }

    /// - Parameters:
    ///   - time: when the request ended; shown in UTC (`2024-05-01T12:34:56.789Z` for logfmt and json,
    ///     `[01/May/2024:12:34:56 +0000]` for combined).
    ///   - headers: the client's `Referer` and `User-Agent` (combined only).
    ///   - version: the request's HTTP version as written in the request line (combined only).
    static func line(
        _ entry: AccessLog.Entry,
        format: AccessLogFormat,
        time: Date,
        headers: ClientHeaders = ClientHeaders(),
        version: String = "HTTP/1.1"
    ) -> String {
        switch format {
        case .logfmt: return logfmt(entry, time: time)
        case .json: return json(entry, time: time)
        case .combined: return combined(entry, time: time, headers: headers, version: version)
        }
    }

    // MARK: - logfmt

    /// `time=… client=… method=… target=… cluster=… node=… reason=… [retries=…] status=… bytes=… duration_ms=… [error=…]`:
    /// after `time`, exactly the text `AccessLog.record` has always written.
    static func logfmt(_ entry: AccessLog.Entry, time: Date) -> String {
        var line = "time="
        line.reserveCapacity(160 + min(entry.target.utf8.count, Limit.target))
        appendRFC3339(time, to: &line)
        line += " client=\(entry.client) method=\(logfmtQuoted(entry.method, limit: Limit.method))"
        line += " target=\(logfmtQuoted(entry.target, limit: Limit.logfmtTarget))"
        line += " cluster=\(entry.cluster.map { logfmtQuoted($0, limit: Limit.name) } ?? "-")"
        line += " node=\(entry.node.map { logfmtQuoted($0, limit: Limit.name) } ?? "-")"
        line += " reason=\(entry.reason)"
        if entry.retries > 0 { line += " retries=\(entry.retries)" }
        line += " status=\(entry.status.map(String.init) ?? "-") bytes=\(entry.bytes)"
        let micros = entry.duration.nanoseconds / 1000
        line += " duration_ms=\(micros / 1000).\(String(micros % 1000 / 100))"
        if let error = entry.error {
            line += " error=\(logfmtQuoted(error, limit: Limit.error))"
        }
        return line
    }

    /// Bare when it is a plain token, else double-quoted with `"`, `\`, control and non-ASCII bytes
    /// escaped (`\xHH`), and cut at `limit` bytes. The same text as `AccessLog.quoted`.
    static func logfmtQuoted(_ text: String, limit: Int) -> String {
        var plain = !text.isEmpty
        for byte in text.utf8 where !(byte > 0x20 && byte < 0x7F && byte != UInt8(ascii: "\"") && byte != UInt8(ascii: "\\") && byte != UInt8(ascii: "=")) {
            plain = false
            break
        }
        if plain, text.utf8.count <= limit { return text }
        var out = "\""
        var count = 0
        for byte in text.utf8 {
            if count == limit {
                out += "..."
                break
            }
            count += 1
            switch byte {
            case UInt8(ascii: "\""): out += "\\\""
            case UInt8(ascii: "\\"): out += "\\\\"
            case 0x20..<0x7F: out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                out += "\\x"
                appendHex(byte, uppercase: true, to: &out)
            }
        }
        return out + "\""
    }

    // MARK: - JSON

    /// `{"time":"…","client":"…","method":"…","target":"…","cluster":"…"|null,"node":"…"|null,"reason":"…",`
    /// `"retries":0,"status":200|null,"bytes":0,"duration_ms":3.1[,"error":"…"]}`
    static func json(_ entry: AccessLog.Entry, time: Date) -> String {
        var out = "{\"time\":\""
        out.reserveCapacity(200 + min(entry.target.utf8.count, Limit.target))
        appendRFC3339(time, to: &out)
        out += "\",\"client\":"
        appendJSONString(entry.client, limit: Limit.name, to: &out)
        out += ",\"method\":"
        appendJSONString(entry.method, limit: Limit.method, to: &out)
        out += ",\"target\":"
        appendJSONString(entry.target, limit: Limit.target, to: &out)
        out += ",\"cluster\":"
        appendJSONString(entry.cluster, limit: Limit.name, to: &out)
        out += ",\"node\":"
        appendJSONString(entry.node, limit: Limit.name, to: &out)
        out += ",\"reason\":"
        appendJSONString(entry.reason, limit: Limit.name, to: &out)
        out += ",\"retries\":\(entry.retries),\"status\":"
        out += entry.status.map(String.init) ?? "null"
        out += ",\"bytes\":\(entry.bytes),\"duration_ms\":"
        // Tenths of a millisecond, truncated like logfmt; never negative, so always a valid number.
        let tenths = max(0, entry.duration.nanoseconds / 100_000)
        out += "\(tenths / 10).\(tenths % 10)"
        if let error = entry.error {
            out += ",\"error\":"
            appendJSONString(error, limit: Limit.error, to: &out)
        }
        out += "}"
        return out
    }

    private static func appendJSONString(_ text: String?, limit: Int, to out: inout String) {
        guard let text else {
            out += "null"
            return
        }
        appendJSONString(text, limit: limit, to: &out)
    }

    /// An RFC 8259 string: `"` and `\` backslash-escaped, C0 controls, DEL and C1 controls (U+0080–U+009F,
    /// which include the 8-bit CSI) as `\u00XX`, the line and paragraph separators as `\u2028` `\u2029`
    /// (line breaks to some readers); everything else as UTF-8. Cut at `limit` UTF-8 bytes on a
    /// character boundary, with `...` after the cut.
    private static func appendJSONString(_ text: String, limit: Int, to out: inout String) {
        out += "\""
        var count = 0
        for scalar in text.unicodeScalars {
            let size = UTF8.width(scalar)
            if count + size > limit {
                out += "..."
                break
            }
            count += size
            switch scalar.value {
            case 0x22: out += "\\\""
            case 0x5C: out += "\\\\"
            case 0x00..<0x20, 0x7F...0x9F:
                out += "\\u00"
                appendHex(UInt8(scalar.value), uppercase: true, to: &out)
            case 0x2028: out += "\\u2028"
            case 0x2029: out += "\\u2029"
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }

    // MARK: - Apache combined

    /// `%h - - [%d/%b/%Y:%H:%M:%S %z] "%r" %>s %b "%{Referer}i" "%{User-agent}i"`, e.g.
    /// `10.1.2.3 - - [01/May/2024:12:34:56 +0000] "GET /cart HTTP/1.1" 200 5120 "-" "curl/8.5.0"`.
    /// `%h` is the client's address without its port; `%>s` is `-` when no status was sent; `%b` is `-`
    /// for no body bytes. Times are UTC.
    static func combined(_ entry: AccessLog.Entry, time: Date, headers: ClientHeaders, version: String) -> String {
        var out = ""
        out.reserveCapacity(160 + min(entry.target.utf8.count, Limit.target))
        let host = hostWithoutPort(entry.client)
        if host.isEmpty { out += "-" } else { appendApacheEscaped(host, limit: Limit.name, to: &out) }
        out += " - - ["
        appendApacheTime(time, to: &out)
        out += "] \""
        appendApacheEscaped(entry.method, limit: Limit.method, to: &out)
        out += " "
        appendApacheEscaped(entry.target, limit: Limit.target, to: &out)
        out += " "
        appendApacheEscaped(version, limit: 16, to: &out)
        out += "\" "
        out += entry.status.map(String.init) ?? "-"
        out += " "
        out += entry.bytes > 0 ? String(entry.bytes) : "-"
        out += " \""
        appendApacheHeader(headers.referer, to: &out)
        out += "\" \""
        appendApacheHeader(headers.userAgent, to: &out)
        out += "\""
        return out
    }

    private static func appendApacheHeader(_ value: String?, to out: inout String) {
        guard let value, !value.isEmpty else {
            out += "-"
            return
        }
        appendApacheEscaped(value, limit: Limit.header, to: &out)
    }

    /// Apache's `ap_escape_logitem`: `"` and `\` backslash-escaped, `\b \n \r \t \v` as such, every other
    /// byte that is not printable ASCII (controls, DEL, all non-ASCII bytes) as `\xhh`. Cut at `limit`
    /// bytes, with `...` after the cut.
    private static func appendApacheEscaped(_ text: some StringProtocol, limit: Int, to out: inout String) {
        var count = 0
        for byte in text.utf8 {
            if count == limit {
                out += "..."
                break
            }
            count += 1
            switch byte {
            case UInt8(ascii: "\""): out += "\\\""
            case UInt8(ascii: "\\"): out += "\\\\"
            case 0x08: out += "\\b"
            case 0x0A: out += "\\n"
            case 0x0D: out += "\\r"
            case 0x09: out += "\\t"
            case 0x0B: out += "\\v"
            case 0x20..<0x7F: out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                out += "\\x"
                appendHex(byte, uppercase: false, to: &out)
            }
        }
    }

    /// `10.1.2.3:51234` → `10.1.2.3`, `[::1]:8080` → `::1`; anything else as it is.
    static func hostWithoutPort(_ client: String) -> Substring {
        if client.hasPrefix("["), let close = client.firstIndex(of: "]") {
            return client[client.index(after: client.startIndex)..<close]
        }
        if let colon = client.firstIndex(of: ":"),
            client.utf8[client.utf8.index(after: colon)...].allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") })
        {
            return client[..<colon]
        }
        return client[...]
    }

    // MARK: - Time

    private static let monthNames = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    private struct UTCTime {
        var year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int, millisecond: Int

        init(_ date: Date) {
            // Nearest millisecond: `Date` is a binary double, so 0.789 s is stored as 0.78899…
            let millis = Int64((date.timeIntervalSince1970 * 1000).rounded(.toNearestOrAwayFromZero))
            let (seconds, ms) = Self.floorDivMod(millis, 1000)
            let (days, secondOfDay) = Self.floorDivMod(seconds, 86_400)
            millisecond = Int(ms)
            hour = Int(secondOfDay / 3600)
            minute = Int(secondOfDay % 3600 / 60)
            second = Int(secondOfDay % 60)
            // Howard Hinnant's civil_from_days.
            let z = Int(days) + 719_468
            let era = (z >= 0 ? z : z - 146_096) / 146_097
            let doe = z - era * 146_097
            let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
            let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
            let mp = (5 * doy + 2) / 153
            day = doy - (153 * mp + 2) / 5 + 1
            month = mp < 10 ? mp + 3 : mp - 9
            year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        }

        private static func floorDivMod(_ a: Int64, _ b: Int64) -> (Int64, Int64) {
            let q = a / b, r = a % b
            return r < 0 ? (q - 1, r + b) : (q, r)
        }
    }

    /// `2024-05-01T12:34:56.789Z`
    static func appendRFC3339(_ date: Date, to out: inout String) {
        let t = UTCTime(date)
        appendPadded(t.year, width: 4, to: &out)
        out += "-"
        appendPadded(t.month, width: 2, to: &out)
        out += "-"
        appendPadded(t.day, width: 2, to: &out)
        out += "T"
        appendPadded(t.hour, width: 2, to: &out)
        out += ":"
        appendPadded(t.minute, width: 2, to: &out)
        out += ":"
        appendPadded(t.second, width: 2, to: &out)
        out += "."
        appendPadded(t.millisecond, width: 3, to: &out)
        out += "Z"
    }

    /// `01/May/2024:12:34:56 +0000`
    static func appendApacheTime(_ date: Date, to out: inout String) {
        let t = UTCTime(date)
        appendPadded(t.day, width: 2, to: &out)
        out += "/"
        out += monthNames[t.month - 1]
        out += "/"
        appendPadded(t.year, width: 4, to: &out)
        out += ":"
        appendPadded(t.hour, width: 2, to: &out)
        out += ":"
        appendPadded(t.minute, width: 2, to: &out)
        out += ":"
        appendPadded(t.second, width: 2, to: &out)
        out += " +0000"
    }

    // MARK: - Small helpers

    private static func appendPadded(_ value: Int, width: Int, to out: inout String) {
        let digits = String(value)
        if digits.utf8.count < width { out += String(repeating: "0", count: width - digits.utf8.count) }
        out += digits
    }

    private static func appendHex(_ byte: UInt8, uppercase: Bool, to out: inout String) {
        let digits: StaticString = uppercase ? "0123456789ABCDEF" : "0123456789abcdef"
        digits.withUTF8Buffer { table in
            out.unicodeScalars.append(Unicode.Scalar(table[Int(byte >> 4)]))
            out.unicodeScalars.append(Unicode.Scalar(table[Int(byte & 0x0F)]))
        }
    }
}
