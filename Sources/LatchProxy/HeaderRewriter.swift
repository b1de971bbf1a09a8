import LatchCore
import NIOHTTP1

/// Turns a client's request head into the head sent upstream, and an upstream response head into the
/// head sent to the client. Pure: no I/O, tested on its own.
enum HeaderRewriter {
    /// Fields that are meaningful only for one connection (RFC 9110 §7.6.1). `Transfer-Encoding` and
    /// `Content-Length` are dropped too: Latch frames every message it sends itself, so a smuggling
    /// attempt that NIOHTTP1 tolerates (`Transfer-Encoding: ,chunked`) never reaches a node verbatim.
    static let hopByHop: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "te", "transfer-encoding", "upgrade", "content-length",
    ]

    /// Fields a `Connection` header may not remove: without `Host` the node cannot route the request.
    private static let protected: Set<String> = ["host"]

    /// The head to send upstream (HTTP/1.1, origin-form target, re-framed body, hop-by-hop fields
    /// removed, `Via` and `X-Forwarded-*` added) for a head ``RequestValidator`` accepted.
    static func upstreamRequestHead(
        _ head: HTTPRequestHead,
        clientIP: String?,
        scheme: String,
        forwarding: ForwardingConfig
    ) -> HTTPRequestHead {
        var target = head.uri
        var host = head.headers.first(name: "host")
        // Absolute-form (RFC 9112 §3.2.2): the validator saw that it names Host's authority; nodes get origin-form.
        if let (authority, originForm) = RequestTarget.splitAbsoluteForm(target) {
            target = originForm
            host = authority
        }

        var headers = HTTPHeaders()
        headers.reserveCapacity(head.headers.count + 5)
        let named = connectionTokens(head.headers)
        var incomingForwardedFor: [String] = []
        var incomingVia: [String] = []
        for (name, value) in head.headers {
            let lower = name.lowercased()
            if hopByHop.contains(lower) || (named.contains(lower) && !protected.contains(lower)) { continue }
            switch lower {
            case "host":
                headers.add(name: "Host", value: host ?? value)
            case "x-forwarded-for":
                incomingForwardedFor.append(value)
            case "x-forwarded-proto", "x-forwarded-host":
                continue  // replaced below: only Latch knows the client's scheme and host
            case "forwarded", "x-real-ip":
                // Other spellings of the client address: not trusted either with `replace` (RFC 7239 §8).
                if forwarding.xForwardedFor == .append { headers.add(name: name, value: value) }
            case "via":
                incomingVia.append(value)
            case "expect" where head.version.minor == 0:
                continue  // RFC 9110 §10.1.1: ignore 100-continue from an HTTP/1.0 client
            default:
                headers.add(name: name, value: value)
            }
        }
        if head.headers["host"].isEmpty, let host {
            headers.add(name: "Host", value: host)
        }
        // Re-frame the body ourselves (RFC 9112 §6.3): NIOHTTP1 has already validated Content-Length
        // and decoded chunking; we only say which framing the upstream gets.
        if head.headers.contains(name: "transfer-encoding") {
            headers.add(name: "Transfer-Encoding", value: "chunked")
        } else if let length = head.headers["content-length"].first {
            headers.add(name: "Content-Length", value: length)
        }
        let viaEntry = "\(head.version.major).\(head.version.minor) \(forwarding.via)"
        headers.add(name: "Via", value: (incomingVia + [viaEntry]).joined(separator: ", "))
        if let clientIP {
            switch forwarding.xForwardedFor {
            case .replace:
                headers.add(name: "X-Forwarded-For", value: clientIP)
            case .append:
                headers.add(name: "X-Forwarded-For", value: (incomingForwardedFor + [clientIP]).joined(separator: ", "))
            }
        }
        headers.add(name: "X-Forwarded-Proto", value: scheme)
        if let host {
            headers.add(name: "X-Forwarded-Host", value: host)
        }
        return HTTPRequestHead(version: .http1_1, method: head.method, uri: target, headers: headers)
    }

    /// The upstream's response head as the client gets it: hop-by-hop fields removed, `Content-Length`
    /// kept when the upstream sent one (NIOHTTP1 validated it and delivers exactly that many bytes),
    /// chunking left to the encoder, and the client connection's own persistence stated.
    static func downstreamResponseHead(
        _ head: HTTPResponseHead,
        clientVersion: HTTPVersion,
        keepAlive: Bool,
        via: String
    ) -> HTTPResponseHead {
        var headers = HTTPHeaders()
        headers.reserveCapacity(head.headers.count + 2)
        let named = connectionTokens(head.headers)
        var incomingVia: [String] = []
        for (name, value) in head.headers {
            let lower = name.lowercased()
            if lower == "content-length" {
                headers.add(name: name, value: value)
                continue
            }
            if hopByHop.contains(lower) || named.contains(lower) { continue }
            if lower == "via" {
                incomingVia.append(value)
                continue
            }
            headers.add(name: name, value: value)
        }
        let viaEntry = "\(head.version.major).\(head.version.minor) \(via)"
        headers.add(name: "Via", value: (incomingVia + [viaEntry]).joined(separator: ", "))
        if !head.status.isInformational {
            if !keepAlive {
                headers.add(name: "Connection", value: "close")
            } else if clientVersion.minor == 0 {
                headers.add(name: "Connection", value: "keep-alive")
            }
        }
        // An HTTP/1.0 client cannot read chunked (RFC 9112 §7.1); answering in 1.0 makes the encoder
        // delimit an unknown-length body by closing instead.
        let version: HTTPVersion = clientVersion.minor == 0 ? .http1_0 : .http1_1
        return HTTPResponseHead(version: version, status: head.status, headers: headers)
    }

    /// Lower-cased field names listed in `Connection` headers.
    static func connectionTokens(_ headers: HTTPHeaders) -> Set<String> {
        var tokens = Set<String>()
        for value in headers["connection"] {
            for token in value.split(separator: ",") {
                let trimmed = token.trimmingCharacters(in: " \t")
                if !trimmed.isEmpty { tokens.insert(trimmed.lowercased()) }
            }
        }
        return tokens
    }

}

extension HTTPResponseStatus {
    /// 1xx other than 101: followed by the final response on the same exchange.
    var isInformational: Bool { (100..<200).contains(code) && code != 101 }
}

extension StringProtocol {
    func trimmingCharacters(in set: String) -> Substring {
        var s = self[...]
        while let c = s.first, set.contains(c) { s = s.dropFirst() }
        while let c = s.last, set.contains(c) { s = s.dropLast() }
        return Substring(s)
    }
}
