#if canImport(Glibc)
import Glibc
#endif
import Foundation
import LatchCore
import Testing

@testable import LatchProxy

/// systemd's notification protocol as `latch run` speaks it under `Type=notify`: a real unix datagram
/// socket stands for systemd's, named in `NOTIFY_SOCKET`.
@Suite("systemd notifications", .timeLimit(.minutes(1)))
struct SystemdNotifyTests {
    /// A bound unix datagram socket that reads what is sent to it, each read waiting at most 10 s.
    final class NotifySocket {
        let fd: Int32
        let path: String

        init(abstract: Bool = false) throws {
            path = abstract ? "@latch-notify-\(UUID().uuidString)" : NSTemporaryDirectory() + "latch-notify-\(UUID().uuidString).sock"
            fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            var name = Array(path.utf8)
            if abstract { name[0] = 0 }
            withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: name) }
            let length = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + name.count)
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
            }
            guard bound == 0 else { throw POSIXError(.EADDRINUSE) }
            var timeout = timeval(tv_sec: 10, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        }

        deinit {
            close(fd)
            if !path.hasPrefix("@") { unlink(path) }
        }

        /// The next datagram, or nil after 10 s.
        func next() -> String? {
            var buffer = [UInt8](repeating: 0, count: 4096)
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            return count > 0 ? String(decoding: buffer[..<count], as: UTF8.self) : nil
        }
    }

    @Test("a datagram reaches a socket named by path and one in the abstract namespace; nothing without a socket")
    func send() throws {
        for abstract in [false, true] {
            let socket = try NotifySocket(abstract: abstract)
            #expect(SystemdNotify.send("READY=1", to: socket.path))
            #expect(socket.next() == "READY=1")
        }
        #expect(!SystemdNotify.send("READY=1", to: "relative/path"))
        #expect(!SystemdNotify.send("READY=1", to: ""))
    }

    @Test("latch run says READY=1 once listening, RELOADING=1 then READY=1 around a SIGHUP reload, STOPPING=1 on SIGTERM")
    func lifecycle() throws {
        let socket = try NotifySocket()
        let path = try CLITests.minimalConfig()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let process = try Spawn.start(
            CLITests.latchBinary.path, ["run", "--config", path], environment: CLITests.withEnvironment(["NOTIFY_SOCKET": socket.path]),
            standardOutput: .null, standardError: .null)
        defer {
            process.terminate()
            process.wait()
        }

        let ready = try #require(socket.next())
        #expect(ready.split(separator: "\n").contains("READY=1"), "\(ready)")
        process.terminate(signal: SIGHUP)
        let reloading = try #require(socket.next())
        #expect(reloading.split(separator: "\n").contains("RELOADING=1"), "\(reloading)")
        let readyAgain = try #require(socket.next())
        #expect(readyAgain.split(separator: "\n").contains("READY=1"), "\(readyAgain)")
        process.terminate()
        let stopping = try #require(socket.next())
        #expect(stopping.split(separator: "\n").contains("STOPPING=1"), "\(stopping)")
        #expect(process.wait() == .exited(0))
    }
}
