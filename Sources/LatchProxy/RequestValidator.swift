import LatchCore
import NIOHTTP1

/// Why a request is refused before it reaches any node.
struct RequestRejection: Error, Equatable {
    var status: HTTPResponseStatus
    var message: String
}

/// Checks of a parsed request head that NIOHTTP1 leaves to the proxy (see the hardening notes): the
/// framing, the target and `Host`. Pure: the verdict depends only on the head and the limits.
///
/// Every rejection closes the client connection (``ProxyHandler`` never keeps a connection whose
/// request it did not read to the end), so a request that two parsers could read differently is
/// answered once and nothing after it is parsed.
enum RequestValidator {
    static func validate(_ head: ClientRequestHead, limits: LimitsConfig) -> RequestRejection? {
        if head.target.utf8.count > limits.maxURILength {
            return RequestRejection(status: .uriTooLong, message: "the request target is longer than \(limits.maxURILength) bytes")
        }
        if let rejection = checkRequestLine(head) { return rejection }
        if let rejection = checkTarget(head) { return rejection }
        if let rejection = checkHost(head) { return rejection }
        if let rejection = checkTransferEncoding(head) { return rejection }
        // RFC 9110 §9.3.8: a client must not send content in a TRACE request; Latch could not frame it
        // toward the node (TRACE is sent without a length).
        if case .TRACE = head.method, MessageFraming.requestHasBody(head) {
            return RequestRejection(status: .badRequest, message: "a TRACE request with a body")
        }
        if let length = head.framing.contentLength, length > limits.maxBody {
            return RequestRejection(status: .payloadTooLarge, message: "the request body is larger than \(limits.maxBody) bytes")
        }
        return nil
    }

