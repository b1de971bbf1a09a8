import LatchProxy
import Logging
import ServiceLifecycle
import UnixSignals

/// SIGHUP re-reads lb.yaml, as nginx and HAProxy operators expect.
struct ReloadOnSignal: Service {
    let reloader: Reloader

    func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        for await _ in signals.cancelOnGracefulShutdown() {
            let outcome = await reloader.reload()
            reloader.logger.notice("SIGHUP: \(outcome.message)")
        }
    }
}
