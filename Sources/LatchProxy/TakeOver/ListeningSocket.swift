#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import LatchCore
import NIOCore
import NIOPosix

/// A listening TCP socket Latch opens itself and then hands to SwiftNIO, so that it knows the
/// descriptor: a take-over passes it to the next Latch process (``ControlSocket``), which serves on
/// the very same socket — the kernel's accept queue never closes, so no connection is refused.
enum ListeningSocket {
    /// The backlog Latch's listeners use (HAProxy's default `maxconn`-derived backlogs are larger
    /// than the kernel's 128 default; 1024 absorbs bursts of new connections).
    static let backlog: Int32 = 1024

    /// Opens, binds and listens on `address` (a host name resolves to its first address, as
    /// SwiftNIO's `bind(host:port:)` does). Throws an `IOError` saying which call failed.
    static func open(_ address: HostPort) throws -> NIOBSDSocket.Handle {
        let resolved = try SocketAddress.makeAddressResolvingHost(address.host, port: address.port)
        let family = resolved.protocol == .inet6 ? AF_INET6 : AF_INET
        #if canImport(Glibc)
        let descriptor = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        #else
        let descriptor = socket(family, SOCK_STREAM, 0)
        #endif
        guard descriptor >= 0 else { throw IOError(errnoCode: errno, reason: "socket") }
        var on: Int32 = 1
        // A restart may bind while the old process's connections are in TIME_WAIT.
        guard setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
            let code = errno
            close(descriptor)
            throw IOError(errnoCode: code, reason: "setsockopt")
        }
        let bound = resolved.withSockAddr { pointer, size in bind(descriptor, pointer, socklen_t(size)) }
        guard bound == 0 else {
            let code = errno
            close(descriptor)
            throw IOError(errnoCode: code, reason: "bind")
        }
        guard listen(descriptor, backlog) == 0 else {
            let code = errno
            close(descriptor)
            throw IOError(errnoCode: code, reason: "listen")
        }
        return descriptor
    }

    /// Serves `bootstrap` on `descriptor` (opened here or received from another Latch). SwiftNIO
    /// calls `listen` again with its default backlog of 128; it is set back to ``backlog`` after.
    static func serve(_ bootstrap: ServerBootstrap, on descriptor: NIOBSDSocket.Handle) async throws -> any Channel {
        let channel = try await bootstrap.withBoundSocket(descriptor).get()
        _ = listen(descriptor, backlog)
        return channel
    }

    /// Whether `descriptor` is a listening TCP socket (a received descriptor is checked before use).
    static func isListening(_ descriptor: NIOBSDSocket.Handle) -> Bool {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        return getsockopt(descriptor, SOL_SOCKET, SO_ACCEPTCONN, &value, &length) == 0 && value == 1
    }
}
