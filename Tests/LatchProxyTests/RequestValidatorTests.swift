import LatchCore
import NIOHTTP1
import Testing

@testable import LatchProxy

/// The framing, target and Host rules of the hardening notes, without sockets: every row is a head
/// NIOHTTP1 accepts and Latch must refuse (or accept) on purpose.
struct RequestValidatorTests {
    private static func verdict(
        _ headers: [(String, String)],
        method: HTTPMethod = .GET,
        uri: String = "/",
        version: HTTPVersion = .http1_1,
        limits: LimitsConfig = .init()
    ) -> RequestRejection? {
        do {
            let head = try ClientRequestHead(HTTPRequestHead(version: version, method: method, uri: uri, headers: HTTPHeaders(headers)))
            return RequestValidator.validate(head, limits: limits)
        } catch {
            return RequestRejection(status: .badRequest, message: "the fields were not read: \(error)")
        }
    }

    @Test(arguments: [
        // Host (RFC 9112 §3.2)
        ([(String, String)](), "/", HTTPVersion.http1_1, HTTPResponseStatus.badRequest, "missing Host header"),
        ([("Host", "a"), ("Host", "b")], "/", .http1_1, .badRequest, "more than one Host header"),
        ([("Host", "a"), ("Host", "a")], "/", .http1_0, .badRequest, "more than one Host header"),
        ([("Host", "a/b")], "/", .http1_1, .badRequest, "an invalid Host header"),
        ([("Host", "user@a")], "/", .http1_1, .badRequest, "an invalid Host header"),
        ([("Host", "a b")], "/", .http1_1, .badRequest, "an invalid Host header"),
        ([("Host", "[::1")], "/", .http1_1, .badRequest, "an invalid Host header"),
        // Absolute-form must agree with Host.
        ([("Host", "b.example")], "http://a.example/", .http1_1, .badRequest, "the Host header differs from the target's authority"),
        ([("Host", "a.example:8080")], "http://a.example/", .http1_1, .badRequest, "the Host header differs from the target's authority"),
        ([("Host", "a")], "http://u:p@a/", .http1_1, .badRequest, "user information in the request target"),
        ([("Host", "a")], "http:///x", .http1_1, .badRequest, "an invalid authority in the request target"),
        // Targets (RFC 9112 §3.2, RFC 9110 §4.2.5)
        ([("Host", "a")], "*", .http1_1, .badRequest, "\"*\" is a target for OPTIONS only"),
        ([("Host", "a")], "/x#frag", .http1_1, .badRequest, "a fragment (#) in the request target"),
        ([("Host", "a")], "ftp://a/x", .http1_1, .badRequest, "the request target is neither a path nor an http(s) URI"),
        // What an HTTP/2 `:path` can hold and a request line must not (GHSA-4px2-pw77-vc85).
        ([("Host", "a")], "/ HTTP/1.1\r\nHost: evil\r\n\r\nGET /", HTTPVersion(major: 2, minor: 0), .badRequest,
         "the request target holds a space, a control character or non-ASCII bytes"),
        ([("Host", "a")], "/a b", HTTPVersion(major: 2, minor: 0), .badRequest, "the request target holds a space, a control character or non-ASCII bytes"),
        ([("Host", "a")], "/caf\u{E9}", HTTPVersion(major: 2, minor: 0), .badRequest, "the request target holds a space, a control character or non-ASCII bytes"),
        ([("Host", "a")], "", HTTPVersion(major: 2, minor: 0), .badRequest, "the request target holds a space, a control character or non-ASCII bytes"),
        ([(String, String)](), "/", HTTPVersion(major: 2, minor: 0), .badRequest, "missing Host header"),
        ([("Host", "a")], "x", .http1_1, .badRequest, "the request target is neither a path nor an http(s) URI"),
        // Transfer-Encoding (RFC 9112 §6.1)
        ([("Host", "a"), ("Transfer-Encoding", "chunked")], "/", .http1_0, .badRequest, "Transfer-Encoding in an HTTP/1.0 request"),
        ([("Host", "a"), ("Transfer-Encoding", "chunked, gzip")], "/", .http1_1, .badRequest, "chunked is not the final transfer coding"),
        ([("Host", "a"), ("Transfer-Encoding", "identity")], "/", .http1_1, .badRequest, "chunked is not the final transfer coding"),
        ([("Host", "a"), ("Transfer-Encoding", "")], "/", .http1_1, .badRequest, "chunked is not the final transfer coding"),
        ([("Host", "a"), ("Transfer-Encoding", "gzip, chunked")], "/", .http1_1, .notImplemented, "transfer codings other than chunked are not supported"),
        ([("Host", "a"), ("Transfer-Encoding", "gzip"), ("Transfer-Encoding", "chunked")], "/", .http1_1, .notImplemented, "transfer codings other than chunked are not supported"),
        ([("Host", "a"), ("Transfer-Encoding", "chunked, chunked")], "/", .http1_1, .notImplemented, "transfer codings other than chunked are not supported"),
    ])
    func refused(headers: [(String, String)], uri: String, version: HTTPVersion, status: HTTPResponseStatus, message: String) {
        #expect(Self.verdict(headers, uri: uri, version: version) == RequestRejection(status: status, message: message))
    }

