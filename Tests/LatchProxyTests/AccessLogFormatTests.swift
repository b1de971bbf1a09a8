#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import LatchCore
import Logging
import NIOCore
import Testing

@testable import LatchProxy

@Suite struct AccessLogFormatTests {
    /// 2024-05-01T12:34:56.789Z
    static let time = Date(timeIntervalSince1970: 1_714_566_896.789)

    static let sample = AccessLog.Entry(
        client: "10.1.2.3:51234",
        method: "GET",
        target: "/cart?item=42",
        cluster: "shop",
        node: "tomcat1",
        reason: "sticky",
        status: 200,
        bytes: 5120,
        duration: .microseconds(3141)
    )

    /// An answer of Latch's own: no node, retries, an error, nothing sent upstream.
    static let failed = AccessLog.Entry(
        client: "[2001:db8::1]:40000",
        method: "POST",
        target: "/login",
        cluster: "shop",
        node: nil,
        reason: "unknown_route",
        retries: 2,
        status: nil,
        bytes: 0,
        duration: .microseconds(42),
        error: "no node is up"
    )

    static let headers = AccessLogFormatter.ClientHeaders(referer: "https://shop.example/", userAgent: "curl/8.5.0")

    static func line(_ entry: AccessLog.Entry, _ format: AccessLogFormat) -> String {
        AccessLogFormatter.line(entry, format: format, time: time, headers: headers)
    }

    // MARK: - Exact lines

