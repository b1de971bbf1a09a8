#if os(Linux)
import Glibc
import LatchCore
import NIOCore

/// The control socket's plumbing, in plain blocking POSIX calls (a take-over is a few messages, once
/// per upgrade; SwiftNIO cannot pass descriptors over a unix stream socket): listen, connect, accept
/// with a timeout, and messages that carry descriptors (SCM_RIGHTS, unix(7)). Linux only: peer
/// credentials, `MSG_NOSIGNAL` and `SOCK_CLOEXEC` are spelt otherwise elsewhere, and Latch is
/// installed and upgraded on Linux.
enum UnixSocket {
    /// How a connect to a control socket failed.
    enum ConnectFailure: Error {
        /// No socket file, or nothing accepts on it (a Latch that stopped left it behind).
        case nobodyThere
        case failed(IOError)
    }

    static func connectTo(_ path: String) throws(ConnectFailure) -> CInt {
        let descriptor = socket(AF_UNIX, streamType, 0)
        guard descriptor >= 0 else { throw .failed(IOError(errnoCode: errno, reason: "socket")) }
        let result = withAddress(path) { address, length in connect(descriptor, address, length) }
        guard result == 0 else {
            let code = errno
            close(descriptor)
            if code == ENOENT || code == ECONNREFUSED { throw .nobodyThere }
            throw .failed(IOError(errnoCode: code, reason: "connect"))
        }
        return descriptor
    }

    /// Listens on `path`, readable and writable by this user only. A socket file left by a Latch that
    /// is gone is replaced; one a live process accepts on is not (`EADDRINUSE`), nor is a file that
    /// is not a socket (`EEXIST`).
    static func listenAt(_ path: String) throws -> CInt {
        var status = stat()
        if lstat(path, &status) == 0 {
            guard status.st_mode & S_IFMT == S_IFSOCK else { throw IOError(errnoCode: EEXIST, reason: "\(path) exists and is not a socket") }
            if let live = try? connectTo(path) {
                close(live)
                throw IOError(errnoCode: EADDRINUSE, reason: "another process listens on \(path)")
            }
            unlink(path)
        }
        let descriptor = socket(AF_UNIX, streamType, 0)
        guard descriptor >= 0 else { throw IOError(errnoCode: errno, reason: "socket") }
        // The mode is set before `listen`: nobody can connect before it is the user's alone.
        let bound = withAddress(path) { address, length in bind(descriptor, address, length) }
        guard bound == 0, chmod(path, 0o600) == 0, listen(descriptor, 8) == 0 else {
            let code = errno
            close(descriptor)
            throw IOError(errnoCode: code, reason: "bind")
        }
        return descriptor
    }

