import LatchCore
import NIOHTTP1

/// `failback: stay` at the edges of an exchange: reading Latch's owner cookie from the request, and
/// setting or dropping it on the response. The rule itself is ``NodeChooser``'s and ``OwnerCookie``'s.
struct StayState {
    var owner: Int?
    var hadOwnerCookie = false

    init(cluster: ClusterRuntime, lookup: RouteLookup, sessionID: @autoclosure () -> Substring?, cookies: @autoclosure () -> [String]) {
        // The policy first: reading the whole failover section copies its strings.
        guard cluster.config.failover.failback == .stay, case .known = lookup else { return }
        let failover = cluster.config.failover
        guard let value = OwnerCookie.find(failover.ownerCookie, in: cookies()),
            let sessionID = sessionID(), let name = OwnerCookie.owner(in: value, sessionID: sessionID)
        else { return }
        // Only a cookie bound to this session is ours to replace or drop: another cluster's (same name,
        // another session) is left alone.
        hadOwnerCookie = true
        owner = cluster.config.nodes.firstIndex { $0.name == name }
    }

    /// On a failed-over response, name the node that now owns the session; once the session is back
    /// on its own node, or the application issued a new session id, drop the cookie. Over TLS the
    /// cookie is `Secure` (RFC 6265 §4.1.2.5), so a plain-HTTP request never carries it.
    static func updateOwnerCookie(_ headers: inout [(String, String)], for exchange: Exchange, secure: Bool) {
        let failover = exchange.cluster.config.failover
        // The node set (or deleted) the session cookie: a new id carries its own route.
        let newSession = !exchange.issuedSessions.isEmpty
        // Scoped like the cluster, so clusters split by path do not overwrite each other's cookie.
        let path = exchange.cluster.config.match.pathPrefix ?? "/"
        let attributes = "Path=\(path); HttpOnly; SameSite=Lax" + (secure ? "; Secure" : "")
        let failedOver = switch exchange.reason {
        case .failoverRanked, .failoverReplica, .failoverAny: true
        default: false
        }
        if failedOver, !newSession, let sessionID = exchange.sessionID {
            let value = OwnerCookie.value(node: exchange.nodeConfig.name, sessionID: sessionID)
            headers.append(("Set-Cookie", "\(failover.ownerCookie)=\(value); \(attributes)"))
        } else if exchange.hadOwnerCookie, exchange.reason != .stayed || newSession {
            // Back on its own node, or a new session id that carries its own route: the owner is moot.
            headers.append(("Set-Cookie", "\(failover.ownerCookie)=; Max-Age=0; \(attributes)"))
        }
    }
}
