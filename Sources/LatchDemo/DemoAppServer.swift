import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// A small real HTTP/1.1 server that behaves like one Tomcat node behind a sticky load balancer:
/// it keeps sessions in memory and issues `JSESSIONID=<32 hex>.<name>`, so Latch can route on the suffix.
///
/// Used by `latch demo` and by tests. Every response carries `X-Demo-Node: <name>`; `GET /health`
/// answers `ok` without touching sessions.
public final class DemoAppServer: Sendable {
    /// The default bound on sessions held at once, so a demo left running cannot grow without limit.
    public static let defaultMaxSessions = 10_000

    /// The node name, used as the session id suffix (Tomcat's `jvmRoute`).
    public let name: String
    /// The port actually bound (useful when started with port 0).
    public let port: Int

    private let serverChannel: any Channel
    private let sessions: SessionStore
    private let connections: ConnectionTracker

    private init(name: String, port: Int, serverChannel: any Channel, sessions: SessionStore, connections: ConnectionTracker) {
        self.name = name
        self.port = port
        self.serverChannel = serverChannel
        self.sessions = sessions
        self.connections = connections
    }

    /// Binds and starts serving. `port: 0` picks a free ephemeral port; read it back from `port`.
    ///
    /// - Parameter name: node name; letters, digits, `-` and `_` only, because it ends up inside a cookie
    ///   value, a response header and after the `.` that separates id from route.
    /// - Parameter maxSessions: bound on the session table; the oldest session is evicted when full.
    /// - Throws: `DemoAppServerError.invalidName`, or the bind error (e.g. port in use).
    public static func start(
        name: String,
        host: String = "127.0.0.1",
        port: Int = 0,
        group: any EventLoopGroup,
        maxSessions: Int = DemoAppServer.defaultMaxSessions
    ) async throws -> DemoAppServer {
        guard Self.isValidName(name) else { throw DemoAppServerError.invalidName(name) }
        guard maxSessions > 0 else { throw DemoAppServerError.invalidMaxSessions(maxSessions) }

        let sessions = SessionStore(node: name, capacity: maxSessions)
        let connections = ConnectionTracker()
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                // Refuse connections that slip in while `close()` runs, so a closed node stays down.
                guard connections.register(channel) else {
                    return channel.eventLoop.makeFailedFuture(ChannelError.ioOnClosedChannel)
                }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(DemoRequestHandler(sessions: sessions))
                }
            }
            .bind(host: host, port: port)
            .get()

        return DemoAppServer(
            name: name,
            port: channel.localAddress?.port ?? port,
            serverChannel: channel,
            sessions: sessions,
            connections: connections
        )
    }

    /// Stops listening and closes every open connection, so a closed node really is down (tests use
    /// this to simulate a node failure; kept-alive connections would otherwise keep answering).
    /// Calling it again is harmless.
    public func close() async throws {
        do {
            try await serverChannel.close()
        } catch ChannelError.alreadyClosed {
            // Second close, or the group shut down first: nothing left to do for the listener.
        }
        for child in connections.closeAll() {
            // A connection may be closing by itself at the same moment; that is the outcome we want anyway.
            try? await child.close()
        }
    }

    /// Number of sessions this node currently holds (for tests).
    public func sessionCount() -> Int {
        sessions.count
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

    public var description: String {
        switch self {
        case .invalidName(let name):
            return "invalid demo node name \"\(name)\": use 1-64 letters, digits, '-' or '_'"
        case .invalidMaxSessions(let value):
            return "invalid maxSessions \(value): must be at least 1"
        }
    }
}

/// The open connections of one server, so `close()` can end them too (closing a NIO server channel
/// only stops accepting).
final class ConnectionTracker: Sendable {
    private struct State {
        var closed = false
        var channels: [ObjectIdentifier: any Channel] = [:]
    }

    private let state = NIOLockedValueBox(State())

    /// Records `channel` until it closes; false once `closeAll()` has run.
    func register(_ channel: any Channel) -> Bool {
        let id = ObjectIdentifier(channel)
        let accepted = state.withLockedValue { state in
            guard !state.closed else { return false }
            state.channels[id] = channel
            return true
        }
        if accepted {
            channel.closeFuture.whenComplete { _ in
                self.state.withLockedValue { _ = $0.channels.removeValue(forKey: id) }
            }
        }
        return accepted
    }

    /// Marks the server closed and hands back the connections still open.
    func closeAll() -> [any Channel] {
        state.withLockedValue { state in
            state.closed = true
            let open = Array(state.channels.values)
            state.channels.removeAll()
            return open
        }
    }
}