    /// The next connection, or `nil` when none came within `milliseconds`.
    static func acceptNext(_ listener: CInt, milliseconds: Int32) throws -> CInt? {
        guard try waitReadable(listener, milliseconds: milliseconds) else { return nil }
        let descriptor = accept(listener, nil, nil)
        guard descriptor >= 0 else {
            if errno == EAGAIN || errno == EINTR || errno == ECONNABORTED { return nil }
            throw IOError(errnoCode: errno, reason: "accept")
        }
        // Not inherited by anything Latch might run.
        _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC)
        return descriptor
    }

    /// The process at the other end and its user (`SO_PEERCRED`).
    static func peerCredentials(_ descriptor: CInt) -> (pid: Int32, uid: uid_t)? {
        // `struct ucred { pid_t pid; uid_t uid; gid_t gid; }` and `SO_PEERCRED` (17) are behind
        // _GNU_SOURCE, which Swift's Glibc module does not define (socket(7)).
        var credentials: (pid: Int32, uid: UInt32, gid: UInt32) = (0, 0, 0)
        var length = socklen_t(MemoryLayout<(Int32, UInt32, UInt32)>.size)
        let peerCredentials: Int32 = 17
        guard getsockopt(descriptor, SOL_SOCKET, peerCredentials, &credentials, &length) == 0 else { return nil }
        return (credentials.pid, credentials.uid)
    }

    /// Sends `message`, with `descriptors` riding along its first byte.
    static func send(_ descriptor: CInt, _ message: TakeOverMessage, descriptors: [CInt] = []) throws {
        var bytes = Array(message.text.utf8)
        let controlLength = descriptors.isEmpty ? 0 : space(descriptors.count * MemoryLayout<CInt>.size)
        var control = [UInt8](repeating: 0, count: controlLength)
        var sent = 0
        while sent < bytes.count {
            let result = bytes.withUnsafeMutableBytes { raw -> Int in
                var vector = iovec(iov_base: raw.baseAddress! + sent, iov_len: raw.count - sent)
                return control.withUnsafeMutableBytes { controlRaw -> Int in
                    withUnsafeMutablePointer(to: &vector) { vectorPointer in
                        var header = msghdr()
                        header.msg_iov = vectorPointer
                        header.msg_iovlen = 1
                        if sent == 0, !descriptors.isEmpty {
                            writeRights(descriptors, into: controlRaw)
                            header.msg_control = controlRaw.baseAddress
                            header.msg_controllen = controlRaw.count
                        }
                        return sendmsg(descriptor, &header, Int32(MSG_NOSIGNAL))
                    }
                }
            }
            if result < 0 {
                if errno == EINTR { continue }
                throw IOError(errnoCode: errno, reason: "sendmsg")
            }
            sent += result
        }
    }

    /// Reads until one whole message has come (or `milliseconds` pass: `nil`), with the descriptors
    /// that came beside it. `pending` keeps bytes read past the message for the next call.
    static func receive(_ descriptor: CInt, milliseconds: Int32, pending: inout [UInt8]) throws -> (TakeOverMessage, [CInt])? {
        var received: [CInt] = []
        var deadline = milliseconds
        while true {
            let whole: (TakeOverMessage, length: Int)?
            do {
                whole = try TakeOverMessage.first(in: pending)
            } catch {
                received.forEach { close($0) }
                throw error
            }
            if let (message, length) = whole {
                pending.removeFirst(length)
                return (message, received)
            }
            let started = monotonicMilliseconds()
            guard deadline > 0, try waitReadable(descriptor, milliseconds: deadline) else {
                received.forEach { close($0) }
                return nil
            }
            deadline -= Int32(clamping: monotonicMilliseconds() - started)
            var buffer = [UInt8](repeating: 0, count: 4096)
            var control = [UInt8](repeating: 0, count: space(253 * MemoryLayout<CInt>.size))
            let count = buffer.withUnsafeMutableBytes { raw in
                control.withUnsafeMutableBytes { controlRaw -> Int in
                    var vector = iovec(iov_base: raw.baseAddress, iov_len: raw.count)
                    return withUnsafeMutablePointer(to: &vector) { vectorPointer in
                        var header = msghdr()
                        header.msg_iov = vectorPointer
                        header.msg_iovlen = 1
                        header.msg_control = controlRaw.baseAddress
                        header.msg_controllen = controlRaw.count
                        let count = recvmsg(descriptor, &header, Int32(MSG_CMSG_CLOEXEC))
                        if count >= 0 { received += readRights(controlRaw, length: Int(header.msg_controllen)) }
                        return count
                    }
                }
            }
            if count < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                let code = errno
                received.forEach { close($0) }
                throw IOError(errnoCode: code, reason: "recvmsg")
            }
            if count == 0 {
                received.forEach { close($0) }
                return nil
            }
            pending += buffer.prefix(count)
        }
    }

    // MARK: - Details

    private static var streamType: Int32 {
        Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
    }

    private static func withAddress<T>(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> T) -> T {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8.prefix(ControlSocketConfig.longestPath))
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
        }
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
    }

    private static func waitReadable(_ descriptor: CInt, milliseconds: Int32) throws -> Bool {
        let deadline = monotonicMilliseconds() + Int64(milliseconds)
        while true {
            var entry = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            let left = Int32(clamping: max(0, deadline - monotonicMilliseconds()))
            let result = poll(&entry, 1, left)
            if result >= 0 { return result > 0 }
            // A signal (SIGHUP for a reload) is not the peer's silence: wait out the rest.
            guard errno == EINTR else { throw IOError(errnoCode: errno, reason: "poll") }
        }
    }

    private static func monotonicMilliseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
    }

    /// `cmsghdr` is `{ size_t len; int level; int type; }` followed by the data, each aligned to `size_t`.
    private static let headerLength = MemoryLayout<cmsghdr>.size

    private static func align(_ length: Int) -> Int {
        let word = MemoryLayout<Int>.size
        return (length + word - 1) & ~(word - 1)
    }

    /// `CMSG_SPACE`.
    private static func space(_ dataLength: Int) -> Int { align(headerLength) + align(dataLength) }

    private static func writeRights(_ descriptors: [CInt], into control: UnsafeMutableRawBufferPointer) {
        var header = cmsghdr()
        header.cmsg_len = align(headerLength) + descriptors.count * MemoryLayout<CInt>.size
        header.cmsg_level = SOL_SOCKET
        header.cmsg_type = Int32(SCM_RIGHTS)
        control.storeBytes(of: header, as: cmsghdr.self)
        for (index, descriptor) in descriptors.enumerated() {
            control.storeBytes(of: descriptor, toByteOffset: align(headerLength) + index * MemoryLayout<CInt>.size, as: CInt.self)
        }
    }

    private static func readRights(_ control: UnsafeMutableRawBufferPointer, length: Int) -> [CInt] {
        var descriptors: [CInt] = []
        var offset = 0
        while offset + headerLength <= length {
            let header = control.loadUnaligned(fromByteOffset: offset, as: cmsghdr.self)
            let total = Int(header.cmsg_len)
            guard total >= headerLength, offset + total <= length else { break }
            if header.cmsg_level == SOL_SOCKET, header.cmsg_type == Int32(SCM_RIGHTS) {
                let count = (total - align(headerLength)) / MemoryLayout<CInt>.size
                for index in 0..<count {
                    descriptors.append(control.loadUnaligned(fromByteOffset: offset + align(headerLength) + index * MemoryLayout<CInt>.size, as: CInt.self))
                }
            }
            offset += align(total)
        }
        return descriptors
    }
}

#else
import LatchCore
import NIOCore

/// Descriptor passing and peer credentials are written for Linux, where Latch is installed and
/// upgraded: elsewhere the control socket is not offered, and `--take-over` says so.
enum UnixSocket {
    enum ConnectFailure: Error {
        case nobodyThere
        case failed(IOError)
    }

    private static var unsupported: IOError { IOError(errnoCode: ENOTSUP, reason: "the control socket is available on Linux only") }

    static func connectTo(_ path: String) throws(ConnectFailure) -> CInt { throw .failed(unsupported) }
    static func listenAt(_ path: String) throws -> CInt { throw unsupported }
    static func acceptNext(_ listener: CInt, milliseconds: Int32) throws -> CInt? { throw unsupported }
    static func peerCredentials(_ descriptor: CInt) -> (pid: Int32, uid: uid_t)? { nil }
    static func send(_ descriptor: CInt, _ message: TakeOverMessage, descriptors: [CInt] = []) throws { throw unsupported }
    static func receive(_ descriptor: CInt, milliseconds: Int32, pending: inout [UInt8]) throws -> (TakeOverMessage, [CInt])? { throw unsupported }
}
#endif
