#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// systemd's service notification protocol (sd_notify(3)) without libsystemd: a datagram of
/// `KEY=VALUE` lines to the unix socket systemd names in `$NOTIFY_SOCKET`. With `Type=notify`, systemd
/// counts Latch as started at `READY=1` (its listeners are bound, so `systemctl start` returns only
/// once it accepts connections), as reloading between `RELOADING=1` and the next `READY=1`, and as
/// stopping from `STOPPING=1`. Without `$NOTIFY_SOCKET` (not started by systemd) nothing is sent.
public enum SystemdNotify {
    /// Sends `state` to `$NOTIFY_SOCKET`; returns whether a datagram went out.
    @discardableResult
    public static func send(_ state: String) -> Bool {
        guard let path = getenv("NOTIFY_SOCKET") else { return false }
        return send(state, to: String(cString: path))
    }

    /// Sends `state` to the socket at `path`: a file system path, or `@name` for the abstract namespace.
    @discardableResult
    static func send(_ state: String, to path: String) -> Bool {
        var name = Array(path.utf8)
        guard let first = name.first, first == UInt8(ascii: "/") || first == UInt8(ascii: "@") else { return false }
        // An abstract socket's name starts with a NUL where the text has `@` (unix(7)).
        if first == UInt8(ascii: "@") { name[0] = 0 }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let room = MemoryLayout.size(ofValue: address.sun_path)
        guard name.count < room else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: name) }
        #if canImport(Glibc)
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        #else
        let fd = socket(AF_UNIX, SOCK_DGRAM, 0)
        #endif
        guard fd >= 0 else { return false }
        defer { close(fd) }
        let length = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + name.count)
        let bytes = Array(state.utf8)
        let sent = bytes.withUnsafeBytes { payload in
            withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, payload.baseAddress, payload.count, Int32(MSG_NOSIGNAL), $0, length)
                }
            }
        }
        return sent == bytes.count
    }
}
