import Logging
import NIOCore
import ServiceLifecycle

/// Runs an ``AdminServer`` under swift-service-lifecycle beside the proxy.
public struct AdminService: Service {
    public let admin: AdminServer
    private let group: any EventLoopGroup

    public init(admin: AdminServer, group: any EventLoopGroup) {
        self.admin = admin
        self.group = group
    }

    public func run() async throws {
        try await admin.start(group: group)
        try? await gracefulShutdown()
        await admin.stop()
    }
}
