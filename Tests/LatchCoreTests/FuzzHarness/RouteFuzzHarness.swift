import LatchCore

/// The invariants every request must keep, whatever its bytes. Returns what was broken, in words,
/// rather than trapping, so the test suite can report every case and the fuzz target can crash with
/// the reason.
public enum RouteFuzzHarness {
    public static func violations(_ input: RouteFuzzInput) -> [String] {
        var problems = extractorViolations(input)
        problems += RoutingTableFuzzCheck.violations(input)
        problems += RequestTargetFuzzCheck.violations(input.target)
        return problems
    }

    /// `RouteExtractor` agrees with the reference reading, with itself on a second call, and between
    /// its two entry points; what it reports about unknown routes is short and safe to show.
    static func extractorViolations(_ input: RouteFuzzInput) -> [String] {
        let extractor = RouteExtractor(session: input.session, nodeNames: input.nodeNames)
        let lookup = extractor.lookup(target: input.target, cookieHeaders: input.cookieHeaders)
        let withID = extractor.lookupWithSessionID(target: input.target, cookieHeaders: input.cookieHeaders)
        let again = extractor.lookupWithSessionID(target: input.target, cookieHeaders: input.cookieHeaders)
        let expected = ReferenceRouteReader(session: input.session, nodeNames: input.nodeNames)
            .read(target: input.target, cookieHeaders: input.cookieHeaders)
        var problems: [String] = []
        if lookup != withID.lookup {
            problems.append("lookup \(lookup) but lookupWithSessionID \(withID.lookup)")
        }
        if withID.lookup != again.lookup || withID.sessionID != again.sessionID {
            problems.append("not deterministic: \(withID) then \(again)")
        }
        // The reference slices its session id out of the input, so agreeing with it also proves the id
        // is a substring of the target or of one cookie line.
        if withID.lookup != expected.lookup || !sameBytes(withID.sessionID, expected.sessionID) {
            problems.append("extractor says \(describe(withID)), reference says \(describe(expected))")
        }
        problems += lookupShapeViolations(withID, input: input)
        return problems
    }

    /// What holds for any answer on its own, whatever the reference says.
    static func lookupShapeViolations(_ found: (lookup: RouteLookup, sessionID: Substring?),
                                      input: RouteFuzzInput) -> [String] {
        switch found.lookup {
        case .known(let node, let source, _):
            guard input.nodeNames.indices.contains(node) else { return ["node index \(node) out of range"] }
            guard let id = found.sessionID else { return ["known route without a session id"] }
            var problems: [String] = []
            let separator = Array(input.session.separator.utf8)
            let named = separator + Array(input.nodeNames[node].utf8)
            let carriesRoute = input.session.routes == .single
                ? Array(id.utf8).ends(with: named)
                : Array(id.utf8 + separator).contains(named + separator)
            if !carriesRoute {
                problems.append("session id \(id.debugDescription) does not end in its route")
            }
            if source != .cookie, input.session.pathParameter == nil {
                problems.append("URL route \(source) with URL routing off")
            }
            return problems
        case .unknown(let route):
            var problems: [String] = []
            if found.sessionID != nil { problems.append("unknown route with a session id") }
            if route.isEmpty { problems.append("empty unknown route") }
            if route.unicodeScalars.count > RouteLookup.maxReportedRouteLength {
                problems.append("unknown route not cut: \(route.unicodeScalars.count) scalars")
            }
            if HTMLEscaping.escape(route).contains(where: { "<>\"'".contains($0) }) {
                problems.append("unknown route \(route.debugDescription) survives HTML escaping")
            }
            return problems
        case .noRoute, .none:
            return found.sessionID == nil ? [] : ["session id without a known route"]
        }
    }

    static func sameBytes<A: StringProtocol, B: StringProtocol>(_ a: A?, _ b: B?) -> Bool {
        a.map { Array($0.utf8) } == b.map { Array($0.utf8) }
    }

    /// Short enough for a crash report even when the session id is a megabyte.
    static func describe<ID: StringProtocol>(_ found: (lookup: RouteLookup, sessionID: ID?)) -> String {
        let id = found.sessionID.map { $0.utf8.count > 80 ? "\($0.prefix(80))… (\($0.utf8.count) bytes)" : String($0) }
        return "\(found.lookup) id \(id.debugDescription)"
    }
}

private extension Array where Element == UInt8 {
    func ends(with suffix: [UInt8]) -> Bool {
        count >= suffix.count && self[(count - suffix.count)...].elementsEqual(suffix)
    }
}
