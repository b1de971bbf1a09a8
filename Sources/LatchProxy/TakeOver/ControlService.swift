#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import LatchCore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ServiceLifecycle

/// The control socket (`control_socket`), run beside the proxy: a new Latch process started with
/// `--take-over` and the same lb.yaml asks here for the listening sockets, sets up on them, and says
/// so; this process then stops accepting, answers (the new one accepts from then on), and its
/// `run()` returns, which shuts the group
/// down gracefully (run it with `successTerminationBehavior: .gracefullyShutdownGroup`): exchanges
/// in flight finish within `shutdown_grace`, and the process exits 0.
///
/// In the new process it first completes the take-over it began (``TakeOverClient``), once the
/// proxy and admin listeners are set up (not yet accepting on the sockets taken over), starts
/// accepting, then listens on the path the old process gave up.
///
/// Only a peer running as the same user or as root is answered (`SO_PEERCRED`); the socket file is
/// the user's alone (mode 0600).
public struct ControlService: Service {
    let path: String
    let configPath: String
    let server: ProxyServer
    let admin: AdminServer?
    let handover: TakeOverClient?
    let started: StartupBarrier
    let logger: Logger

    /// - Parameters:
    ///   - configPath: this process's lb.yaml, resolved (``resolvedConfigPath(_:)``).
    ///   - handover: a take-over this process began; completed once `started` opens.
    ///   - started: opens when the proxy's and admin's listeners serve.
    public init(
        path: String, configPath: String, server: ProxyServer, admin: AdminServer?, handover: TakeOverClient?,
        started: StartupBarrier, logger: Logger
    ) {
        self.path = path
        self.configPath = configPath
        self.server = server
        self.admin = admin
        self.handover = handover
        self.started = started
        self.logger = logger
    }

    /// `path` made absolute with symbolic links resolved: two processes started from different
    /// directories, or through a link, name the same file alike.
    public static func resolvedConfigPath(_ path: String) -> String {
        URL(fileURLWithPath: path).resolvingSymlinksInPath().standardizedFileURL.path
    }

    public func run() async throws {
        if let handover { try await completeTakeOver(handover) }
        let listener: CInt
        do {
            listener = try UnixSocket.listenAt(path)
        } catch {
            logger.warning(
                "no control socket, so `latch run --take-over` cannot take this Latch over: cannot listen on \(path): \(describeNetworkError(error))")
            try? await gracefulShutdown()
            return
        }
        logger.info("control socket listening", metadata: ["path": "\(path)"])
        var handedOver = false
        while !Task.isShuttingDownGracefully, !Task.isCancelled, !handedOver {
            let accepted: CInt?
            do {
                accepted = try await NIOThreadPool.singleton.runIfActive { try UnixSocket.acceptNext(listener, milliseconds: 250) }
            } catch is CancellationError {
                break
            } catch {
                // Out of descriptors, say: not a reason to spin.
                logger.warning("control socket: \(describeNetworkError(error))")
                try? await Task.sleep(for: .seconds(1))
                continue
            }
            guard let peer = accepted else { continue }
            handedOver = await serve(ControlConnection(descriptor: peer), listener: listener)
        }
        if !handedOver {
            close(listener)
            unlink(path)
        }
    }

    /// The new process's part, once its listeners are set up: READY, then accept once the old one
    /// has paused, and tell it so. A refusal ends this process: it must not accept beside a Latch
    /// that serves on.
    private func completeTakeOver(_ handover: TakeOverClient) async throws {
        guard await started.wait() else {
            handover.abandon()
            return
        }
        let release = await handover.ready()
        if case .refused(let why) = release {
            logger.error("the previous Latch did not hand over (\(why)); it serves on, and this one stops", metadata: ["previous_pid": "\(handover.oldPID)"])
            handover.abandon()
            throw TakeOverClient.Failure(description: "the previous Latch (pid \(handover.oldPID)) did not hand over: \(why)")
        }
        await server.resumeAccepting()
        await admin?.resumeAccepting()
        // Under systemd (`NotifyAccess=all`): this process is the service's main one now, and ready
        // (``ProxyService`` does not say READY=1 for a process that takes over). Said before
        // ACCEPTING, so the old process cannot exit first and leave the service without a main one.
        SystemdNotify.send("MAINPID=\(getpid())\nREADY=1\nSTATUS=serving (took over from pid \(handover.oldPID))")
        await handover.accepting()
        if release == .released {
            logger.notice(
                "took over the listening sockets; the previous Latch stopped accepting and finishes its exchanges in flight",
                metadata: ["previous_pid": "\(handover.oldPID)"])
        } else {
            logger.warning("took over the listening sockets; the previous Latch had gone away", metadata: ["previous_pid": "\(handover.oldPID)"])
        }
    }

