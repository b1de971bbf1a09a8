import LatchCore
import NIOCore
import NIOHTTP1

/// What a node gets for a request: its head as the bytes that go on the wire, and how its body is
/// framed. Kept by the exchange, so a retry sends the same bytes again.
struct UpstreamRequest {
    var head: ByteBuffer
    var method: HTTPMethod
    /// The body goes out chunk-framed (``RequestFraming``).
    var chunked: Bool
    /// The head frames a body at all (a length or chunked): without it, body bytes written after the
    /// head would be read by the node as the start of another request.
    var framesBody: Bool
}

/// Turns a client's request head into the head sent upstream, and an upstream response head into the
/// head sent to the client. Pure: no I/O, tested on its own.
enum HeaderRewriter {
    /// The head to send upstream (HTTP/1.1, origin-form target, `Host` first, re-framed body,
    /// hop-by-hop fields removed, `Via` and `X-Forwarded-*` added) for a head ``RequestValidator``
    /// accepted, written straight as the bytes that go on the wire.
    ///
    /// One pass over the fields picks the lines that pass through (classified by the parser,
    /// ``FieldName``); they are copied as they came, in runs, through one pointer into room reserved
    /// once (``WireCursor``): this runs for every request, and a `ByteBuffer` write per field cost
    /// more than the copying.
    ///
    /// - Parameters:
    ///   - forwarded: `Via` and `X-Forwarded-*` as the configuration says (``ForwardedFields``).
    ///   - clientIP: the client's address, for `X-Forwarded-For` (none when unknown).
    ///   - scheme: how the client came, for `X-Forwarded-Proto`.
    ///   - upgrade: the protocols to ask the node for (``UpgradeOffer``): `Connection: Upgrade` and
    ///     `Upgrade` are put back for them, having been removed as hop-by-hop.
    ///   - nodeHost: `Host` for a request that came without one (HTTP/1.0): the node gets HTTP/1.1,
    ///     which requires it (RFC 9112 §3.2); named after the node, as nginx's default
    ///     `proxy_set_header Host $proxy_host` does.
    static func upstreamRequest(
        _ head: ClientRequestHead,
        forwarded: ForwardedFields,
        clientIP: String?,
        scheme: String,
        upgrade: String? = nil,
        nodeHost: String? = nil,
        into buffer: consuming ByteBuffer = ByteBuffer()
    ) -> UpstreamRequest {
        var target = head.target
        var host = head.host
        // Absolute-form (RFC 9112 §3.2.2): the validator saw that it names Host's authority; nodes get origin-form.
        if let (authority, originForm) = RequestTarget.splitAbsoluteForm(target) {
            target = originForm
            host = authority
        }
        let named = ConnectionTokens(head.fields)
        var incomingForwardedFor: [String] = []
        var incomingVia: [String] = []
        var passing = head.fields
        if named.isEmpty {
            // The usual head, no field named in `Connection`: dropped by name alone, as below.
            incomingForwardedFor = head.fields.values(.xForwardedFor)
            incomingVia = head.fields.values(.via)
            var names = Self.droppedFromRequests
            if forwarded.mode != .append { names.formUnion(FieldNames(.forwarded, .xRealIP)) }
            if head.version.isHTTP10 { names.insert(FieldNames(.expect)) }
            passing.drop(names: names)
        } else {
            passing.drop { line, name, value in
                switch line.name {
                case .transferEncoding, .contentLength, .host:
                    // Re-framed below; Host written first (a `Connection` header may not remove it:
                    // without it the node cannot route the request).
                    return true
                case _ where line.name.isHopByHop || named.contains(name):
                    return true
                case .xForwardedFor:
                    incomingForwardedFor.append(String(decoding: value, as: UTF8.self))
                    return true
                case .xForwardedProto, .xForwardedHost:
                    return true  // replaced below: only Latch knows the client's scheme and host
                case .forwarded, .xRealIP:
                    // Other spellings of the client address: not trusted either with `replace` (RFC 7239 §8).
                    return forwarded.mode != .append
                case .via:
                    incomingVia.append(String(decoding: value, as: UTF8.self))
                    return true
                case .expect:
                    return head.version.isHTTP10  // RFC 9110 §10.1.1: ignore 100-continue from an HTTP/1.0 client
                default:
                    return false
                }
            }
        }
        // Re-frame the body ourselves (RFC 9112 §6.3): the parser has validated Content-Length and
        // decodes chunking; only the framing the node gets is said here.
        let framing = RequestFraming.framing(
            method: head.method, chunked: head.framing.transferEncoding, contentLength: head.framing.contentLength)
        // Nearly always the usual Via line, written once per configuration; otherwise this request's own.
        let usual = forwarded.isUsual(version: head.version, incomingVia: incomingVia, incomingForwardedFor: incomingForwardedFor)
        let (via, forwardedFor) =
            usual
            ? ("", clientIP)
            : forwarded.values(clientIP: clientIP, version: head.version, incomingVia: incomingVia, incomingForwardedFor: incomingForwardedFor)
        let hostLine = host ?? nodeHost
        var method = head.method.rawValue
        // The fixed names and line ends of Latch's fields, then every value's bytes.
        var room = 200 + method.utf8.count + target.utf8.count + passing.keptByteCount + ForwardedFields.room + forwarded.usualVia.count + via.utf8.count + scheme.utf8.count
        room += (hostLine?.utf8.count ?? 0) + (forwardedFor?.utf8.count ?? 0) + (host?.utf8.count ?? 0) + 2 * (upgrade?.utf8.count ?? 0)
        // `buffer` is consumed, not copied: a copy would share its storage and make the writes copy it.
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: room) { out in
            var wire = WireCursor(out)
            method.withUTF8 { wire.write($0) }
            wire.write(" ")
            wire.write(target)
            wire.write(" HTTP/1.1\r\n")
            if let hostLine { wire.writeField("Host", value: hostLine) }
            wire.at = passing.copyKept(to: out, at: wire.at)
            switch framing {
            case .none: break
            case .length(let length): wire.writeContentLength(length)
            case .chunked: wire.write("Transfer-Encoding: chunked\r\n")
            }
            forwarded.write(usual: usual, via: via, forwardedFor: forwardedFor, scheme: scheme, into: &wire)
            if let host { wire.writeField("X-Forwarded-Host", value: host) }
            if let upgrade {
                wire.write("Connection: Upgrade\r\n")
                wire.writeField("Upgrade", value: upgrade)
            }
            wire.write("\r\n")
            return wire.at
        }
        return UpstreamRequest(head: buffer, method: head.method, chunked: framing == .chunked, framesBody: framing != .none)
    }

    /// The node's response head as the client gets it: hop-by-hop fields dropped, `Content-Length`
    /// kept when the node sent one (the parser validated it and delivers exactly that many bytes), the
    /// node's `Via` entries followed by this hop's, and the client connection's own persistence
    /// stated. The kept lines go out as the bytes they came in.
    static func downstreamResponseHead(
        _ head: NodeResponseHead,
        clientVersion: HTTPVersion,
        keepAlive: Bool,
        via: ViaPseudonym
    ) -> ClientResponseHead {
        // An HTTP/1.0 client cannot read chunked (RFC 9112 §7.1); answering in 1.0 makes the body of
        // unknown length end with the connection instead.
        let downstream = ClientResponseHead(
            version: clientVersion.isHTTP10 ? .http1_0 : .http1_1, status: head.status, relayed: head.fields)
        let named = ConnectionTokens(head.fields)
        var incomingVia: [String] = []
        if named.isEmpty {
            // The usual head, no field named in `Connection`: dropped by name alone, as below.
            incomingVia = head.fields.values(.via)
            downstream.relayed.drop(names: Self.droppedFromResponses)
        } else {
            downstream.relayed.drop { line, name, value in
                switch line.name {
                case .contentLength:
                    return false
                case _ where line.name.isHopByHop || named.contains(name):
                    return true  // a `Via` the node listed in `Connection` is hop-by-hop too (RFC 9110 §7.6.1)
                case .via:
                    incomingVia.append(String(decoding: value, as: UTF8.self))
                    return true
                default:
                    return false
                }
            }
        }
        downstream.via = Self.via(incomingVia, version: head.version, by: via)
        if !head.status.isInformational {
            if !keepAlive {
                downstream.connection = "close"
            } else if clientVersion.isHTTP10 {
                downstream.connection = "keep-alive"
            }
        }
        return downstream
    }

    /// What a request head loses on its way to a node when no field is named in `Connection`: the
    /// hop-by-hop fields, the framing and `Host` (written anew), and the forwarding fields Latch
    /// replaces (the cases of the general drop in ``upstreamRequest``).
    static var droppedFromRequests: FieldNames {
        FieldNames.hopByHop.union(FieldNames(.host, .xForwardedFor, .xForwardedProto, .xForwardedHost, .via))
    }

    /// What a response head loses on its way to the client when no field is named in `Connection`:
    /// the hop-by-hop fields but `Content-Length`, and `Via` (written anew with this hop's entry).
    static var droppedFromResponses: FieldNames {
        FieldNames.hopByHop.subtracting(FieldNames(.contentLength)).union(FieldNames(.via))
    }

    /// The `Via` value (RFC 9110 §7.6.3): the entries received, then this hop's.
    static func via(_ incoming: [String], version: HTTPVersion, by via: ViaPseudonym) -> String {
        let entry = via.entry(version)
        return incoming.isEmpty ? entry : (incoming + [entry]).joined(separator: ", ")
    }
}