    @Test("a TRACE with a body is refused (RFC 9110 §9.3.8: it goes to a node without a length)")
    func traceWithABody() {
        let limits = LimitsConfig()
        let withBody = ClientRequestHead.test(.TRACE, "/", headers: ["Host": "a", "Content-Length": "40"])
        #expect(RequestValidator.validate(withBody, limits: limits) == RequestRejection(status: .badRequest, message: "a TRACE request with a body"))
        let without = ClientRequestHead.test(.TRACE, "/", headers: ["Host": "a"])
        #expect(RequestValidator.validate(without, limits: limits) == nil)
    }

    @Test(arguments: [
        ([("Host", "a")], "/"),
        ([("Host", "A.Example:80")], "http://a.example/x"),  // default port and case normalised
        ([("Host", "a.example:443")], "https://A.example/"),
        ([("Host", "[::1]:8080")], "http://[::1]:8080/"),
        ([("Host", "a"), ("Transfer-Encoding", ",chunked")], "/"),  // empty list elements are allowed (RFC 9110 §5.6.1)
        ([("Host", "a"), ("Transfer-Encoding", " CHUNKED ")], "/"),
        ([("Host", "")], "/"),  // RFC 9112 §3.2: empty when the target has no authority
        ([("Host", "a"), ("Content-Length", "104857600")], "/"),  // exactly max_body
    ])
    func accepted(headers: [(String, String)], uri: String) {
        #expect(Self.verdict(headers, uri: uri) == nil)
    }

    @Test func methodMustBeAToken() {
        #expect(Self.verdict([("Host", "a")], method: .RAW(value: "GET /x HTTP/1.1\r\n")) == RequestRejection(status: .badRequest, message: "the method is not a token"))
        #expect(Self.verdict([("Host", "a")], method: .RAW(value: "")) == RequestRejection(status: .badRequest, message: "the method is not a token"))
        #expect(Self.verdict([("Host", "a")], method: .RAW(value: "PROPFIND")) == nil)
    }

    /// The bitmap is RFC 3986's reg-name set (unreserved, sub-delims, `%`), byte for byte.
    @Test func regNameBytesAreRFC3986s() {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~%!$&'()*+,;=".utf8)
        for byte in UInt8.min...UInt8.max {
            #expect(RequestValidator.isRegNameByte(byte) == allowed.contains(byte), "byte \(byte)")
        }
    }

    @Test func asteriskFormForOptionsAndHTTP10WithoutHost() {
        #expect(Self.verdict([("Host", "a")], method: .OPTIONS, uri: "*") == nil)
        #expect(Self.verdict([], uri: "/", version: .http1_0) == nil)
        #expect(Self.verdict([], uri: "http://a/", version: .http1_0) == nil)
    }

    @Test func limits() {
        let limits = LimitsConfig(maxURILength: 100, maxBody: 10)
        let long = "/" + String(repeating: "a", count: 100)
        #expect(Self.verdict([("Host", "a")], uri: long, limits: limits)?.status == .uriTooLong)
        #expect(Self.verdict([("Host", "a")], uri: String(long.dropLast()), limits: limits) == nil)
        #expect(Self.verdict([("Host", "a"), ("Content-Length", "11")], limits: limits)?.status == .payloadTooLarge)
        #expect(Self.verdict([("Host", "a"), ("Content-Length", "10")], limits: limits) == nil)
    }

    @Test func parseErrorsAnswerWithTheRightStatus() {
        #expect(ParseErrorAnswer(.headerOverflow).status == .requestHeaderFieldsTooLarge)
        #expect(ParseErrorAnswer(.invalidChunkSize).status == .badRequest)
        #expect(ParseErrorAnswer(.invalidEOFState).answers == false)
    }
}
