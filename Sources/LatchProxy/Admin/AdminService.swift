import Logging
import NIOCore
import ServiceLifecycle

/// Runs an ``AdminServer`` under swift-service-lifecycle beside the proxy.
public struct AdminService: Service {
    public let admin: AdminServer
    private let group: any EventLoopGroup
    private let inherited: NIOBSDSocket.Handle?
    private let onStarted: @Sendable () -> Void

    /// - Parameter inheriting: the listening socket taken over from the Latch this one replaces.
    public init(admin: AdminServer, group: any EventLoopGroup, inheriting inherited: NIOBSDSocket.Handle? = nil, onStarted: @escaping @Sendable () -> Void = {}) {
        self.admin = admin
        self.group = group
        self.inherited = inherited
        self.onStarted = onStarted
    }

    public func run() async throws {
        try await admin.start(group: group, inheriting: inherited)
        onStarted()
        try? await gracefulShutdown()
        await admin.stop()
    }
}
