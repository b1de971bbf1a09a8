#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import LatchCore
import NIOCore

/// The new process's side of a take-over (`latch run --take-over`): before it serves, it asks the
/// Latch running with the same lb.yaml for its listening sockets; once it is set up on them, it says
/// so, the old process stops accepting (and finishes what it has in flight), and the new one starts
/// accepting. Never do both accept on a socket: in between, new connections wait in the socket's
/// accept queue, which neither process closes.
public final class TakeOverClient: Sendable {
    private let connection: ControlConnection
    /// The old process's pid, for the log.
    public let oldPID: Int32
    /// Per `listen` entry of the new configuration: the socket to serve on (`nil`: bind afresh).
    public let listeners: [NIOBSDSocket.Handle?]
    /// The admin listener's socket, if the old process had one at the same address.
    public let admin: NIOBSDSocket.Handle?

    /// Why a take-over could not begin; the running Latch is left as it was.
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
            descriptor = try UnixSocket.connect(path)
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
                connection.close()
                throw Failure(description: "the Latch on \(path) refused the take-over: \(why)")
            default:
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

    /// Tells the old process this one is set up on its sockets, and waits for it to stop accepting.
    /// True when it did (it answered `RELEASED`); false when it went away without saying so.
    public func ready() async -> Bool {
        defer { connection.close() }
        do {
            try await connection.send(.ready)
            guard case .released? = try await connection.receive(milliseconds: 30_000)?.0 else { return false }
            return true
        } catch {
            return false
        }
    }
}
