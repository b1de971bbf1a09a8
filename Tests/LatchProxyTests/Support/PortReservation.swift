import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Holds a loopback TCP port without listening on it: connections to it are refused (RST), and no
/// other socket can take it by binding port 0, since the kernel skips ports that are bound. With
/// `SO_REUSEPORT` on both, a test server can listen on the same port while it is held, so a node can
/// be stopped and brought back on its own address while tests run in parallel.
final class PortReservation: Sendable {
    private let fd: Int32
    /// The port held.
    let port: Int

    /// The option a test server's listener needs to share its port with a reservation.
    static let sharedPortOption = ChannelOptions.socketOption(NIOBSDSocket.Option(rawValue: SO_REUSEPORT))

    struct Failed: Error, CustomStringConvertible {
        let call: String
        let errno: Int32
        var description: String { "\(call) failed: errno \(errno)" }
    }

    /// `port` 0: any free port, which ``port`` then names.
    init(port: Int = 0) throws {
        #if canImport(Glibc)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw Failed(call: "socket", errno: errno) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else {
            let error = errno
            close(fd)
            throw Failed(call: "bind 127.0.0.1:\(port)", errno: error)
        }
        var local = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else {
            let error = errno
            close(fd)
            throw Failed(call: "getsockname", errno: error)
        }
        self.fd = fd
        self.port = Int(UInt16(bigEndian: local.sin_port))
    }

    deinit {
        close(fd)
    }
}
