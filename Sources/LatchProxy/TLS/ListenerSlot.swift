import Foundation
import LatchCore
import Logging
import NIOConcurrencyHelpers
import NIOSSL

/// One bound listening socket and what it does with each new connection: plain HTTP, a redirect to
/// https, or TLS with the certificates in force. The socket stays bound across reloads; what is in
/// the slot is replaced, so a new connection gets the new setting and an open one keeps its own.
///
/// For TLS it also watches the certificate and key files (`tls.watch`): a renewed certificate is
/// served from the next handshake on. A change that does not load (certbot writing the certificate
/// before the key, a typo in a hand edit) is logged once and the certificates in force stay.
final class ListenerSlot: Sendable {
    let address: HostPort
    private let logger: Logger
    private let state: NIOLockedValueBox<State>

    private struct State {
        var config: ListenerConfig
        var tls: TLSMaterial?
        /// The files as they were at the last failed load, so one bad change is reported once.
        var failedStamps: [FileStamp]?
        var watcher: Task<Void, Never>?
    }

    /// What a new connection on this listener gets.
    enum Mode {
        case plain(redirectToHTTPS: Int?)
        case tls(NIOSSLContext)
    }

    init(config: ListenerConfig, tls: TLSMaterial?, logger: Logger) {
        self.address = config.address
        self.logger = logger
        self.state = NIOLockedValueBox(State(config: config, tls: tls))
        restartWatcher()
    }

    /// The certificates this listener serves now (none for a plain one).
    var certificates: [(name: String, notAfter: Date)] {
        state.withLockedValue { state in
            (state.tls?.certificates ?? []).map { ($0.names.first ?? $0.files.certificate, $0.notValidAfter) }
        }
    }

    /// What a new connection gets, and which peers must start it with a PROXY protocol header.
    var setting: (mode: Mode, proxyProtocol: ProxyProtocolPolicy?) {
        state.withLockedValue { state in
            let proxyProtocol = state.config.proxyProtocol
            if let tls = state.tls { return (.tls(tls.context), proxyProtocol) }
            return (.plain(redirectToHTTPS: state.config.redirectToHTTPS), proxyProtocol)
        }
    }

    /// A reload: the new setting (its TLS material already loaded and checked) from now on.
    func replace(config: ListenerConfig, tls: TLSMaterial?) {
        state.withLockedValue { state in
            state.config = config
            state.tls = tls
            state.failedStamps = nil
        }
        restartWatcher()
    }

    func stop() {
        state.withLockedValue { state in
            state.watcher?.cancel()
            state.watcher = nil
        }
    }

    private func restartWatcher() {
        let interval = state.withLockedValue { $0.tls?.config.watchInterval }
        let task = interval.map { interval in
            Task { [weak self] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: interval)
                    guard !Task.isCancelled, let self else { return }
                    self.reloadChangedFiles()
                }
            }
        }
        state.withLockedValue { state in
            state.watcher?.cancel()
            state.watcher = task
        }
    }

    /// One watch tick: loads the files again if any changed since they were last read.
    func reloadChangedFiles() {
        guard let current = state.withLockedValue({ $0.tls }), current.filesChanged else { return }
        let stamps = current.config.certificates.flatMap { [FileStamp(path: $0.certificate), FileStamp(path: $0.key)] }
        if state.withLockedValue({ $0.failedStamps }) == stamps { return }
        do {
            let fresh = try TLSMaterial.load(current.config)
            state.withLockedValue { state in
                // A reload in between installed newer settings: those win.
                guard state.tls?.context === current.context else { return }
                state.tls = fresh
                state.failedStamps = nil
            }
            logger.notice("TLS certificates reloaded after a file change", metadata: [
                "listener": "\(address)",
                "certificates": "\(fresh.certificates.map { $0.names.first ?? $0.files.certificate })",
            ])
            for warning in fresh.expiryWarnings() { logger.warning("\(warning)", metadata: ["listener": "\(address)"]) }
        } catch {
            state.withLockedValue { $0.failedStamps = stamps }
            logger.error("TLS files changed but do not load; the certificates in force stay: \(error.description)",
                         metadata: ["listener": "\(address)"])
        }
    }
}
