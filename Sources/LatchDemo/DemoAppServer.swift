import NIOCore

/// A small real HTTP/1.1 server that behaves like one Tomcat node behind a sticky load balancer:
/// it keeps sessions in memory and issues `JSESSIONID=<32 hex>.<name>`, so Latch can route on the suffix.
///
/// Used by `latch demo` and by tests. Every response carries `X-Demo-Node: <name>`; `GET /health`
/// answers `ok` without touching sessions. `POST /demo/crash?seconds=N` takes the node down for N seconds
/// (default 20, at most 300): it stops listening, drops its connections and loses its sessions, then
/// listens again on the same port with an empty store. Nodes started with one shared
/// `DemoSessionReplication` copy their sessions to each other, so a replica can take a session over.
public final class DemoAppServer: Sendable {
    /// The default bound on sessions held at once, so a demo left running cannot grow without limit.
    public static let defaultMaxSessions = 10_000

    /// The node name, used as the session id suffix (Tomcat's `jvmRoute`).
    public let name: String
    /// The port actually bound (useful when started with port 0); a node restarting after a crash
    /// binds this same port again.
    public let port: Int

    private let node: DemoNode

    private init(name: String, port: Int, node: DemoNode) {
        self.name = name
        self.port = port
        self.node = node
    }

    /// Binds and starts serving. `port: 0` picks a free ephemeral port; read it back from `port`.
    ///
    /// - Parameter name: node name; letters, digits, `-` and `_` only, because it ends up inside a cookie
    ///   value, a response header and after the `.` that separates id from route.
    /// - Parameter maxSessions: bound on the session table; the oldest session is evicted when full.
    /// - Parameter replication: shared by the nodes of one demo cluster to copy sessions to replicas;
    ///   nil (the default) keeps this node's sessions to itself.
    /// - Throws: `DemoAppServerError.invalidName`, `.invalidMaxSessions`, `.nameAlreadyReplicated`, or
    ///   the bind error (e.g. port in use).
    public static func start(
        name: String,
        host: String = "127.0.0.1",
        port: Int = 0,
        group: any EventLoopGroup,
        maxSessions: Int = DemoAppServer.defaultMaxSessions,
        replication: DemoSessionReplication? = nil
    ) async throws -> DemoAppServer {
        guard Self.isValidName(name) else { throw DemoAppServerError.invalidName(name) }
        guard maxSessions > 0 else { throw DemoAppServerError.invalidMaxSessions(maxSessions) }

        let sessions = SessionStore(node: name, capacity: maxSessions)
        if let replication, !replication.join(sessions) {
            throw DemoAppServerError.nameAlreadyReplicated(name)
        }
        let node = DemoNode(sessions: sessions, replication: replication, host: host, group: group)
        do {
            let bound = try await node.start(port: port)
            return DemoAppServer(name: name, port: bound, node: node)
        } catch {
            replication?.leave(sessions)
            throw error
        }
    }

    /// Stops listening and closes every open connection, so a closed node really is down (tests use
    /// this to simulate a node failure; kept-alive connections would otherwise keep answering). A node
    /// that is down after `/demo/crash` stays down. Calling it again is harmless.
    public func close() async throws {
        try await node.close()
    }

    /// Number of sessions this node currently holds, copies kept as a replica included (for tests).
    public func sessionCount() -> Int {
        node.sessions.count
    }

    static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 64
            && name.utf8.allSatisfy { byte in
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                    UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"):
                    return true
                default:
                    return false
                }
            }
    }
}

/// Why `DemoAppServer.start` refused to start.
public enum DemoAppServerError: Error, Equatable, CustomStringConvertible {
    /// The node name is empty, longer than 64 bytes, or has characters other than letters, digits, `-`, `_`.
    case invalidName(String)
    /// `maxSessions` must be at least 1.
    case invalidMaxSessions(Int)
    /// A running node of this name already shares the `DemoSessionReplication`; copies meant for one
    /// of them would reach the other.
    case nameAlreadyReplicated(String)

    public var description: String {
        switch self {
        case .invalidName(let name):
            return "invalid demo node name \"\(name)\": use 1-64 letters, digits, '-' or '_'"
        case .invalidMaxSessions(let value):
            return "invalid maxSessions \(value): must be at least 1"
        case .nameAlreadyReplicated(let name):
            return "a running demo node called \"\(name)\" already shares this session replication"
        }
    }
}
