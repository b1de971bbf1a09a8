import LatchCore

/// `ProxyProtocolHeader.parse` on any first bytes of a connection: it asks for more, or refuses in
/// words, or finds a header no longer than what came and no longer than the limits; a header found
/// parses the same from its own bytes alone (what follows is the client's), every shorter prefix of
/// it asks for more, and the addresses it names are ones a socket address could print.
public enum ProxyHeaderFuzzHarness {
    public static func violations(bytes: [UInt8]) -> [String] {
        let parsed: ProxyProtocolHeader.Parsed
        do {
            parsed = try parse(bytes)
        } catch {
            return error.description.isEmpty ? ["a refusal without words"] : []
        }
        guard case .header(let header, let length) = parsed else {
            // Needing more is only possible below the longest header either version allows.
            return bytes.count < ProxyProtocolHeader.longestV2 ? [] : ["needs more after \(bytes.count) bytes"]
        }
        var problems: [String] = []
        if length <= 0 || length > bytes.count { problems.append("header length \(length) of \(bytes.count) bytes") }
        if length > ProxyProtocolHeader.longestV2 { problems.append("header length \(length) over the limit") }
        guard problems.isEmpty else { return problems }
        let own = Array(bytes.prefix(length))
        if (try? parse(own)) != parsed { problems.append("the header's own bytes parse differently") }
        for cut in [0, 1, length / 2, length - 1] where cut < length {
            if (try? parse(Array(own.prefix(cut)))) != .needMore { problems.append("a prefix of \(cut) bytes does not ask for more") }
        }
        if case .proxied(let source, let destination) = header {
            for endpoint in [source, destination] {
                if !(0...65535).contains(endpoint.port) { problems.append("port \(endpoint.port)") }
                if endpoint.ip.isEmpty || !endpoint.ip.unicodeScalars.allSatisfy({ "0123456789abcdef.:".unicodeScalars.contains($0) }) {
                    problems.append("address \(endpoint.ip)")
                }
            }
        }
        return problems
    }

    static func parse(_ bytes: [UInt8]) throws(ProxyProtocolHeader.Refusal) -> ProxyProtocolHeader.Parsed {
        try bytes.withUnsafeBytes { raw in Result { () throws(ProxyProtocolHeader.Refusal) in try ProxyProtocolHeader.parse(raw) } }.get()
    }
}
