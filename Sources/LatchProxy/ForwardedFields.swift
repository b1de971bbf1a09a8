import LatchCore
import NIOHTTP1

/// The fields Latch adds toward the node about the client and the way it came — `Via` (RFC 9110
/// §7.6.3), `X-Forwarded-For` and `X-Forwarded-Proto` — for one client connection under one
/// configuration.
///
/// They are the same for every request of the connection unless a request brings its own `Via` or
/// (with `x_forwarded_for: append`) its own `X-Forwarded-For`, or is not HTTP/1.1; so those usual
/// lines are written as bytes once, when the connection's first request goes out, and each request
/// copies them (three fields written and checked per request cost about 600 instructions).
final class ForwardedFields {
    let clientIP: String?
    let scheme: String
    let mode: ForwardedForMode
    let via: ViaPseudonym
    /// The lines of a usual request (``isUsual(version:incomingVia:incomingForwardedFor:)``), CRLFs
    /// included, written and checked as ``WireCursor`` writes any field.
    let usual: [UInt8]

    init(clientIP: String?, scheme: String, forwarding: ForwardingConfig, via: ViaPseudonym? = nil) {
        self.clientIP = clientIP
        self.scheme = scheme
        self.mode = forwarding.xForwardedFor
        let via = via ?? ViaPseudonym(forwarding.via)
        self.via = via
        let entry = via.entry(.http1_1)
        let room = 64 + entry.utf8.count + (clientIP?.utf8.count ?? 0) + scheme.utf8.count
        usual = [UInt8](unsafeUninitializedCapacity: room) { out, count in
            var wire = WireCursor(UnsafeMutableRawBufferPointer(out))
            Self.write(via: entry, forwardedFor: clientIP, scheme: scheme, into: &wire)
            count = wire.at
        }
    }

    /// Whether a request's lines are the usual ones.
    func isUsual(version: HTTPVersion, incomingVia: [String], incomingForwardedFor: [String]) -> Bool {
        version == .http1_1 && incomingVia.isEmpty && (incomingForwardedFor.isEmpty || mode == .replace)
    }

    /// The `Via` value (the entries received, then this hop's) and the `X-Forwarded-For` value
    /// (`replace`: the client alone; `append`: what came, then the client) of a request that is not usual.
    func values(version: HTTPVersion, incomingVia: [String], incomingForwardedFor: [String]) -> (via: String, forwardedFor: String?) {
        let viaValue = HeaderRewriter.via(incomingVia, version: version, by: via)
        guard let clientIP else { return (viaValue, nil) }
        switch mode {
        case .replace: return (viaValue, clientIP)
        case .append: return (viaValue, (incomingForwardedFor + [clientIP]).joined(separator: ", "))
        }
    }

    static func write(via: String, forwardedFor: String?, scheme: String, into wire: inout WireCursor) {
        wire.writeField("Via", value: via)
        if let forwardedFor { wire.writeField("X-Forwarded-For", value: forwardedFor) }
        wire.writeField("X-Forwarded-Proto", value: scheme)
    }
}
