#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
import Foundation
#endif
import LatchCore
import Logging

/// SIGUSR2: start the `latch` binary now at this one's path — a new version unpacked over it — as
/// `latch run --config <the same file> --take-over`, with this process's environment, so it takes the
/// listening sockets over (``RunCommand``). Under systemd the new process is in the service's own
/// cgroup and, once it has taken over, names itself the main process (`MAINPID=`, which the unit's
/// `NotifyAccess=all` allows): `systemctl kill -s USR2 --kill-whom=main latch` upgrades in place.
struct Upgrade: Sendable {
    /// This binary's path as started (`/proc/self/exe` would name the replaced file, "(deleted)").
    let executable: String
    let configPath: String

    /// The running binary's path, read at start, before an upgrade can replace the file.
    static func currentExecutable() -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard count > 0 else { return CommandLine.arguments[0] }
        return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Starts it with this process's standard output and error (where its log goes) and no input.
    /// Waited for on a thread of its own: a new Latch that gives up (this one then serves on) is
    /// reaped, not left a zombie, and how it ended is logged.
    func start(logger: Logger) {
        #if canImport(Glibc)
        do {
            let child = try Spawn.start(executable, ["run", "--config", configPath, "--take-over"], standardInput: .null)
            let pid = child.pid
            logger.notice("SIGUSR2: started a new Latch to take this one over", metadata: ["executable": "\(executable)", "pid": "\(pid)"])
            child.waitInBackground { termination in
                logger.notice("SIGUSR2: the new Latch \(termination)", metadata: ["pid": "\(pid)"])
            }
        } catch {
            logger.error("SIGUSR2: \(error)")
        }
        #else
        // Spawn is written for glibc; elsewhere Foundation's Process starts it (the crash Spawn
        // avoids, swift-corelibs-foundation #5472, is in the Linux Foundation only).
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["run", "--config", configPath, "--take-over"]
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
            logger.notice(
                "SIGUSR2: started a new Latch to take this one over", metadata: ["executable": "\(executable)", "pid": "\(process.processIdentifier)"])
        } catch {
            logger.error("SIGUSR2: cannot start \(executable): \(error)")
        }
        #endif
    }
}
