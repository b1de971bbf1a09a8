import Foundation
import LatchCore
import Logging
import NIOCore

/// One line per request, in `access_log.format` (logfmt by default, so `grep reason=unknown_route` and
/// log shippers both work), to standard output or a file reopened on SIGUSR1:
/// `time=2026-11-21T04:34:01.012Z client=10.1.2.3:51234 method=GET target=/cart cluster=shop node=tomcat1 reason=sticky status=200 bytes=5120 duration_ms=3.1`
///
/// Everything that came from the client is quoted and escaped (``AccessLogFormatter``): a hostile cookie
/// or URL can neither forge a second log line nor smuggle terminal escapes.
struct AccessLog: Sendable {
    let format: AccessLogFormat
    let writer: AccessLogWriter
    /// Off when the `latch.access` logger's level is above `info` (`LOG_LEVEL=warning` silences it).
    let enabled: Bool

    init(format: AccessLogFormat, writer: AccessLogWriter, gate: Logger) {
        self.format = format
        self.writer = writer
        self.enabled = gate.logLevel <= .info
    }

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
        /// `Referer` and `User-Agent`, for the combined format.
        var headers = AccessLogFormatter.ClientHeaders()
        var version = "HTTP/1.1"
    }

    /// The entry is built only when the log is on: with `LOG_LEVEL` above `info` a request pays for
    /// none of its strings.
    func record(_ makeEntry: @autoclosure () -> Entry) {
        guard enabled else { return }
        let entry = makeEntry()
        writer.write(AccessLogFormatter.line(entry, format: format, time: Date(), headers: entry.headers, version: entry.version))
    }
}
