#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import LatchProxy
import Logging
import ServiceLifecycle
import UnixSignals

/// The signals operators expect from nginx and HAProxy: SIGHUP re-reads lb.yaml, SIGUSR1 reopens the
/// access log file after logrotate moved it, SIGUSR2 starts the binary now on disk to take this
/// Latch over (``Upgrade``). (SIGTERM and SIGINT belong to the ServiceGroup.)
///
/// The signals are trapped when this is made, before the balancer starts: systemd may send SIGHUP as
/// soon as Latch says READY=1, and an untrapped SIGHUP would end the process.
struct SignalActions: Service {
    let reloader: Reloader
    let upgrade: Upgrade?
    let signals: UnixSignalsSequence

    /// - Parameter upgrade: what SIGUSR2 starts; `nil` (no control socket): SIGUSR2 is refused in the log.
    init(reloader: Reloader, upgrade: Upgrade?) async {
        self.reloader = reloader
        self.upgrade = upgrade
        signals = await UnixSignalsSequence(trapping: .sighup, .sigusr1, .sigusr2)
    }

    func run() async throws {
        for await signal in signals.cancelOnGracefulShutdown() {
            switch signal {
            case .sighup:
                let outcome = await reloader.reload()
                reloader.logger.notice("SIGHUP: \(outcome.message)")
            case .sigusr1:
                reloader.server.reopenAccessLog()
                reloader.logger.notice("SIGUSR1: access log reopened")
            case .sigusr2:
                guard let upgrade else {
                    reloader.logger.error("SIGUSR2: no control socket (control_socket), so no new Latch can take this one over")
                    continue
                }
                upgrade.start(logger: reloader.logger)
            default:
                break
            }
        }
    }

    /// A closed standard output (`latch run | head`) must show up as write errors, not kill the process.
    static func ignoreSIGPIPE() {
        signal(SIGPIPE, SIG_IGN)
    }
}