    @Test func logfmtSample() {
        #expect(
            Self.line(Self.sample, .logfmt)
                == #"time=2024-05-01T12:34:56.789Z client=10.1.2.3:51234 method=GET target="/cart?item=42" cluster=shop node=tomcat1 reason=sticky status=200 bytes=5120 duration_ms=3.1"#
        )
        #expect(
            Self.line(Self.failed, .logfmt)
                == #"time=2024-05-01T12:34:56.789Z client=[2001:db8::1]:40000 method=POST target=/login cluster=shop node=- reason=unknown_route retries=2 status=- bytes=0 duration_ms=0.0 error="no node is up""#
        )
    }

    @Test func jsonSample() {
        #expect(
            Self.line(Self.sample, .json)
                == #"{"time":"2024-05-01T12:34:56.789Z","client":"10.1.2.3:51234","method":"GET","target":"/cart?item=42","cluster":"shop","node":"tomcat1","reason":"sticky","retries":0,"status":200,"bytes":5120,"duration_ms":3.1}"#
        )
        #expect(
            Self.line(Self.failed, .json)
                == #"{"time":"2024-05-01T12:34:56.789Z","client":"[2001:db8::1]:40000","method":"POST","target":"/login","cluster":"shop","node":null,"reason":"unknown_route","retries":2,"status":null,"bytes":0,"duration_ms":0.0,"error":"no node is up"}"#
        )
    }

    @Test func combinedSample() {
        #expect(
            Self.line(Self.sample, .combined)
                == #"10.1.2.3 - - [01/May/2024:12:34:56 +0000] "GET /cart?item=42 HTTP/1.1" 200 5120 "https://shop.example/" "curl/8.5.0""#
        )
        #expect(
            AccessLogFormatter.line(Self.failed, format: .combined, time: Self.time, version: "HTTP/1.0")
                == #"2001:db8::1 - - [01/May/2024:12:34:56 +0000] "POST /login HTTP/1.0" - - "-" "-""#
        )
    }

    @Test func combinedHostHasNoPort() {
        #expect(AccessLogFormatter.hostWithoutPort("10.1.2.3:51234") == "10.1.2.3")
        #expect(AccessLogFormatter.hostWithoutPort("[::1]:8080") == "::1")
        #expect(AccessLogFormatter.hostWithoutPort("-") == "-")
        #expect(AccessLogFormatter.hostWithoutPort("/run/latch.sock") == "/run/latch.sock")
    }

    /// `AccessLog.record` writes one formatted line per entry through its writer, and nothing when the
    /// `latch.access` logger's level is above info.
    @Test(arguments: [AccessLogFormat.logfmt, .json, .combined])
    func recordWritesOneLine(_ format: AccessLogFormat) throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("latch-record-\(UUID().uuidString).log").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let writer = try AccessLogWriter(path: path)
        var gate = Logger(label: "latch.access")
        gate.logLevel = .info
        AccessLog(format: format, writer: writer, gate: gate).record(Self.sample)
        gate.logLevel = .warning
        AccessLog(format: format, writer: writer, gate: gate).record(Self.sample)
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 1)
        #expect(lines.first?.contains("10.1.2.3") == true)
    }

    // MARK: - Hostile input

    static let hostileTarget = "/x\"y\\z\n\r\t\u{1b}[31mé"
    static let hostile = AccessLog.Entry(
        client: "10.1.2.3:51234",
        method: "G\"E\nT\u{1b}",
        target: hostileTarget,
        cluster: "shop",
        node: "tomcat1",
        reason: "sticky",
        status: 200,
        bytes: 1,
        duration: .milliseconds(12),
        error: "bad \"thing\"\nforged=1"
    )

    @Test func hostileLogfmt() {
        #expect(
            Self.line(Self.hostile, .logfmt)
                == #"time=2024-05-01T12:34:56.789Z client=10.1.2.3:51234 method="G\"E\x0AT\x1B" target="/x\"y\\z\x0A\x0D\x09\x1B[31m\xC3\xA9" cluster=shop node=tomcat1 reason=sticky status=200 bytes=1 duration_ms=12.0 error="bad \"thing\"\x0Aforged=1""#
        )
    }

    @Test func hostileJSON() throws {
        let line = Self.line(Self.hostile, .json)
        #expect(
            line
                == #"{"time":"2024-05-01T12:34:56.789Z","client":"10.1.2.3:51234","method":"G\"E\u000AT\u001B","target":"/x\"y\\z\u000A\u000D\u0009\u001B[31mé","cluster":"shop","node":"tomcat1","reason":"sticky","retries":0,"status":200,"bytes":1,"duration_ms":12.0,"error":"bad \"thing\"\u000Aforged=1"}"#
        )
        // Escaped, yet the values come back whole.
        let object = try Self.parse(line)
        #expect(object["method"] as? String == Self.hostile.method)
        #expect(object["target"] as? String == Self.hostileTarget)
        #expect(object["error"] as? String == Self.hostile.error)
    }

    @Test func hostileCombined() {
        let headers = AccessLogFormatter.ClientHeaders(referer: "\"><script>\n", userAgent: "Mozilla\\5.0 \u{1b}]0;pwned\u{7}")
        #expect(
            AccessLogFormatter.line(Self.hostile, format: .combined, time: Self.time, headers: headers)
                == #"10.1.2.3 - - [01/May/2024:12:34:56 +0000] "G\"E\nT\x1b /x\"y\\z\n\r\t\x1b[31m\xc3\xa9 HTTP/1.1" 200 1 "\"><script>\n" "Mozilla\\5.0 \x1b]0;pwned\x07""#
        )
    }

    static let nastyTargets: [String] = [
        hostileTarget,
        "/\u{1b}[2J\u{1b}[H\u{9b}31m",
        "/a\r\nGET /forged HTTP/1.1\r\n",
        "/\u{0}\u{1}\u{1f}\u{7f}\u{85}\u{2028}",
        String(decoding: [0x2F, 0xFF, 0xFE, 0xC3, 0x28, 0x0A, 0x1B] as [UInt8], as: UTF8.self),
        String(repeating: "\n\u{1b}", count: 3000),
    ]

    @Test(arguments: AccessLogFormat.allCases, nastyTargets)
    func noRawControlCharacterEverReachesTheLine(_ format: AccessLogFormat, _ target: String) throws {
        var entry = Self.hostile
        entry.target = target
        let headers = AccessLogFormatter.ClientHeaders(referer: target, userAgent: target)
        let line = AccessLogFormatter.line(entry, format: format, time: Self.time, headers: headers)
        for scalar in line.unicodeScalars {
            #expect(scalar.value >= 0x20 && scalar.value != 0x7F && !(0x80...0x9F).contains(scalar.value), "\(format): U+\(String(scalar.value, radix: 16))")
        }
        #expect(!line.contains("\n") && !line.contains("\r"))
        #expect(!line.unicodeScalars.contains("\u{2028}") && !line.unicodeScalars.contains("\u{2029}"))
        if format == .json {
            let parsed = try Self.parse(line)["target"] as? String
            if target.utf8.count <= AccessLogFormatter.Limit.target { #expect(parsed == target) } else { #expect(parsed?.hasSuffix("...") == true) }
        }
    }

    // MARK: - Caps

    @Test func targetIsCapped() throws {
        var entry = Self.sample
        entry.target = "/" + String(repeating: "a", count: 4999)
        #expect(Self.line(entry, .logfmt).contains(" target=\"/" + String(repeating: "a", count: 1023) + "...\" cluster="))
        #expect(Self.line(entry, .combined).contains("\"GET /" + String(repeating: "a", count: 2047) + "... HTTP/1.1\""))
        let json = try Self.parse(Self.line(entry, .json))
        #expect(json["target"] as? String == "/" + String(repeating: "a", count: 2047) + "...")
    }

    /// A cut never splits a UTF-8 sequence in JSON (the line stays valid UTF-8 and valid JSON).
    @Test func jsonCutKeepsCharactersWhole() throws {
        var entry = Self.sample
        entry.target = "/" + String(repeating: "€", count: 1000)  // 1 + 3000 bytes
        let json = try Self.parse(Self.line(entry, .json))
        // 1 + 682 × 3 = 2047 bytes fit; the 683rd € would make 2050.
        #expect(json["target"] as? String == "/" + String(repeating: "€", count: 682) + "...")
    }

    // MARK: - JSON round trip

    @Test(arguments: [sample, failed])
    func jsonParsesBackToTheEntry(_ entry: AccessLog.Entry) throws {
        let object = try Self.parse(Self.line(entry, .json))
        #expect(object["time"] as? String == "2024-05-01T12:34:56.789Z")
        #expect(object["client"] as? String == entry.client)
        #expect(object["method"] as? String == entry.method)
        #expect(object["target"] as? String == entry.target)
        #expect(object["cluster"] as? String == entry.cluster)
        if let node = entry.node { #expect(object["node"] as? String == node) } else { #expect(object["node"] is NSNull) }
        #expect(object["reason"] as? String == entry.reason)
        #expect((object["retries"] as? NSNumber)?.intValue == entry.retries)
        if let status = entry.status {
            #expect((object["status"] as? NSNumber)?.intValue == status)
        } else {
            #expect(object["status"] is NSNull)
        }
        #expect((object["bytes"] as? NSNumber)?.intValue == entry.bytes)
        let duration = try #require((object["duration_ms"] as? NSNumber)?.doubleValue)
        #expect(abs(duration - Double(entry.duration.nanoseconds) / 1_000_000) < 0.1)
        #expect(object["error"] as? String == entry.error)
        #expect(Set(object.keys) == Set(["time", "client", "method", "target", "cluster", "node", "reason", "retries", "status", "bytes", "duration_ms"] + (entry.error == nil ? [] : ["error"])))
    }

    @Test func jsonRoundTripsUnicode() throws {
        var entry = Self.sample
        entry.target = "/suche?q=Größe&emoji=🛒&cjk=購物車&sp=a b"
        let object = try Self.parse(Self.line(entry, .json))
        #expect(object["target"] as? String == entry.target)
    }

    @Test func negativeDurationIsStillANumber() throws {
        var entry = Self.sample
        entry.duration = .microseconds(-500)
        let object = try Self.parse(Self.line(entry, .json))
        #expect((object["duration_ms"] as? NSNumber)?.doubleValue == 0)
    }

    // MARK: - Time

    @Test(arguments: [
        (0.0, "1970-01-01T00:00:00.000Z", "01/Jan/1970:00:00:00 +0000"),
        (951_868_799.999, "2000-02-29T23:59:59.999Z", "29/Feb/2000:23:59:59 +0000"),
        (-1.5, "1969-12-31T23:59:58.500Z", "31/Dec/1969:23:59:58 +0000"),
        (4_102_444_800.001, "2100-01-01T00:00:00.001Z", "01/Jan/2100:00:00:00 +0000"),
        (1_735_689_599.9999, "2025-01-01T00:00:00.000Z", "01/Jan/2025:00:00:00 +0000"),
    ])
    func timeFormats(_ seconds: Double, _ rfc3339: String, _ apache: String) {
        var out = ""
        AccessLogFormatter.appendRFC3339(Date(timeIntervalSince1970: seconds), to: &out)
        #expect(out == rfc3339)
        out = ""
        AccessLogFormatter.appendApacheTime(Date(timeIntervalSince1970: seconds), to: &out)
        #expect(out == apache)
    }

    /// The hand-made calendar agrees with the C library's over two centuries.
    @Test func timeAgreesWithGmtime() {
        var random = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let seconds = Int.random(in: -2_208_988_800...4_102_444_800, using: &random)
            var t = time_t(seconds)
            var parts = tm()
            _ = gmtime_r(&t, &parts)
            let expected = String(
                format: "%04d-%02d-%02dT%02d:%02d:%02d.000Z",
                Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday),
                Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec)
            )
            var out = ""
            AccessLogFormatter.appendRFC3339(Date(timeIntervalSince1970: Double(seconds)), to: &out)
            #expect(out == expected)
        }
    }

    // MARK: - Writer

    @Test func writerAppendsAndReopensForLogrotate() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/access.log"
        // An existing file is appended to, not truncated.
        try "earlier\n".write(toFile: path, atomically: false, encoding: .utf8)

        let writer = try AccessLogWriter(path: path)
        writer.write("one")
        // logrotate renames the file; until told, the writer keeps the old one.
        try FileManager.default.moveItem(atPath: path, toPath: path + ".1")
        writer.write("two")
        #expect(!FileManager.default.fileExists(atPath: path))
        try writer.reopen()
        writer.write("three")
        writer.write("four")

        #expect(try String(contentsOfFile: path + ".1", encoding: .utf8) == "earlier\none\ntwo\n")
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "three\nfour\n")
        #expect(writer.writeErrors == 0)
    }

    @Test func writerCreatesTheFileReadableByOthers() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/access.log"
        let mask = umask(0o022)
        umask(mask)
        let writer = try AccessLogWriter(path: path)
        writer.write("x")
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o644 & ~Int(mask))
    }

    @Test func writerOpenErrors() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let isDirectory = #expect(throws: AccessLogWriter.OpenError.self) { _ = try AccessLogWriter(path: directory) }
        #expect(isDirectory?.description == "cannot open access log \(directory): Is a directory")
        let missing = #expect(throws: AccessLogWriter.OpenError.self) {
            _ = try AccessLogWriter(path: directory + "/missing/access.log")
        }
        #expect(missing?.description == "cannot open access log \(directory)/missing/access.log: No such file or directory")
    }

    /// When the new file cannot be made, lines keep going to the old one.
    @Test func failedReopenKeepsTheOldFile() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/sub/access.log"
        try FileManager.default.createDirectory(atPath: directory + "/sub", withIntermediateDirectories: false)
        let writer = try AccessLogWriter(path: path)
        writer.write("one")
        try FileManager.default.moveItem(atPath: directory + "/sub", toPath: directory + "/moved")
        #expect(throws: AccessLogWriter.OpenError.self) { try writer.reopen() }
        writer.write("two")
        #expect(try String(contentsOfFile: directory + "/moved/access.log", encoding: .utf8) == "one\ntwo\n")
        #expect(writer.writeErrors == 0)
    }

    @Test func standardOutputNeedsNoReopen() throws {
        let writer = try AccessLogWriter(path: nil)
        try writer.reopen()
        #expect(writer.path == nil)
        #expect(writer.writeErrors == 0)
    }

    #if os(Linux)
    @Test func writeErrorsAreCountedNotThrown() throws {
        let writer = try AccessLogWriter(path: "/dev/full")
        writer.write("lost")
        writer.write("lost too")
        #expect(writer.writeErrors == 2)
    }
    #endif

    @Test func concurrentWritersNeverInterleave() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/access.log"
        let writer = try AccessLogWriter(path: path)
        let line = Self.line(Self.sample, .json)
        DispatchQueue.concurrentPerform(iterations: 8) { worker in
            for n in 0..<250 { writer.write("\(worker)-\(n) \(line)") }
        }
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 8 * 250 + 1)
        #expect(lines.last == "")
        #expect(lines.dropLast().allSatisfy { $0.hasSuffix(" " + line) })
        #expect(Set(lines.dropLast().map { line in line.prefix { $0 != " " } }).count == 8 * 250)
    }

    // MARK: - Helpers

    static func parse(_ line: String) throws -> [String: Any] {
        #expect(!line.contains("\n"))
        let object = try JSONSerialization.jsonObject(with: Data(line.utf8))
        return try #require(object as? [String: Any])
    }

    static func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "latch-accesslog-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}

/// The messages an `AccessLog` logged.
