import LatchCore
import NIOHTTP1

/// The fields Latch adds toward the node about the client and the way it came — `Via` (RFC 9110
/// §7.6.3), `X-Forwarded-For` and `X-Forwarded-Proto` — under one configuration (``ProxyRuntime``
/// holds it).
///
/// This hop's `Via` line and the `X-Forwarded-Proto` line of each scheme are the same for every
/// request that brings no `Via` of its own and is HTTP/1.1, nearly all of them: they are written as
/// bytes once per configuration and copied. Only the client's address is written per request (kept
/// per connection, it would cost each idle keep-alive connection a few hundred bytes).
final class ForwardedFields: Sendable {
    let mode: ForwardedForMode
    let via: ViaPseudonym
    /// `Via: 1.1 <pseudonym>` and its CRLF, written and checked as ``WireCursor`` writes any field.
    let usualVia: [UInt8]
    private let httpProto: [UInt8]
    private let httpsProto: [UInt8]

    init(forwarding: ForwardingConfig, via: ViaPseudonym? = nil) {
        mode = forwarding.xForwardedFor
        let via = via ?? ViaPseudonym(forwarding.via)
        self.via = via
        usualVia = Self.line("Via", via.entry(.http1_1))
        httpProto = Self.line("X-Forwarded-Proto", "http")
        httpsProto = Self.line("X-Forwarded-Proto", "https")
    }

    private static func line(_ name: StaticString, _ value: String) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: name.utf8CodeUnitCount + value.utf8.count + 4) { out, count in
            var wire = WireCursor(UnsafeMutableRawBufferPointer(out))
            wire.writeField(name, value: value)
            count = wire.at
        }
    }

    /// Whether this hop's `Via` line is the usual one: an HTTP/1.1 request that brought none (and, with
    /// `append`, no `X-Forwarded-For` either, whose value would then be built per request).
    func isUsual(version: HTTPVersion, incomingVia: [String], incomingForwardedFor: [String]) -> Bool {
        version == .http1_1 && incomingVia.isEmpty && (incomingForwardedFor.isEmpty || mode == .replace)
    }

    /// The `Via` value (the entries received, then this hop's) and the `X-Forwarded-For` value
    /// (`replace`: the client alone; `append`: what came, then the client).
    func values(clientIP: String?, version: HTTPVersion, incomingVia: [String], incomingForwardedFor: [String]) -> (via: String, forwardedFor: String?) {
        let viaValue = HeaderRewriter.via(incomingVia, version: version, by: via)
        guard let clientIP else { return (viaValue, nil) }
        switch mode {
        case .replace: return (viaValue, clientIP)
        case .append: return (viaValue, (incomingForwardedFor + [clientIP]).joined(separator: ", "))
        }
    }

    /// Room the lines need beyond the values given.
    static let room = 64

    /// `Via` (the usual line, or `via`), `X-Forwarded-For` when the client's address is known, then
    /// `X-Forwarded-Proto`.
    func write(usual: Bool, via: String, forwardedFor: String?, scheme: String, into wire: inout WireCursor) {
        if usual {
            usualVia.withUnsafeBufferPointer { wire.write($0) }
        } else {
            wire.writeField("Via", value: via)
        }
        if let forwardedFor { wire.writeField("X-Forwarded-For", value: forwardedFor) }
        switch scheme {
        case "http": httpProto.withUnsafeBufferPointer { wire.write($0) }
        case "https": httpsProto.withUnsafeBufferPointer { wire.write($0) }
        default: wire.writeField("X-Forwarded-Proto", value: scheme)
        }
    }
}
