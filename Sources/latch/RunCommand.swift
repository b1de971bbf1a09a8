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
        abstract: "Run the balancer with the given configuration until SIGTERM or SIGINT.",
        discussion: """
            With --take-over, a new Latch (a new binary, say) replaces the one running with the same \
            lb.yaml without refusing a connection: it receives that Latch's listening sockets over the \
            control socket (control_socket in lb.yaml), serves on them, and the old one stops accepting, \
            finishes its exchanges in flight within shutdown_grace and exits 0. With no Latch running, \
            it just starts.
            """
    )

    @OptionGroup var options: ConfigOption

    @Flag(help: "Take the listening sockets over from the Latch running with this lb.yaml (see below).")
    var takeOver = false

    func run() async throws {
        let config = try options.load()
        let executable = Upgrade.currentExecutable()
        SignalActions.ignoreSIGPIPE()
        try LatchLogging.bootstrap()
        let logger = Logger(label: "latch")
        let controlPath = config.controlSocket.path { directory in
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) && isDirectory.boolValue
        }
        let configPath = ControlService.resolvedConfigPath(options.path)
        let handover = try await takeOverIfAsked(controlPath: controlPath, configPath: configPath, config: config, logger: logger)
        let threads = ThreadCount.resolve(config: config)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        let server = ProxyServer(config: config, group: group, logger: logger, accessLogger: Logger(label: "latch.access"))
        let started = StartupBarrier(count: config.admin == nil ? 1 : 2)
        let service = ProxyService(server: server, inheriting: handover?.listeners ?? []) { addresses in
            logger.info(
                "latch running",
                metadata: [
                    "version": "\(LatchVersion.current)",
                    "listeners": "\(addresses.map(SocketAddress.display).joined(separator: ", "))", "threads": "\(threads)",
                ])
            started.arrive()
        }
        let reloader = Reloader(server: server, path: options.path, logger: logger)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: service),
            .init(service: await SignalActions(reloader: reloader, upgrade: controlPath.map { _ in Upgrade(executable: executable, configPath: configPath) })),
        ]
        var admin: AdminServer?
        if let adminConfig = config.admin {
            do {
                admin = try AdminServer(server: server, config: adminConfig, logger: logger, reloader: reloader)
                services.append(.init(service: AdminService(admin: admin!, group: group, inheriting: handover?.admin) { started.arrive() }))
            } catch {
                printError("error: admin: \(error)")
                try? await group.shutdownGracefully()
                throw ExitCode.failure
            }
        }
        if let controlPath {
            // Its run() returns once this Latch has handed over to a new one: the group then shuts
            // down gracefully, as on SIGTERM.
            let control = ControlService(
                path: controlPath, configPath: configPath, server: server, admin: admin, handover: handover, started: started, logger: logger)
            services.append(.init(service: control, successTerminationBehavior: .gracefullyShutdownGroup))
        } else {
            logger.info("no control socket (control_socket is false, or /run/latch does not exist): `latch run --take-over` cannot take this Latch over")
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

    /// With `--take-over`, the running Latch's sockets (`nil`: none runs, start afresh).
    private func takeOverIfAsked(controlPath: String?, configPath: String, config: LatchConfig, logger: Logger) async throws -> TakeOverClient? {
        guard takeOver else { return nil }
        guard let controlPath else {
            if case .off = config.controlSocket {
                printError("error: --take-over: control_socket is false in \(options.path), so no running Latch offers its sockets; remove the key or set a path")
                throw ExitCode(2)
            }
            logger.notice("--take-over: no control socket directory (\(ControlSocketConfig.standardPath)), so no Latch to take over; starting afresh")
            return nil
        }
        do {
            guard let client = try await TakeOverClient.request(path: controlPath, configPath: configPath, config: config) else {
                logger.notice("--take-over: no Latch answers on \(controlPath); starting afresh")
                return nil
            }
            logger.notice("--take-over: received the listening sockets", metadata: ["previous_pid": "\(client.oldPID)"])
            return client
        } catch {
            printError("error: --take-over: \(error.description); the running Latch carries on")
            throw ExitCode.failure
        }
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
