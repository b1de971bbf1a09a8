#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import LatchCore
import NIOCore

/// The new process's side of a take-over (`latch run --take-over`): before it serves, it asks the
/// Latch running with the same lb.yaml for its listening sockets; once it is set up on them (not yet
/// accepting), it says READY, the old process pauses accepting and says RELEASED, the new one starts
/// accepting and says ACCEPTING, and only then does the old one let go (``ControlService``). Never do
/// both accept on a socket: in between, new connections wait in the socket's accept queue, which
/// neither process closes.
public final class TakeOverClient: Sendable {
    private let connection: ControlConnection
    /// The old process's pid, for the log.
    public let oldPID: Int32
    /// Per `listen` entry of the new configuration: the socket to serve on (`nil`: bind afresh).
    public let listeners: [NIOBSDSocket.Handle?]
    /// The admin listener's socket, if the old process had one at the same address.
    public let admin: NIOBSDSocket.Handle?

    /// Why a take-over could not begin or complete; the running Latch is left as it was.
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    private init(connection: ControlConnection, oldPID: Int32, listeners: [NIOBSDSocket.Handle?], admin: NIOBSDSocket.Handle?) {
        self.connection = connection
        self.oldPID = oldPID
        self.listeners = listeners
        self.admin = admin
    }

    /// Asks the Latch on `path` for its sockets. `nil`: no Latch answers there (no socket file, or
    /// one left by a Latch that is gone), so there is nothing to take over.
    /// - Parameter configPath: this process's lb.yaml, resolved: the old one hands over only to a
    ///   process running the same file.
    public static func request(path: String, configPath: String, config: LatchConfig) async throws(Failure) -> TakeOverClient? {
        let descriptor: CInt
        do {
            descriptor = try UnixSocket.connectTo(path)
        } catch {
            switch error {
            case .nobodyThere: return nil
            case .failed(let error): throw Failure(description: "cannot reach the running Latch on \(path): \(describeNetworkError(error))")
            }
        }
        let connection = ControlConnection(descriptor: descriptor)
        do {
            try await connection.send(.request(configPath: configPath))
            guard let (answer, descriptors) = try await connection.receive(milliseconds: 10_000) else {
                connection.close()
                throw Failure(description: "the Latch on \(path) did not answer the take-over request within 10 s")
            }
            switch answer {
            case .listeners(let pid, let sockets):
                guard descriptors.count == sockets.count, descriptors.allSatisfy(ListeningSocket.isListening) else {
                    descriptors.forEach { _ = close($0) }
                    connection.close()
                    throw Failure(description: "the Latch on \(path) (pid \(pid)) sent \(descriptors.count) sockets for \(sockets.count) listeners, or one that is not listening")
                }
                let assignment = TakeOverAssignment(received: sockets, listeners: config.listeners.map(\.address), admin: config.admin?.address)
                for index in assignment.unused { _ = close(descriptors[index]) }
                return TakeOverClient(
                    connection: connection, oldPID: pid,
                    listeners: assignment.listeners.map { $0.map { descriptors[$0] } },
                    admin: assignment.admin.map { descriptors[$0] })
            case .refused(let why):
                descriptors.forEach { _ = close($0) }
                connection.close()
                throw Failure(description: "the Latch on \(path) refused the take-over: \(why)")
            default:
                descriptors.forEach { _ = close($0) }
                connection.close()
                throw Failure(description: "the Latch on \(path) answered the take-over request with \(answer.text.split(separator: "\n").first ?? "")")
            }
        } catch let failure as Failure {
            throw failure
        } catch {
            connection.close()
            throw Failure(description: "take-over over \(path) failed: \(describeNetworkError(error))")
        }
    }

    /// What the old process answered READY with.
    public enum Release: Equatable, Sendable {
        /// It paused accepting: this process accepts now, then says so (``accepting()``).
        case released
        /// It went away without a word (it is not running any more): the sockets are this one's.
        case previousGone
        /// It gave up the take-over, or went silent while still running: it serves on, and this
        /// process must not accept beside it.
        case refused(String)
    }

    /// Tells the old process this one is set up on its sockets; waits for it to pause accepting.
    public func ready() async -> Release {
        do {
            try await connection.send(.ready)
            if let (answer, stray) = try await connection.receive(milliseconds: 30_000) {
                stray.forEach { _ = close($0) }
                switch answer {
                case .released: return .released
                case .refused(let why): return .refused(why)
                default: return .refused("it answered READY with \(answer.text.split(separator: "\n").first ?? "")")
                }
            }
        } catch {}
        // Silence or a broken connection: whether the sockets are free depends on whether it still runs.
        if kill(oldPID, 0) != 0, errno == ESRCH { return .previousGone }
        return .refused("it did not answer within 30 s and still runs (pid \(oldPID))")
    }

    /// Tells the old process this one accepts now, and waits (up to 10 s) for it to close the
    /// connection: by then it has given up the control socket's path, for this one to listen on.
    public func accepting() async {
        defer { connection.close() }
        try? await connection.send(.accepting)
        if let (_, stray) = try? await connection.receive(milliseconds: 10_000) { stray.forEach { _ = close($0) } }
    }

    /// This process will not take over after all (its start-up failed): the old one serves on.
    public func abandon() {
        connection.close()
    }
}
