import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// The life of one demo node: its sessions, its place in the replication ring, and its listening socket,
/// which a crash closes and a timer re-opens on the same port, like a JVM that died and was restarted
/// by its supervisor. Shared by every connection of the node, on any event loop of the group.
final class DemoNode: Sendable {
    /// How often a restart that could not bind (the port briefly taken) tries again.
    static let rebindRetry: TimeAmount = .seconds(1)

    let sessions: SessionStore
    let replication: DemoSessionReplication?
    private let host: String
    private let group: any EventLoopGroup
    private let state = NIOLockedValueBox(State.idle)
    /// What the node announces in its health check (``DemoAnnounceRequest``); survives a crash, as a
    /// flag in an application's deployment would.
    private let announcement = NIOLockedValueBox("active")

    var name: String { sessions.node }

    /// The state the node announces in `X-Node-State`.
    var announced: String {
        get { announcement.withLockedValue { $0 } }
        set { announcement.withLockedValue { $0 = newValue } }
    }

    /// One listening socket and the connections it accepted; a restart gets a fresh pair, because a
    /// tracker that was closed refuses every connection from then on.
    private struct Listener {
        var channel: any Channel
        var connections: ConnectionTracker
    }

    private enum State {
        case idle
        case listening(Listener, port: Int)
        /// Down until `restart` fires (nil while it is being scheduled or a bind is in flight).
        case crashed(port: Int, restart: Scheduled<Void>?)
        case closed
    }

    init(sessions: SessionStore, replication: DemoSessionReplication?, host: String, group: any EventLoopGroup) {
        self.sessions = sessions
        self.replication = replication
        self.host = host
        self.group = group
    }

    /// Binds for the first time; returns the port actually bound (`port: 0` picks a free one).
    func start(port: Int) async throws -> Int {
        let listener = try await bind(port: port).get()
        let bound = listener.channel.localAddress?.port ?? port
        state.withLockedValue { $0 = .listening(listener, port: bound) }
        return bound
    }

    /// One request's session work: continue or start a session here, then copy the result to the
    /// nodes that keep copies of it.
    func visit(candidates: [String]) -> SessionVisit {
        let visit = sessions.visit(candidates: candidates)
        replication?.replicate(visit, servedBy: name)
        return visit
    }

    /// Crashes the node: stops listening, drops every connection but `requester` (which still has to
    /// carry the answer), loses every session, and listens again on the same port after `seconds`.
    ///
    /// - Returns: a future that completes once the listener is closed, so whoever sees the answer can
    ///   rely on the port refusing connections; nil when the node is not up (already crashed or closed).
    func crash(for seconds: Int, keeping requester: any Channel) -> EventLoopFuture<Void>? {
        let listener: Listener? = state.withLockedValue { state in
            guard case .listening(let listener, let port) = state else { return nil }
            state = .crashed(port: port, restart: nil)
            return listener
        }
        guard let listener else { return nil }
        sessions.goDown()
        for channel in listener.connections.closeAll() where channel !== requester {
            channel.close(promise: nil)
        }
        scheduleRestart(in: .seconds(Int64(seconds)))
        // Closing can only fail because the channel is already closed, which is the state we want.
        return listener.channel.close().recover { _ in }
    }

    /// Stops for good: no restart after a crash. Calling it again is harmless.
    func close() async throws {
        let previous = state.withLockedValue { state in
            defer { state = .closed }
            return state
        }
        if let replication { replication.leave(sessions) }
        switch previous {
        case .listening(let listener, _):
            do {
                try await listener.channel.close()
            } catch ChannelError.alreadyClosed {
                // The group shut down first: nothing left to do for the listener.
            }
            for child in listener.connections.closeAll() {
                // A connection may be closing by itself at the same moment; that is the outcome we want anyway.
                try? await child.close()
            }
        case .crashed(_, let restart):
            restart?.cancel()
        case .idle, .closed:
            break
        }
    }

    private func scheduleRestart(in delay: TimeAmount) {
        let loop = group.next()
        state.withLockedValue { state in
            guard case .crashed(let port, _) = state else { return }
            let task = loop.scheduleTask(in: delay) { self.restart() }
            state = .crashed(port: port, restart: task)
        }
    }

    private func restart() {
        let port: Int? = state.withLockedValue { state in
            guard case .crashed(let port, _) = state else { return nil }
            state = .crashed(port: port, restart: nil)
            return port
        }
        guard let port else { return }
        // Empty before the first connection can arrive: a restart without session persistence.
        sessions.comeBack()
        bind(port: port).whenComplete { result in
            switch result {
            case .success(let listener):
                let kept = self.state.withLockedValue { state in
                    guard case .crashed = state else { return false }
                    state = .listening(listener, port: port)
                    return true
                }
                if !kept {
                    // Closed while binding: this listener must not outlive the server.
                    listener.channel.close(promise: nil)
                    for child in listener.connections.closeAll() { child.close(promise: nil) }
                }
            case .failure:
                // The port can be taken for a moment (another socket got it as its ephemeral port);
                // keep trying, as a supervisor restarting a service would, until the server is closed.
                self.scheduleRestart(in: Self.rebindRetry)
            }
        }
    }

    private func bind(port: Int) -> EventLoopFuture<Listener> {
        let connections = ConnectionTracker()
        return ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                // Refuse connections that slip in while the listener closes, so a closed node stays down.
                guard connections.register(channel) else {
                    return channel.eventLoop.makeFailedFuture(ChannelError.ioOnClosedChannel)
                }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(DemoRequestHandler(node: self))
                }
            }
            .bind(host: host, port: port)
            .map { Listener(channel: $0, connections: connections) }
    }
}
