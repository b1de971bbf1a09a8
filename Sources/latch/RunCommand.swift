import ArgumentParser
import Foundation
import LatchCore
import LatchProxy
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the balancer with the given configuration until SIGTERM or SIGINT."
    )

    @OptionGroup var options: ConfigOption

    func run() async throws {
        let config = try options.load()
        SignalActions.ignoreSIGPIPE()
        try LatchLogging.bootstrap()
        let logger = Logger(label: "latch")
        let threads = ThreadCount.resolve(config: config)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        let server = ProxyServer(config: config, group: group, logger: logger, accessLogger: Logger(label: "latch.access"))
        let service = ProxyService(server: server) { addresses in
            logger.info(
                "latch running",
                metadata: [
                    "version": "\(LatchVersion.current)",
                    "listeners": "\(addresses.map(SocketAddress.display).joined(separator: ", "))", "threads": "\(threads)",
                ])
        }
        let reloader = Reloader(server: server, path: options.path, logger: logger)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: service),
            .init(service: await SignalActions(reloader: reloader)),
        ]
        if let adminConfig = config.admin {
            do {
                let admin = try AdminServer(server: server, config: adminConfig, logger: logger, reloader: reloader)
                services.append(.init(service: AdminService(admin: admin, group: group)))
            } catch {
                printError("error: admin: \(error)")
                try? await group.shutdownGracefully()
                throw ExitCode.failure
            }
        }
        let serviceGroup = ServiceGroup(
            configuration: .init(
                services: services,
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        do {
            try await serviceGroup.run()
        } catch {
            printError("error: \(error)")
            try? await group.shutdownGracefully()
            throw ExitCode.failure
        }
        try await group.shutdownGracefully()
    }
}

enum ThreadCount {
    /// `LATCH_THREADS` overrides `threads:` in lb.yaml, which defaults to one per core.
    static func resolve(config: LatchConfig) -> Int {
        if let text = ProcessInfo.processInfo.environment["LATCH_THREADS"], let n = Int(text), n > 0 {
            return n
        }
        return config.threads ?? System.coreCount
    }
}
