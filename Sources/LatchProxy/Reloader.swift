import LatchCore
import Logging

/// Re-reads lb.yaml and applies it: the one path SIGHUP, `latch reload` (through the admin API) and
/// tests share. A bad file is rejected with the same located error as `latch check`, and the running
/// configuration stays.
public struct Reloader: Sendable {
    public let server: ProxyServer
    public let path: String
    public let logger: Logger

    public init(server: ProxyServer, path: String, logger: Logger) {
        self.server = server
        self.path = path
        self.logger = logger
    }

    public struct Outcome: Sendable, Equatable {
        public var applied: Bool
        /// `configuration reloaded` (with warnings), or why the file was rejected.
        public var message: String
    }

    public func reload() async -> Outcome {
        SystemdNotify.send("RELOADING=1\nSTATUS=reloading \(path)")
        // Whatever the outcome, Latch serves again (on the new configuration or the one it kept).
        defer { SystemdNotify.send("READY=1\nSTATUS=serving") }
        let config: LatchConfig
        do {
            config = try ConfigLoader.load(path: path)
        } catch {
            logger.error("reload rejected, running configuration kept: \(error.everyError)")
            server.metrics.reloaded(false)
            return Outcome(applied: false, message: "rejected: \(error.everyError)")
        }
        do {
            let warnings = try await server.reload(config)
            for warning in warnings { logger.warning("reload: \(warning)") }
            server.metrics.reloaded(true)
            return Outcome(applied: true, message: (["configuration reloaded from \(path)"] + warnings).joined(separator: "; "))
        } catch let error as ConfigError {
            // A certificate or key named by the file does not load: as much the file's fault as a typo.
            logger.error("reload rejected, running configuration kept: \(error.everyError)")
            server.metrics.reloaded(false)
            return Outcome(applied: false, message: "rejected: \(error.everyError)")
        } catch {
            logger.error("reload failed, running configuration kept: \(error)")
            server.metrics.reloaded(false)
            return Outcome(applied: false, message: "failed: \(error)")
        }
    }
}
