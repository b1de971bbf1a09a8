import LatchCore
import Logging
import NIOCore

/// One line per request, logfmt style, so `grep reason=unknown_route` and log shippers both work:
/// `client=10.1.2.3:51234 method=GET target="/cart" cluster=shop node=tomcat1 reason=sticky status=200 bytes=5120 duration_ms=3.1`
///
/// Everything that came from the client is quoted and escaped: a hostile cookie or URL can neither
/// forge a second log line nor smuggle terminal escapes.
struct AccessLog: Sendable {
    let logger: Logger

    struct Entry {
        var client: String
        var method: String
        var target: String
        var cluster: String?
        var node: String?
        var reason: String
        /// Attempts on other nodes before the one that answered.
        var retries = 0
        var status: Int?
        var bytes: Int
        var duration: TimeAmount
        var error: String?
    }

    func record(_ entry: Entry) {
        guard logger.logLevel <= .info else { return }
        var line = "client=\(entry.client) method=\(AccessLog.quoted(entry.method, limit: 32))"
        line += " target=\(AccessLog.quoted(entry.target, limit: 1024))"
        line += " cluster=\(entry.cluster.map { AccessLog.quoted($0, limit: 128) } ?? "-")"
        line += " node=\(entry.node.map { AccessLog.quoted($0, limit: 128) } ?? "-")"
        line += " reason=\(entry.reason)"
        if entry.retries > 0 { line += " retries=\(entry.retries)" }
        line += " status=\(entry.status.map(String.init) ?? "-") bytes=\(entry.bytes)"
        let micros = entry.duration.nanoseconds / 1000
        line += " duration_ms=\(micros / 1000).\(String(micros % 1000 / 100))"
        if let error = entry.error {
            line += " error=\(AccessLog.quoted(error, limit: 256))"
        }
        logger.info("\(line)")
    }

    /// Bare when it is a plain token, else double-quoted with `"`, `\`, control and non-ASCII bytes
    /// escaped (`\xHH`), and cut at `limit` bytes.
    static func quoted(_ text: String, limit: Int) -> String {
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
                let hex = String(byte, radix: 16, uppercase: true)
                out += "\\x" + (hex.count == 1 ? "0" + hex : hex)
            }
        }
        return out + "\""
    }
}