/// This hop's `Via` entry (RFC 9110 §7.6.3): the received protocol's version, then the pseudonym
/// (`forwarding.via`). HTTP/1.1's, on nearly every message, is written once per configuration
/// instead of concatenated twice per request.
struct ViaPseudonym: Sendable {
    let pseudonym: String
    private let http11: String

    init(_ pseudonym: String) {
        self.pseudonym = pseudonym
        self.http11 = "1.1 " + pseudonym
    }

    func entry(_ version: HTTPVersion) -> String {
        if version == .http1_1 { return http11 }
        // HTTP/2's version is "2" (RFC 9113 §3).
        return version.major >= 2 ? "\(version.major) \(pseudonym)" : "\(version.major).\(version.minor) \(pseudonym)"
    }
}

/// The field names a message's `Connection` headers list (RFC 9110 §7.6.1), other than the hop-by-hop
/// ones Latch drops anyway; usually none, so usually nothing is allocated.
struct ConnectionTokens {
    private(set) var tokens: [String] = []

    var isEmpty: Bool { tokens.isEmpty }

    init(_ fields: borrowing FieldLines) {
        guard fields.contains(.connection) else { return }
        fields.forEachKept { line, _, value in
            if line.name == .connection { add(tokensIn: value.assumingMemoryBound(to: UInt8.self)) }
        }
    }

