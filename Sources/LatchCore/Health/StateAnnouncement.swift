/// What a node says about itself in its health check's response (`health.state_header`), as HAProxy's
/// agent check lets a server say `drain`, `maint` or `ready`: a deploy script or a Kubernetes
/// `preStop` hook flips a flag in the application, and every Latch in front of the node follows it
/// from its next check, without an operator calling each one's admin API.
public enum StateAnnouncement: Sendable, Equatable {
    /// The node asks to be treated as this (a response without the header asks for `active`).
    case state(NodeState)
    /// The header holds something else: logged once and ignored, the last announcement stands.
    case unrecognised(String)

    /// Reads the values of every field named `state_header` in one check response: `active`,
    /// `draining` or `maintenance`, ASCII case-insensitive, blanks around it ignored (RFC 9110 §5.5).
    /// Several fields must agree; a value longer than ``maxReportedLength`` is cut for the log.
    public static func read(_ values: [String]) -> StateAnnouncement {
        guard let first = values.first else { return .state(.active) }
        let states = values.map { NodeState(rawValue: lowercasedASCII(trimmed($0))) }
        if let state = states[0], states.allSatisfy({ $0 == state }) { return .state(state) }
        let shown = values.count == 1 ? first : values.joined(separator: ", ")
        return .unrecognised(String(shown.unicodeScalars.prefix(maxReportedLength).map(Character.init)))
    }

    /// Unrecognised values are cut to this many characters in the log: it is the node's text.
    public static var maxReportedLength: Int { 64 }

    private static func trimmed(_ value: String) -> Substring {
        var value = value[...]
        while let c = value.first, c == " " || c == "\t" { value.removeFirst() }
        while let c = value.last, c == " " || c == "\t" { value.removeLast() }
        return value
    }

    private static func lowercasedASCII(_ value: Substring) -> String {
        String(decoding: value.utf8.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }, as: UTF8.self)
    }
}

extension NodeState {
    /// How much a state holds a node back: active < draining < maintenance.
    var restriction: Int {
        switch self {
        case .active: 0
        case .draining: 1
        case .maintenance: 2
        }
    }

    /// The more restrictive of two states: how a node is treated when its operator says one thing
    /// and the node announces another (maintenance > draining > active).
    public static func mostRestrictive(_ a: NodeState, _ b: NodeState) -> NodeState {
        a.restriction >= b.restriction ? a : b
    }
}