    /// One peer: a take-over request, answered with the sockets; true once this process handed over.
    private func serve(_ connection: ControlConnection, listener: CInt) async -> Bool {
        defer { connection.close() }
        let credentials = UnixSocket.peerCredentials(connection.descriptor)
        guard let credentials, credentials.uid == geteuid() || credentials.uid == 0 else {
            logger.warning("control socket: refused a peer that is neither root nor this Latch's user", metadata: ["uid": "\(credentials.map { "\($0.uid)" } ?? "?")"])
            try? await connection.send(.refused("only root or uid \(geteuid()) may take this Latch over"))
            return false
        }
        let request: TakeOverMessage
        do {
            guard let (message, stray) = try await connection.receive(milliseconds: 5_000) else { return false }
            stray.forEach { _ = close($0) }
            request = message
        } catch {
            logger.warning("control socket: \(error)")
            try? await connection.send(.refused("\(error)"))
            return false
        }
        guard case .request(let theirConfig) = request else {
            try? await connection.send(.refused("expected a take-over request"))
            return false
        }
        guard theirConfig == configPath else {
            logger.warning("control socket: refused a take-over by a Latch running another configuration", metadata: ["theirs": "\(theirConfig)", "ours": "\(configPath)"])
            try? await connection.send(.refused("this Latch runs \(configPath), not \(theirConfig)"))
            return false
        }
        // Copies, made while the listeners are known open: a reload or shutdown may close the
        // originals meanwhile without the numbers sent turning into other files.
        guard var sockets = server.listeningSocketCopies() else {
            try? await connection.send(.refused("this Latch is shutting down"))
            return false
        }
        if let admin = admin?.listeningSocketCopy() { sockets.append((admin.address, admin.descriptor, .admin)) }
        defer { sockets.forEach { _ = close($0.descriptor) } }
        let pid = credentials.pid
        logger.notice("take-over requested: handing the listening sockets to a new Latch", metadata: ["pid": "\(pid)"])
        do {
            try await connection.send(
                .listeners(pid: getpid(), sockets.map { TakeOverMessage.Socket($0.kind, $0.address) }), descriptors: sockets.map(\.descriptor))
            guard case .ready? = try await connection.receive(milliseconds: 60_000)?.0 else {
                logger.warning("take-over abandoned: the new Latch went away or took over a minute to set up; this one serves on", metadata: ["pid": "\(pid)"])
                try? await connection.send(.refused("no READY within 60 s; this Latch serves on"))
                return false
            }
        } catch {
            logger.warning("take-over abandoned: \(describeNetworkError(error)); this one serves on", metadata: ["pid": "\(pid)"])
            return false
        }
        // Paused, not closed: until the new process says it accepts, this one can take everything back.
        await server.pauseAccepting()
        await admin?.pauseAccepting()
        let accepting: Bool
        do {
            try await connection.send(.released)
            accepting = try await connection.receive(milliseconds: 30_000)?.0 == .accepting
        } catch {
            accepting = false
        }
        guard accepting else {
            await server.resumeAccepting()
            await admin?.resumeAccepting()
            logger.warning("take-over abandoned: the new Latch went away before accepting; this one accepts again and serves on", metadata: ["pid": "\(pid)"])
            return false
        }
        server.handOver()
        await server.stopAccepting()
        await admin?.stop()
        // The path is given up before the connection closes: the new process listens on it then.
        close(listener)
        unlink(path)
        logger.notice("handed over to the new Latch; finishing the exchanges in flight, then exiting", metadata: ["pid": "\(pid)"])
        return true
    }
}

/// Opens once every one of `count` parties has arrived (the proxy's and the admin's listeners serve).
public final class StartupBarrier: Sendable {
    private let state: NIOLockedValueBox<(left: Int, cancelled: Bool, waiting: [CheckedContinuation<Void, Never>])>

    public init(count: Int) {
        state = NIOLockedValueBox((count, false, []))
    }

    public func arrive() {
        let resumed = state.withLockedValue { state -> [CheckedContinuation<Void, Never>] in
            state.left -= 1
            guard state.left <= 0 else { return [] }
            defer { state.waiting = [] }
            return state.waiting
        }
        resumed.forEach { $0.resume() }
    }

    /// True once open; false when the task was cancelled first (a service failed to start).
    public func wait() async -> Bool {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let open = state.withLockedValue { state -> Bool in
                    if state.left <= 0 || state.cancelled { return true }
                    state.waiting.append(continuation)
                    return false
                }
                if open { continuation.resume() }
            }
            return state.withLockedValue { $0.left <= 0 }
        } onCancel: {
            let resumed = state.withLockedValue { state -> [CheckedContinuation<Void, Never>] in
                state.cancelled = true
                defer { state.waiting = [] }
                return state.waiting
            }
            resumed.forEach { $0.resume() }
        }
    }
}
