import LatchCore
import Logging
import NIOEmbedded

@testable import LatchProxy

extension RuntimeHolder {
    /// The runtime of handlers tested on an `EmbeddedChannel` (`loop` is its event loop): `config`
    /// as given, logging nothing and writing no access log.
    static func embedded(_ config: LatchConfig, on loop: EmbeddedEventLoop) throws -> RuntimeHolder {
        var logger = Logger(label: "latch-test")
        logger.logLevel = .critical
        return RuntimeHolder(ProxyRuntime(
            config: config,
            group: loop,
            logger: logger,
            accessLog: AccessLog(format: .logfmt, writer: try AccessLogWriter(path: nil), gate: logger),
            metrics: LatchMetrics()
        ))
    }
}