    /// The comma-separated tokens of one value, blanks trimmed, read as bytes: the common
    /// `Connection: keep-alive` or `close` costs no string.
    private mutating func add(tokensIn bytes: UnsafeBufferPointer<UInt8>) {
        var start = 0
        while start < bytes.count {
            var end = start
            while end < bytes.count, bytes[end] != UInt8(ascii: ",") { end += 1 }
            var first = start
            var last = end
            while first < last, bytes[first] == UInt8(ascii: " ") || bytes[first] == UInt8(ascii: "\t") { first += 1 }
            while last > first, bytes[last - 1] == UInt8(ascii: " ") || bytes[last - 1] == UInt8(ascii: "\t") { last -= 1 }
            let token = UnsafeBufferPointer(rebasing: bytes[first..<last])
            if !token.isEmpty, !FieldName(token).isHopByHop {
                tokens.append(String(decoding: token, as: UTF8.self))
            }
            start = end + 1
        }
    }

    /// Whether `name` is listed (ASCII case-insensitively).
    func contains(_ name: UnsafeRawBufferPointer) -> Bool {
        guard !tokens.isEmpty else { return false }
        return contains(String(decoding: name, as: UTF8.self))
    }

    /// Whether `name` is listed (ASCII case-insensitively).
    func contains(_ name: String) -> Bool {
        guard !tokens.isEmpty else { return false }
        return tokens.contains { $0.count == name.count && $0.lowercased() == name.lowercased() }
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