    /// The method must be a token and the target visible ASCII (RFC 9112 §3, RFC 3986 §2): Latch
    /// writes both into the request line toward the node, where a space, CR or LF would end it and
    /// start another. ``HTTP1RequestParser`` never lets such an HTTP/1 request through; an HTTP/2 request's `:method`
    /// and `:path` are only what the client put there — the HTTP/2-to-HTTP/1 smuggling of
    /// GHSA-4px2-pw77-vc85 — so they are checked here, whatever the HTTP/2 library already refused.
    private static func checkRequestLine(_ head: ClientRequestHead) -> RequestRejection? {
        if head.requestLineChecked { return nil }
        var method = head.method.rawValue
        if !method.withUTF8(HTTPWire.isValidName) {
            return RequestRejection(status: .badRequest, message: "the method is not a token")
        }
        if head.target.isEmpty || !head.target.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) {
            return RequestRejection(status: .badRequest, message: "the request target holds a space, a control character or non-ASCII bytes")
        }
        return nil
    }

    /// RFC 9112 §3.2: origin-form, absolute-form (http/https), or `*` for OPTIONS; authority-form is
    /// CONNECT's and answered 501 elsewhere. A fragment is never part of a request target (RFC 9110 §4.2.5),
    /// and userinfo in an http(s) URI is deprecated and a phishing device (RFC 9110 §4.2.4).
    private static func checkTarget(_ head: ClientRequestHead) -> RequestRejection? {
        if head.method.isCONNECT { return nil }
        // Over the target's bytes: `String`'s `==`, `contains` and `hasPrefix` cost a few hundred
        // instructions between them, on every request.
        var target = head.target
        let (isAsterisk, hasFragment, isOriginForm) = target.withUTF8 { bytes in
            (bytes.count == 1 && bytes[0] == UInt8(ascii: "*"), bytes.contains(UInt8(ascii: "#")), bytes.first == UInt8(ascii: "/"))
        }
        if isAsterisk {
            return head.method == .OPTIONS ? nil : RequestRejection(status: .badRequest, message: "\"*\" is a target for OPTIONS only")
        }
        if hasFragment {
            return RequestRejection(status: .badRequest, message: "a fragment (#) in the request target")
        }
        if isOriginForm { return nil }
        guard let (authority, _) = RequestTarget.splitAbsoluteForm(target) else {
            return RequestRejection(status: .badRequest, message: "the request target is neither a path nor an http(s) URI")
        }
        if authority.utf8.contains(UInt8(ascii: "@")) {
            return RequestRejection(status: .badRequest, message: "user information in the request target")
        }
        if authority.isEmpty || !isValidAuthority(authority) {
            return RequestRejection(status: .badRequest, message: "an invalid authority in the request target")
        }
        return nil
    }

    /// RFC 9112 §3.2: exactly one `Host` in HTTP/1.1, at most one in 1.0; its value must be an authority
    /// (a `Host: a/b` or `Host: a@b` would reach logs, cluster matching and the node as something else).
    /// With an absolute-form target both name the same authority, or the request is refused — as
    /// HAProxy does — rather than letting the node and Latch disagree on which site was asked for.
    private static func checkHost(_ head: ClientRequestHead) -> RequestRejection? {
        // Counted and checked as bytes: a `String` is made only to compare with an absolute target.
        var hostCount = 0
        var firstHost: FieldLines.Line?
        for line in head.fields.lines where line.name == .host {
            hostCount += 1
            if firstHost == nil { firstHost = line }
        }
        if !head.version.isHTTP10, hostCount == 0 {
            return RequestRejection(status: .badRequest, message: "missing Host header")
        }
        guard hostCount <= 1 else {
            return RequestRejection(status: .badRequest, message: "more than one Host header")
        }
        guard let hostLine = firstHost else { return nil }
        if head.authorityConflict {
            return RequestRejection(status: .badRequest, message: "the Host header differs from :authority (RFC 9113 §8.3.1)")
        }
        let valid = head.fields.bytes.withUnsafeReadableBytes { bytes in
            isValidAuthority(bytes: bytes[Int(hostLine.valueStart)..<Int(hostLine.valueEnd)])
        }
        if !valid {
            return RequestRejection(status: .badRequest, message: "an invalid Host header")
        }
        if head.target.utf8.first != UInt8(ascii: "/"), let (authority, _) = RequestTarget.splitAbsoluteForm(head.target) {
            let host = head.fields.value(of: hostLine)
            let scheme = head.target.utf8.count > 5 && head.target.prefix(5).lowercased() == "https" ? "https" : "http"
            if normalized(authority, scheme: scheme) != normalized(host, scheme: scheme) {
                return RequestRejection(status: .badRequest, message: "the Host header differs from the target's authority")
            }
        }
        return nil
    }

    /// RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 means faulty framing (400); `chunked` must be the
    /// final coding (400); any other coding Latch does not decode, so it cannot forward the body
    /// faithfully re-framed (501). Empty list elements are tolerated (RFC 9110 §5.6.1).
    private static func checkTransferEncoding(_ head: ClientRequestHead) -> RequestRejection? {
        guard head.framing.transferEncoding else { return nil }
        let values = head.values(.transferEncoding)
        if head.version.major == 1, head.version.minor == 0 {
            return RequestRejection(status: .badRequest, message: "Transfer-Encoding in an HTTP/1.0 request")
        }
        var codings: [Substring] = []
        for value in values {
            for element in value.split(separator: ",", omittingEmptySubsequences: false) {
                let coding = element.trimmingCharacters(in: " \t")
                if !coding.isEmpty { codings.append(coding) }
            }
        }
        guard let last = codings.last, last.lowercased() == "chunked" else {
            return RequestRejection(status: .badRequest, message: "chunked is not the final transfer coding")
        }
        if codings.count > 1 {
            return RequestRejection(status: .notImplemented, message: "transfer codings other than chunked are not supported")
        }
        return nil
    }

    /// `host`, `host:port`, `[v6]:port`, not empty: RFC 3986 reg-name / IPv4 / IP-literal characters only.
    static func isValidAuthority(_ value: String) -> Bool {
        !value.isEmpty && isValidAuthority(bytes: value.utf8)
    }

    /// ``isValidAuthority(_:)`` of bytes, where empty is valid (an empty `Host`, RFC 9112 §3.2).
    private static func isValidAuthority<Bytes: Sequence<UInt8>>(bytes: Bytes) -> Bool {
        var sawColonAfterLiteral = false
        var inLiteral = false
        for byte in bytes {
            if isRegNameByte(byte) { continue }
            switch byte {
            case UInt8(ascii: "["):
                if inLiteral || sawColonAfterLiteral { return false }
                inLiteral = true
            case UInt8(ascii: "]"):
                if !inLiteral { return false }
                inLiteral = false
            case UInt8(ascii: ":"):
                if !inLiteral { sawColonAfterLiteral = true }
            default:
                return false
            }
        }
        return !inLiteral
    }

    /// A byte of an RFC 3986 reg-name or IPv4 address (unreserved, sub-delims and `%`): a bit per
    /// ASCII byte in two literal words, as ``HTTPSyntax/isTokenByte(_:)``.
    @inline(__always)
    static func isRegNameByte(_ byte: UInt8) -> Bool {
        if byte < 64 { return (0x2BFF_7FF2_0000_0000 as UInt64) >> UInt64(byte) & 1 == 1 }
        if byte < 128 { return (0x47FF_FFFE_87FF_FFFE as UInt64) >> UInt64(byte - 64) & 1 == 1 }
        return false
    }

    /// Lower-cased, with the scheme's default port removed: `Shop.example.com:80` = `shop.example.com`.
    private static func normalized(_ authority: String, scheme: String) -> String {
        let lower = authority.lowercased()
        let defaultPort = scheme == "https" ? ":443" : ":80"
        return lower.hasSuffix(defaultPort) ? String(lower.dropLast(defaultPort.count)) : lower
    }
}
